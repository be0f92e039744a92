"""The period a report covers: calendar months, quarters and years, or two dates, read from
what an admin typed after `report` (lower-cased by the command reader)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A longer period would be slow to count and too long to read; the CLI allows the same.
LONGEST = timedelta(days=3 * 366)
EARLIEST = date(2000, 1, 1)  # a typo such as 0202-01 is refused, not counted for centuries

FORMS = (
    "**report** (this quarter), **report month**, **report quarter**, **report year**, "
    "**report 2026-10** (a month), **report 2026-Q3** (a quarter), **report 2026** (a year), "
    "or **report 2026-01-01 to 2026-03-31** (two dates, both included)"
)
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
# "to", "-" or ".." between the dates; or only a space (the command reader turns ".." into one)
_DATES = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\s+|\s*(?:to|-|\.\.)\s*)(\d{4}-\d{2}-\d{2})$")


class PeriodError(ValueError):
    """Not a period the report understands; the message says what is accepted."""


@dataclass(frozen=True)
class Period:
    """From `first` to `last`, both days included, in the partnership's time zone."""

    first: date
    last: date
    name: str = ""  # "Q4 2026", "October 2026", "2026"; empty for two dates

    def start(self, zone: ZoneInfo) -> datetime:
        return datetime.combine(self.first, time(), zone)

    def end(self, zone: ZoneInfo) -> datetime:
        """The first moment after the period (local midnight after its last day)."""
        return datetime.combine(self.last + timedelta(days=1), time(), zone)

    def token(self) -> str:
        """How a button carries it: "2026-10-01..2026-12-31"."""
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    def words(self) -> str:
        """ "Q4 2026: 1 October to 31 December 2026", for people."""
        span = f"{_day(self.first, self.first.year != self.last.year)} to {_day(self.last, True)}"
        return f"{self.name}: {span}" if self.name else span

    def months(self) -> list[date]:
        """The first day of every month the period touches, in order."""
        month = self.first.replace(day=1)
        found = []
        while month <= self.last:
            found.append(month)
            month = _next_month(month)
        return found

    @classmethod
    def from_token(cls, token: str) -> Period:
        """A button's period, checked like a typed one."""
        first, _, last = token.partition("..")
        return _dates(first, last)


def parse_period(text: str, today: date) -> Period:
    """The period named by `text` (what follows `report`); empty means this quarter."""
    words = " ".join(text.strip().lower().split())
    if words in ("", "quarter", "this quarter"):
        return quarter(today.year, (today.month - 1) // 3 + 1)
    if words in ("month", "this month"):
        return month(today.year, today.month)
    if words in ("year", "this year"):
        return year(today.year)
    if found := _QUARTER.match(words):
        return quarter(_year_of(found.group(1)), int(found.group(2)))
    if found := _MONTH.match(words):
        number = int(found.group(2))
        if not 1 <= number <= 12:
            raise PeriodError(f"There is no month {number}. I can show {FORMS}.")
        return month(_year_of(found.group(1)), number)
    if found := _YEAR.match(words):
        return year(_year_of(found.group(1)))
    if found := _DATES.match(words):
        return _dates(found.group(1), found.group(2))
    raise PeriodError(f"I did not recognise that period. I can show {FORMS}.")


def month(year_number: int, number: int) -> Period:
    first = date(year_number, number, 1)
    return Period(first, _next_month(first) - timedelta(days=1), f"{first:%B} {year_number}")


def quarter(year_number: int, number: int) -> Period:
    first = date(year_number, 3 * number - 2, 1)
    last = month(year_number, 3 * number).last
    return Period(first, last, f"Q{number} {year_number}")


def year(year_number: int) -> Period:
    return Period(date(year_number, 1, 1), date(year_number, 12, 31), str(year_number))


def _dates(first_text: str, last_text: str) -> Period:
    try:
        first, last = date.fromisoformat(first_text), date.fromisoformat(last_text)
    except ValueError:
        raise PeriodError(
            f"Those are not dates I can read: write them as 2026-01-31. I can show {FORMS}."
        ) from None
    if first < EARLIEST or last < EARLIEST:
        raise PeriodError(f"I count from {EARLIEST.year} onwards. I can show {FORMS}.")
    if last < first:
        raise PeriodError("The period ends before it starts: put the earlier date first.")
    if last - first >= LONGEST:
        raise PeriodError("That period is over 3 years: please ask for 3 years or less.")
    return _named(Period(first, last))


def _named(period: Period) -> Period:
    """Two dates that are a whole month, quarter or year are named as one (a button's period)."""
    first = period.first
    candidates = [month(first.year, first.month), year(first.year)]
    if (first.month - 1) % 3 == 0:
        candidates.append(quarter(first.year, (first.month - 1) // 3 + 1))
    return next((c for c in candidates if (c.first, c.last) == (first, period.last)), period)


def _year_of(text: str) -> int:
    number = int(text)
    if number < EARLIEST.year:
        raise PeriodError(f"I count from {EARLIEST.year} onwards. I can show {FORMS}.")
    return number


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _day(day: date, with_year: bool) -> str:
    return f"{day.day} {day:%B}" + (f" {day.year}" if with_year else "")
