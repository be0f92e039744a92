"""Sample feedback cards for the gallery (see tests.support.gallery)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.core.protocols import BUILT_IN, load_protocols
from bot.feedback.handler import ALREADY
from bot.feedback.model import Round
from bot.feedback.views import FeedbackSession
from cards.feedback import feedback_card, feedback_done_card

PEOPLE = ["29:1a2b3c", "29:4d5e6f", "29:7g8h9i"]


def sample_session(model: str = "think_space", **changes: Any) -> FeedbackSession:
    protocol = load_protocols([BUILT_IN])[model]
    values: dict[str, Any] = {
        "id": 7,
        "reference": "S-2026-0007",
        "tenant_id": "t",
        "referral_id": 1,
        "model": protocol.id,
        "name": protocol.name,
        "conversation_id": "19:meeting@thread.v2",
        "conversation_reference": {},
        "no_notes": False,
        "feedback": protocol.feedback,
        "over": True,
        "follow_up_asked": True,
    }
    values.update(changes)
    return FeedbackSession(**values)


def feedback_gallery() -> dict[str, Callable[[], dict[str, Any]]]:
    after = sample_session().form(Round.AFTER)
    months_on = sample_session().form(Round.FOLLOW_UP)
    no_notes = sample_session("re_think", no_notes=True).form(Round.AFTER)
    return {
        "feedback-after": lambda: feedback_card(after, PEOPLE),
        "feedback-after-reminder": lambda: feedback_card(after, PEOPLE, reminder=True),
        "feedback-after-no-notes": lambda: feedback_card(no_notes, PEOPLE),
        "feedback-space-to-think": lambda: feedback_card(
            sample_session("space_to_think").form(Round.AFTER), PEOPLE
        ),
        "feedback-months-on": lambda: feedback_card(months_on, PEOPLE),
        "feedback-done": lambda: feedback_done_card(after, PEOPLE[:1]),
        "feedback-done-already": lambda: feedback_done_card(months_on, PEOPLE[:1], ALREADY),
    }
