"""Sample further reflection cards for the gallery (see tests.support.gallery)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from bot.core.working_days import WorkingCalendar
from bot.further_reflection.view import RULES, FurtherView, State
from cards.further_reflection import further_reflection_card
from cards.verbs import FurtherVerb

CALENDAR = WorkingCalendar()
WAITING = FurtherView(
    session_id=7,
    tenant_id="t",
    reference="RP-2026-0003",
    model="Think Space",
    held_at=datetime(2026, 11, 24, 13, 0, tzinfo=UTC),
    months=3,
    participants=5,
    due_on=date(2027, 2, 24),
    state=State.WAITING,
    version=0,
    invitable=4,
)
DECIDED = replace(
    WAITING,
    version=1,
    decided_by_name="Alex Admin",
    decided_at=datetime(2027, 2, 24, 10, 5, tzinfo=UTC),
    session_at=datetime(2027, 3, 9, 13, 0, tzinfo=UTC),
)
BOOKED = replace(
    DECIDED,
    state=State.BOOKED,
    join_url="https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0",
    in_outlook=True,
)
GRAPH_SAID = (
    "Graph refused to create the meeting. Grant the application permission "
    "Calendars.ReadWrite with admin consent (Graph: 403 ErrorAccessDenied: Access is denied.)"
)


def further_gallery() -> dict[str, Callable[[], dict[str, Any]]]:
    def card(view: FurtherView, graph: bool = True, **kwargs: Any) -> Callable[[], dict[str, Any]]:
        return lambda: further_reflection_card(view, CALENDAR, graph=graph, **kwargs)

    return {
        "further-reflection-waiting": card(WAITING),
        "further-reflection-without-graph": card(WAITING, graph=False),
        "further-reflection-nobody-to-invite": card(
            replace(WAITING, reference="S-2026-0007", invitable=0)
        ),
        "further-reflection-booking": card(
            replace(DECIDED, state=State.BOOKING),
            notice=RULES[FurtherVerb.BOOK].done,
            notice_style="good",
        ),
        "further-reflection-failed": card(replace(DECIDED, state=State.FAILED, problem=GRAPH_SAID)),
        "further-reflection-booked": card(BOOKED),
        "further-reflection-booked-by-hand": card(replace(BOOKED, in_outlook=False)),
        "further-reflection-not-needed": card(
            replace(DECIDED, state=State.NOT_NEEDED, session_at=None)
        ),
        "further-reflection-moved-on": card(
            BOOKED,
            notice="This further reflection has moved on by Alex Admin on 24 Feb 2027 10:05. "
            "Nothing was changed by your press; here is the card as it is now.",
        ),
    }
