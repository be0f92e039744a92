"""Pressing buttons with data no card would send, and what counts as a polite answer."""

from __future__ import annotations

import math
from typing import Any

from tests.support.card_schema import card_errors
from tests.support.client import TeamsUser, cards_in, texts_in

CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"
SORRY = "Sorry, something went wrong"


def refused_by_the_envelope(value: Any) -> bool:
    """Whether the activity envelope check (bot.teams.envelope) may answer 400 for this card
    data: NaN and Infinity are not JSON. A lone surrogate in what people typed passes it, to
    be refused by the handlers, naming the box; whatever it lets through, they must refuse
    politely."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(map(refused_by_the_envelope, [*value.keys(), *value.values()]))
    if isinstance(value, list):
        return any(map(refused_by_the_envelope, value))
    return False


def assert_polite_invoke(user: TeamsUser, body: Any, data: dict[str, Any]) -> None:
    """Answered 200 with a valid card or a short message (or, for data that is not JSON, a 400
    before any turn): never a 5xx or a 501."""
    status = user.last_status
    assert status < 500, (status, body)
    if status == 400:
        assert refused_by_the_envelope(data), (status, body)
        return
    assert status == 200, (status, body)
    assert isinstance(body, dict), body
    if body.get("type") == CARD:
        assert card_errors(body["value"]) == []
    else:
        assert body.get("type") == MESSAGE, body
        assert body["value"] and SORRY not in body["value"], body


def assert_polite_reply(user: TeamsUser, sent: list[dict[str, Any]], data: dict[str, Any]) -> None:
    """A message (an Action.Submit) was answered with a card or a line, never the apology."""
    status = user.last_status
    assert status < 500, status
    if status == 400:
        assert refused_by_the_envelope(data), status
        return
    assert status in (200, 201), status
    assert sent, "no reply"
    assert not any(SORRY in text for text in texts_in(sent)), texts_in(sent)
    for card in cards_in(sent):
        assert card_errors(card) == []
