"""What the user sees, and what is logged, when a turn fails."""

from __future__ import annotations

import logging

from botbuilder.core import TurnContext
from botbuilder.schema import ActivityTypes

from bot.core.outage import is_database_outage
from bot.teams.proactive_flag import is_proactive
from bot.teams.storage import ETagConflictError

log = logging.getLogger(__name__)

SORRY = (
    "Sorry, something went wrong on our side. What you have entered so far is kept: "
    "please try again in a moment."
)


class TryAgainLater(Exception):
    """Not the caller's fault and soon over (a database outage, say): the request is
    answered 503 with Retry-After, so Teams sends the same activity again."""

    def __init__(self, reason: str, retry_after_seconds: int = 5) -> None:
        super().__init__(reason)
        self.retry_after_seconds = retry_after_seconds


BUSY = "That arrived twice at once, so I acted on it once. Please carry on from the latest card."


async def on_turn_error(context: TurnContext, error: Exception) -> None:
    if is_proactive():
        # The bot's own message failed: the outbox that sent it decides whether to retry.
        raise error
    if isinstance(error, TryAgainLater):
        raise error
    if is_database_outage(error):
        # Nothing of the turn was saved (state is saved at its end): Teams' retry redoes it.
        log.warning(
            "database unavailable; asked Teams to retry activity %s (%s)",
            context.activity.id,
            type(error).__name__,
        )
        raise TryAgainLater("the database is unavailable") from error
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
