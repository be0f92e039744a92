"""What the feedback feature shares with the report: the two rounds of questions. (When the
round months on falls due is bot.core.months_on.)"""

from __future__ import annotations

from enum import StrEnum


class Round(StrEnum):
    """Which questions: right after the session, or months on (stored in FeedbackResponse)."""

    AFTER = "after"
    FOLLOW_UP = "follow_up"
