"""Sample report cards for the gallery (see tests.support.gallery): a quarter with figures,
feedback with withheld cells among them, and a period with nothing in it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.core.working_days import WorkingCalendar
from bot.reports.figures import Figures, Measure, ModelFeedback, Rate, Spread, Tally
from bot.reports.period import quarter
from cards.reports import report_card

NOW = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)
CALENDAR = WorkingCalendar()
Q4 = quarter(2026, 4)

SAMPLE = Figures(
    period=Q4,
    received=14,
    by_month=[Tally("Oct 2026", 5), Tally("Nov 2026", 6), Tally("Dec 2026", 3)],
    by_kind=[
        Tally("A child or family", 9),
        Tally("A challenge or communication difficulty in the network", 3),
        Tally("A theme", 2),
    ],
    by_model=[Tally("Space to Think", 7), Tally("Think Space", 4), Tally("Re-think", 3)],
    by_agency=[
        Tally("Oak School", 4),
        Tally("Health Visiting", 3),
        Tally("Children's Social Care", 3),
        Tally("Police", 2),
        Tally("CAMHS", 1),
        Tally("Youth Service", 1),
    ],
    to_decision=Spread(12, 2.5, 6.0),
    to_session=Spread(8, 18.0, 31.5),
    sessions=6,
    sessions_by_model=[Tally("Space to Think", 3), Tally("Think Space", 2), Tally("Re-think", 1)],
    attendance=31,
    attendance_by_agency=[
        Tally("Children's Social Care", 9),
        Tally("Health Visiting", 7),
        Tally("Oak School", 6),
        Tally("Police", 4),
        Tally("Not given", 5),
    ],
    feedback=[
        ModelFeedback(
            "Space to Think",
            9,
            [
                Measure("How the session felt", 9, 4.3),
                Measure("Did the session feel a blame-free, safe and supportive space?", 9, 4.6),
                Measure("Are you clearer about your next steps?", 8, 3.9),
            ],
        ),
        ModelFeedback(
            "Re-think",
            2,
            [
                Measure("How the session felt", 2, None),
                Measure("Has it improved communication in the professional network?", 2, None),
            ],
        ),
    ],
    follow_up=Rate(asked=11, answered=7, value=7 / 11),
    follow_up_feedback=[
        ModelFeedback(
            "Think Space",
            4,
            [
                Measure("How much it changed their practice", 4, 3.8),
                Measure(
                    "Have you carried out the actions you made with your supervisor after the "
                    "session?",
                    4,
                    0.75,
                    share=True,
                ),
            ],
        ),
        ModelFeedback(
            "Space to Think",
            3,
            [
                Measure("How much it changed their practice", 3, 3.3),
                Measure("What difference did it make for the child or family?", 2, None),
            ],
        ),
    ],
    declined=2,
    withdrawn=1,
)
EMPTY = Figures(
    period=quarter(2026, 1),
    received=0,
    by_month=[Tally("Jan 2026", 0), Tally("Feb 2026", 0), Tally("Mar 2026", 0)],
    by_kind=[],
    by_model=[],
    by_agency=[],
    to_decision=Spread(0, None, None),
    to_session=Spread(0, None, None),
    sessions=0,
    sessions_by_model=[],
    attendance=0,
    attendance_by_agency=[],
    feedback=[],
    follow_up=Rate(asked=2, answered=1, value=None),
    follow_up_feedback=[],
    declined=0,
    withdrawn=0,
)


def report_gallery() -> dict[str, Callable[[], dict[str, Any]]]:
    return {
        "report": lambda: report_card(SAMPLE, CALENDAR, NOW),
        "report-empty": lambda: report_card(EMPTY, CALENDAR, NOW),
    }
