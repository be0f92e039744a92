"""Posts a referral's card on the triage desk, or brings the posted one up to date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.core.clock import Clock
from bot.core.outbox import Delivery, RetryLater
from bot.core.working_days import WorkingCalendar
from bot.teams.deliveries import Deliveries
from bot.teams.send import card_message
from bot.triage.options import DeskOptions
from bot.triage.store import TriageStore
from cards.triage import triage_card

NO_DESK_RETRY = timedelta(hours=1)  # registering a desk brings waiting cards forward anyway


@dataclass
class TriageCardDelivery:
    deliveries: Deliveries
    triage: TriageStore
    calendar: WorkingCalendar
    options: DeskOptions
    clock: Clock

    async def deliver(self, delivery: Delivery) -> None:
        """The card is drawn from the referral as it is now, so updates queued one after
        another end with the latest state whatever order they went in."""
        assert delivery.referral_id is not None
        view = await self.triage.view_by_id(delivery.referral_id)
        if view is None:
            return  # the referral has been purged: nothing to show
        desk = await self.triage.desk(view.tenant_id)
        if desk is None:
            raise RetryLater(NO_DESK_RETRY, "no triage desk registered yet")
        card = card_message(triage_card(view, self.calendar, self.clock.now(), self.options))
        same_desk = view.card_conversation_id == desk.conversation_id
        posted = await self.deliveries.post_or_update(
            desk.conversation_reference, view.card_id if same_desk else None, card
        )
        if posted is not None:
            await self.triage.set_card(view.id, desk.conversation_id, posted)
