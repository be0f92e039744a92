"""The period a report covers: calendar months, quarters and years, or two dates, read from
what an admin typed after `report` (lower-cased by the command reader)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A longer period would be slow to count and too long to read; the CLI allows the same.
LONGEST = timedelta(days=3 * 366)
EARLIEST = date(2000, 1, 1)  # a typo such as 0202-01 is refused, not counted for centuries

FORMS = (
    "**report** (this quarter), **report month**, **report quarter**, **report year**, "
    "**report last quarter** (or last month, last year), **report 2026-10** or "
    "**report October 2026** (a month), **report 2026-Q3** (a quarter), **report 2026** (a "
    "year), or **report 2026-01-01 to 2026-03-31** (two dates, both included; 01/01/2026 "
    "works too)"
)
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_MONTH_NAMED = re.compile(r"^([a-z]+),? (\d{4})$")
_QUARTER = re.compile(r"^(?:(\d{4})[- ]?q([1-4])|q([1-4])[- ]?(\d{4}))$")
_YEAR = re.compile(r"^(\d{4})$")
_DATE = r"(\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4})"  # ISO, or day/month/year as in the UK
# "to", "-" or ".." between the dates; or only a space (the command reader turns ".." into one)
_DATES = re.compile(rf"^(?:from\s+)?{_DATE}(?:\s+|\s*(?:to|-|\.\.)\s*){_DATE}$")
# "january", "jan", "sept": month names and their usual short forms, in English.
_MONTH_NAMES = {
    **{name.lower(): number for number, name in enumerate(calendar.month_name) if name},
    **{name.lower(): number for number, name in enumerate(calendar.month_abbr) if name},
    "sept": 9,
}


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
    """The period named by `text` (what follows `report`); empty means this quarter. A period
    that starts after today is refused: there is nothing to count yet."""
    period = _period(" ".join(text.strip().lower().split()), today)
    if period.first > today:
        raise PeriodError(
            f"{period.words()} has not started yet, so there is nothing to count. "
            f"I can show {FORMS}."
        )
    return period


def _period(words: str, today: date) -> Period:
    this_quarter = quarter(today.year, (today.month - 1) // 3 + 1)
    relative = {
        "": this_quarter,
        "quarter": this_quarter,
        "this quarter": this_quarter,
        "month": month(today.year, today.month),
        "this month": month(today.year, today.month),
        "year": year(today.year),
        "this year": year(today.year),
    }
    if words in relative:
        return relative[words]
    day_before = this_quarter.first - timedelta(days=1)
    earlier = {
        "last quarter": quarter(day_before.year, (day_before.month - 1) // 3 + 1),
        "last month": month(*_month_before(today)),
        "last year": year(today.year - 1),
    }
    if words in earlier:
        return earlier[words]
    if found := _QUARTER.match(words):
        year_text, number = found.group(1) or found.group(4), found.group(2) or found.group(3)
        return quarter(_year_of(year_text), int(number))
    if found := _MONTH.match(words):
        number = int(found.group(2))
        if not 1 <= number <= 12:
            raise PeriodError(f"There is no month {number}. I can show {FORMS}.")
        return month(_year_of(found.group(1)), number)
    if (found := _MONTH_NAMED.match(words)) and found.group(1) in _MONTH_NAMES:
        return month(_year_of(found.group(2)), _MONTH_NAMES[found.group(1)])
    if found := _YEAR.match(words):
        return year(_year_of(found.group(1)))
    if found := _DATES.match(words):
        return _dates(found.group(1), found.group(2))
    raise PeriodError(f"I did not recognise that period. I can show {FORMS}.")


def _month_before(today: date) -> tuple[int, int]:
    day = today.replace(day=1) - timedelta(days=1)
    return day.year, day.month


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
        first, last = _date_of(first_text), _date_of(last_text)
    except ValueError:
        raise PeriodError(
            f"Those are not dates I can read: write them as 2026-01-31 or 31/01/2026. "
            f"I can show {FORMS}."
        ) from None
    if first < EARLIEST or last < EARLIEST:
        raise PeriodError(f"I count from {EARLIEST.year} onwards. I can show {FORMS}.")
    if last < first:
        raise PeriodError("The period ends before it starts: put the earlier date first.")
    if last - first >= LONGEST:
        raise PeriodError("That period is over 3 years: please ask for 3 years or less.")
    return _named(Period(first, last))


def _date_of(text: str) -> date:
    """2026-01-31, or 31/01/2026 (day first, as people write dates in England)."""
    if "/" in text:
        day, month_number, year_number = (int(part) for part in text.split("/"))
        return date(year_number, month_number, day)
    return date.fromisoformat(text)


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
