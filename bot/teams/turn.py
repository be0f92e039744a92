"""The seam between the features and botbuilder: what a feature may know of a turn.

Features name `Turn` and `InvokeReply` from here and never import botbuilder themselves,
so a move to the Microsoft 365 Agents SDK (whose TurnContext keeps `activity` and
`send_activity`) changes this package and `dialogs/`, not the features.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from botbuilder.core import TurnContext
from botbuilder.schema import AdaptiveCardInvokeResponse, AdaptiveCardInvokeValue

from bot.teams.send import card_activity

Turn: TypeAlias = TurnContext
InvokeReply: TypeAlias = AdaptiveCardInvokeResponse


@dataclass(frozen=True)
class CardPress:
    """An `Action.Execute` press: its verb and its data (the card's inputs included)."""

    verb: str
    data: dict[str, Any]

    def fields(self) -> dict[str, str]:
        """The data's plain values as text; nested or stray values are dropped, not trusted."""
        return {
            key: str(value).strip()
            for key, value in self.data.items()
            if isinstance(value, str | int | float | bool)
        }


def card_press_of(invoke: AdaptiveCardInvokeValue) -> CardPress:
    # In 4.17.1 the action can arrive as a plain dict rather than the model.
    action = invoke.action if isinstance(invoke.action, dict) else {}
    data = action.get("data")
    return CardPress(str(action.get("verb", "")), data if isinstance(data, dict) else {})


# What a feature gives for each card verb it handles, and for each typed command.
CardAction = Callable[[Turn, CardPress], Awaitable[InvokeReply]]
Command = Callable[[Turn], Awaitable[None]]
ArgumentCommand = Callable[[Turn, str], Awaitable[None]]


async def send_card(turn: Turn, card: dict[str, Any]) -> None:
    await turn.send_activity(card_activity(card))


def conversation_type(turn: Turn) -> str:
    return str(turn.activity.conversation.conversation_type or "")


def is_personal(turn: Turn) -> bool:
    # Strict: case details only ever go to a chat Teams calls personal.
    return conversation_type(turn) == "personal"


def submitted_value(turn: Turn) -> dict[str, Any]:
    """An `Action.Submit`'s data, or an empty dict for anything else."""
    value = turn.activity.value
    return value if isinstance(value, dict) else {}


def top_level_conversation(turn: Turn) -> str:
    """The channel itself, not the thread the command was typed in, so cards are new posts."""
    activity = turn.activity
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    channel = channel_data.get("channel")
    if isinstance(channel, dict) and channel.get("id"):
        return str(channel["id"])
    return str(activity.conversation.id).split(";messageid=")[0]
