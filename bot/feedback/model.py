"""What the feedback feature shares with the report and the further reflection: the two
rounds of questions, and the day each falls due."""

from __future__ import annotations

import calendar as months
from datetime import date, datetime, time
from enum import StrEnum

from bot.core.working_days import WorkingCalendar

# The hour of the working day the question three months on is asked: a morning, not
# the minute the session ended three months before.
FOLLOW_UP_HOUR = time(10, 0)


class Round(StrEnum):
    """Which questions: right after the session, or months on (stored in FeedbackResponse)."""

    AFTER = "after"
    FOLLOW_UP = "follow_up"


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
