"""Answers to a Universal Action (`Action.Execute`): a card, or a short message."""

from __future__ import annotations

from typing import Any

from botbuilder.schema import AdaptiveCardInvokeResponse


class _MessageResponse(AdaptiveCardInvokeResponse):
    # botbuilder types `value` as a dict, but a message response's value is a string.
    _attribute_map = {
        **AdaptiveCardInvokeResponse._attribute_map,
        "value": {"key": "value", "type": "str"},
    }


def card_response(card: dict[str, Any]) -> AdaptiveCardInvokeResponse:
    """The person who pressed sees this card in place of the one they pressed on."""
    return AdaptiveCardInvokeResponse(
        status_code=200, type="application/vnd.microsoft.card.adaptive", value=card
    )


def message_response(text: str) -> AdaptiveCardInvokeResponse:
    """Teams shows this text to the person who pressed; the card stays as it was."""
    return _MessageResponse(
        status_code=200, type="application/vnd.microsoft.activity.message", value=text
    )
