"""Turns a card dict into the activity that carries it."""

from typing import Any

from botbuilder.core import CardFactory, MessageFactory
from botbuilder.schema import Activity


def card_activity(card: dict[str, Any]) -> Activity:
    return MessageFactory.attachment(CardFactory.adaptive_card(card))
