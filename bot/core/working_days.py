"""Working days in England and Wales: weekdays that are not bank holidays, in local time.

"Not triaged within two working days" means: two working days after it arrived, at the same
local time, moved into working hours. A referral that arrives on a Saturday starts counting
at the opening of the next working day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays


class WorkingCalendar:
    def __init__(
        self,
        time_zone: str = "Europe/London",
        start_hour: int = 9,
        end_hour: int = 17,
        extra_holidays: Iterable[date] = (),
    ) -> None:
        self.zone = ZoneInfo(time_zone)
        self._opens = time(start_hour)
        self._closes = time(end_hour) if end_hour < 24 else time.max
        # England and Wales share their bank holidays; `holidays` includes the one-off ones.
        self._holidays = holidays.country_holidays("GB", subdiv="ENG")
        self._extra = set(extra_holidays)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._holidays and day not in self._extra

    def next_working_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def previous_working_day(self, day: date) -> date:
        day -= timedelta(days=1)
        while not self.is_working_day(day):
            day -= timedelta(days=1)
        return day

    def add_working_days(self, moment: datetime, days: int) -> datetime:
        """`days` working days after `moment`, inside working hours; returned in UTC."""
        local = self._into_working_hours(self.local(moment))
        day = local.date()
        for _ in range(days):
            day = self.next_working_day(day)
        # Built from the wall-clock time, so a change to or from summer time keeps 09:30 09:30.
        due = datetime.combine(day, local.time().replace(tzinfo=None), self.zone)
        return due.astimezone(UTC)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Whole working days from `start`'s day to `end`'s day (0 on the same day)."""
        first = self.local(start).date()
        last = self.local(end).date()
        count = 0
        day = first
        while day < last:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count

    def local(self, moment: datetime) -> datetime:
        # A naive moment is taken as UTC, as everything the bot stores is.
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.zone)

    def _into_working_hours(self, local: datetime) -> datetime:
        """The same moment if it is in working hours; else the next opening time."""
        day = local.date()
        if self.is_working_day(day) and self._opens <= local.time() < self._closes:
            return local
        if self.is_working_day(day) and local.time() < self._opens:
            return datetime.combine(day, self._opens, self.zone)
        return datetime.combine(self.next_working_day(day), self._opens, self.zone)
