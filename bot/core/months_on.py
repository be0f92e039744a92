"""Months on from a session: the working day a question "three months on" is asked.

In core, not in the feedback feature: the sessions store sets when it falls due as a session
ends, and the feedback and the further reflection read it, so neither imports the other.
"""

from __future__ import annotations

import calendar as months
from datetime import date, datetime, time

from bot.core.working_days import WorkingCalendar

# The hour of the working day the question months on is asked: a morning, not the minute
# the session ended months before.
FOLLOW_UP_HOUR = time(10, 0)


def months_on(day: date, months_later: int) -> date:
    """The same day of the month `months_later` months on (the month's last day if shorter)."""
    month_index = day.month - 1 + months_later
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, months.monthrange(year, month)[1]))


def follow_up_day(ended_at: datetime, months_later: int, calendar: WorkingCalendar) -> date:
    """The working day the question months on is asked: that day, or the next working day."""
    day = months_on(calendar.local(ended_at).date(), months_later)
    return day if calendar.is_working_day(day) else calendar.next_working_day(day)


def follow_up_moment(ended_at: datetime, months_later: int, calendar: WorkingCalendar) -> datetime:
    """When the question months on is asked: FOLLOW_UP_HOUR on its working day, local time."""
    day = follow_up_day(ended_at, months_later, calendar)
    return datetime.combine(day, FOLLOW_UP_HOUR, calendar.zone)
