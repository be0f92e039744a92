"""The job that finds further reflections fallen due and puts their cards on the desk.

A session's further reflection falls due at the start of the working day its model's
question months on is asked (bot.core.months_on.follow_up_day). That day moves only once a
day, so the job looks once a day (and once after each start), not on every tick: it reads
only the sessions that ended in the days that can fall due now, with a month's margin for an
outage, and skips those that already have a row. With several instances each looks, and the
row's primary key lets one of them create it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from bot.core.months_on import follow_up_day, months_on
from bot.core.protocols import Feedback, Protocol
from bot.core.working_days import WorkingCalendar
from bot.further_reflection.store import FurtherStore

log = logging.getLogger(__name__)

# Sessions are looked at for this long after they fell due: a day missed to an outage (or
# to a fault in one session's data) is caught up within it.
CATCH_UP = timedelta(days=31)
# Months on fall on the same day of the month, or on the month's last day when it is shorter
# (30 November + 3 months is 28 February): a few days of sessions share one due day.
SHORT_MONTHS = timedelta(days=4)


def months_asked(protocols: Iterable[Protocol]) -> frozenset[int]:
    """The months on at which the models ask for a further reflection, and the default (a
    session keeps the model as it started: a file changed since still has sessions due)."""
    months = {Feedback().follow_up_months}
    months.update(p.feedback.follow_up_months for p in protocols if p.feedback.further_reflection)
    return frozenset(m for m in months if m > 0)


@dataclass
class DueReflections:
    store: FurtherStore
    calendar: WorkingCalendar
    opens: time  # the working day's start, local: when a day's further reflections fall due
    months: frozenset[int]
    _next: datetime | None = field(default=None, init=False)

    async def __call__(self, now: datetime) -> datetime | None:
        if not self.months:
            return None
        if self._next is not None and now < self._next:
            return self._next  # a wake-up for other work is no reason to look again
        today = self._due_day(now)
        start, end = self._window(today)
        created = 0
        for found in await self.store.ended_between(start, end):
            feedback = Feedback.of_session(found.protocol)
            if not feedback.further_reflection or feedback.follow_up_months == 0:
                continue
            due_on = follow_up_day(found.ended_at, feedback.follow_up_months, self.calendar)
            if due_on > today:
                continue
            if await self.store.create(found.id, found.tenant_id, found.referral_id, due_on):
                created += 1
        if created:
            log.info("%d further reflection(s) fell due: their cards go to the desk", created)
        self._next = self._opening(today + timedelta(days=1))
        return self._next

    def _due_day(self, now: datetime) -> date:
        """The latest day whose working day has started."""
        local = self.calendar.local(now)
        return local.date() if local.time() >= self.opens else local.date() - timedelta(days=1)

    def _window(self, today: date) -> tuple[datetime, datetime]:
        """The ends (UTC) of the sessions that can be due today, for every months asked."""
        earliest = months_on(today, -max(self.months)) - CATCH_UP
        latest = months_on(today, -min(self.months)) + SHORT_MONTHS
        return self._midnight(earliest), self._midnight(latest + timedelta(days=1))

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.calendar.zone).astimezone(UTC)

    def _opening(self, day: date) -> datetime:
        return datetime.combine(day, self.opens, self.calendar.zone).astimezone(UTC)
