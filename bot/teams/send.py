"""Turns a card dict into the activity that carries it."""

from typing import Any

from botbuilder.core import CardFactory, MessageFactory
from botbuilder.schema import Activity

from bot.teams.wire import to_wire


def card_activity(card: dict[str, Any]) -> Activity:
    return MessageFactory.attachment(CardFactory.adaptive_card(card))


def card_message(card: dict[str, Any]) -> dict[str, Any]:
    """The activity carrying `card`, as JSON: what the outbox stores and later sends."""
    message: dict[str, Any] = to_wire(card_activity(card))
    return message


def text_message(text: str) -> dict[str, Any]:
    """A plain text message, as JSON: what the outbox stores and later sends."""
    message: dict[str, Any] = to_wire(MessageFactory.text(text))
    return message
