"""The outbox's plain deliveries (a message to a conversation, or 1:1 to a person, who may
not have the app yet), and the post-or-update step that features use for cards they keep up
to date in place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.core.outbox import Delivery, OutboxWriter, RetryLater, SendFailed, triage_card
from bot.teams.connector import ConnectorError
from bot.teams.proactive import Proactive

# Teams opens a 1:1 chat only with someone who has the app (403 otherwise). Asked to add
# it, they may do so within the hour or the next day: the waits before each try again.
UNREACHABLE_RETRIES = (
    timedelta(minutes=5),
    timedelta(hours=1),
    timedelta(hours=4),
    timedelta(hours=24),
)
# The outbox keeps this as the message's last error: bot.triage.reach reads it.
CANNOT_REACH = "403: cannot reach the person in Teams (the app is not installed for them)"
# The card is redrawn once the outbox has noted the attempt, not before.
REDRAW_AFTER = timedelta(seconds=5)


@dataclass
class Deliveries:
    proactive: Proactive
    writer: OutboxWriter

    async def to_conversation(self, delivery: Delivery) -> None:
        assert delivery.activity is not None
        await self.proactive.send(delivery.target, delivery.activity)

    async def to_person(self, delivery: Delivery) -> None:
        await reach_person(self.proactive, self.writer, delivery, delivery.target)

    async def post_or_update(
        self, reference: dict[str, Any], card_id: str | None, activity: dict[str, Any]
    ) -> str | None:
        """Updates the card in place; posts it if there is none yet (or it was deleted).

        Returns the new card's id when it was posted.
        """
        if card_id:
            try:
                await self.proactive.update(reference, card_id, activity)
                return None
            except ConnectorError as error:
                if error.status != 404:
                    raise
                # Someone deleted the card: post a fresh one below.
        return await self.proactive.send(reference, activity)


async def reach_person(
    proactive: Proactive, writer: OutboxWriter, delivery: Delivery, target: dict[str, Any]
) -> None:
    """Sends the delivery 1:1 to the person `target` names.

    Someone the bot cannot reach (403) is tried again after each of UNREACHABLE_RETRIES, then
    given up. Meanwhile the referral's card on the triage desk says so, for business support
    to ask them to add the app; it is redrawn once they are reached.
    """
    assert delivery.activity is not None
    try:
        await proactive.send_to_person(target, delivery.activity)
    except SendFailed as error:
        if error.status != 403:
            raise
        await _redraw_card(proactive, writer, delivery)
        if delivery.attempts <= len(UNREACHABLE_RETRIES):
            raise RetryLater(UNREACHABLE_RETRIES[delivery.attempts - 1], CANNOT_REACH) from None
        raise SendFailed(CANNOT_REACH, 403) from None
    if delivery.attempts > 1:
        await _redraw_card(proactive, writer, delivery)  # reached at last, perhaps after a 403


async def _redraw_card(proactive: Proactive, writer: OutboxWriter, delivery: Delivery) -> None:
    if delivery.referral_id is None:
        return
    redraw = triage_card(delivery.referral_id)
    now = proactive.clock.now()
    redraw.due_at = now + REDRAW_AFTER
    async with proactive.sessions() as session, session.begin():
        writer.add(session, [redraw], now)
