"""Answered cards settle: the card whose button was pressed is replaced, in place, by a compact
record of the answer with no buttons, so the chat reads as a conversation and an old button
cannot be pressed again.

Teams gives an Action.Submit's activity the id of the message that carried the card as
`replyToId`; an Action.Execute needs none of this (its invoke response replaces the card).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import ClientError
from botbuilder.core import TurnContext

from bot.teams.connector import ConnectorError
from bot.teams.send import card_activity

log = logging.getLogger(__name__)


async def settle(
    turn_context: TurnContext, card: dict[str, Any], card_id: str | None = None
) -> bool:
    """Replaces the pressed card (or the one the bot sent as `card_id`: another copy of the
    same question, or one answered by typing) with `card`; whether it could. A card that
    cannot be settled (too old, deleted, a client that sends no replyToId) is no reason to
    fail the turn."""
    card_id = card_id or turn_context.activity.reply_to_id
    if not card_id:
        return False
    replacement = card_activity(card)
    replacement.id = card_id
    try:
        await turn_context.update_activity(replacement)
    except (ConnectorError, ClientError, TimeoutError) as error:
        log.warning("could not settle an answered card: %s", type(error).__name__)
        return False
    return True
