"""Posts a session's live stage card (or roles card) in its chat, or redraws the one posted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.core.clock import Clock
from bot.core.outbox import Delivery, Kind, RetryLater
from bot.core.working_days import WorkingCalendar
from bot.sessions.store import SessionStore
from bot.teams.deliveries import Deliveries
from bot.teams.send import card_message
from cards.sessions import roles_card, stage_card

CARD_NOT_POSTED_YET = timedelta(seconds=2)


@dataclass
class SessionCardDelivery:
    deliveries: Deliveries
    store: SessionStore
    calendar: WorkingCalendar
    clock: Clock

    async def deliver(self, delivery: Delivery) -> None:
        """Drawn from the session as it is now, so a redraw that waited (a 429) shows the
        latest time left, not the time when it was queued."""
        assert delivery.session_id is not None
        view = await self.store.view(delivery.session_id)
        if view is None:
            return
        now = self.clock.now()
        if delivery.kind == Kind.SESSION_STAGE_CARD:
            card, card_id = stage_card(view, now, self.calendar), view.stage_card_id
        else:
            card, card_id = roles_card(view), view.roles_card_id
        if card_id is None and not delivery.target.get("post"):
            raise RetryLater(CARD_NOT_POSTED_YET, "the card is not posted yet")
        posted = await self.deliveries.post_or_update(
            view.conversation_reference, card_id, card_message(card)
        )
        if posted is not None:
            await self.store.set_card(view.id, delivery.kind, posted)
