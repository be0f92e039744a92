"""What the user sees, and what is logged, when a turn fails."""

from __future__ import annotations

import logging

from botbuilder.core import TurnContext
from botbuilder.schema import ActivityTypes

from bot.teams.proactive_flag import is_proactive
from bot.teams.storage import ETagConflictError

log = logging.getLogger(__name__)

SORRY = (
    "Sorry, something went wrong on our side. What you have entered so far is kept: "
    "please try again in a moment."
)
BUSY = "That arrived twice at once, so I acted on it once. Please carry on from the latest card."


async def on_turn_error(context: TurnContext, error: Exception) -> None:
    if is_proactive():
        # The bot's own message failed: the outbox that sent it decides whether to retry.
        raise error
    # Activity ids only: message text may hold case details and never goes to the log.
    if isinstance(error, ETagConflictError):
        log.info(
            "concurrent turn on conversation %s lost the race", context.activity.conversation.id
        )
        message = BUSY
    else:
        log.error(
            "turn failed: activity %s type %s",
            context.activity.id,
            context.activity.type,
            exc_info=error,
        )
        message = SORRY
    if context.activity.type == ActivityTypes.message:
        try:
            await context.send_activity(message)
        except Exception:  # noqa: BLE001 - the connector may be what failed
            log.exception("could not tell the user about the failure")
