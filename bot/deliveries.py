"""How the outbox delivers each kind of message (see bot.outbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock
from bot.connector import ConnectorError
from bot.outbox import Delivery, Kind, Outbox, RetryLater
from bot.proactive import Proactive
from bot.triage import TriageStore
from bot.working_days import WorkingCalendar
from cards.send import card_message
from cards.triage_cards import DeskOptions, triage_card

NO_DESK_RETRY = timedelta(hours=1)  # registering a desk brings waiting cards forward anyway


@dataclass
class Deliveries:
    proactive: Proactive
    triage: TriageStore
    calendar: WorkingCalendar
    options: DeskOptions
    clock: Clock

    def register(self, outbox: Outbox) -> None:
        outbox.handlers[Kind.CONVERSATION] = self.to_conversation
        outbox.handlers[Kind.PERSON] = self.to_person
        outbox.handlers[Kind.TRIAGE_CARD] = self.triage_card

    async def to_conversation(self, delivery: Delivery) -> None:
        assert delivery.activity is not None
        await self.proactive.send(delivery.target, delivery.activity)

    async def to_person(self, delivery: Delivery) -> None:
        assert delivery.activity is not None
        await self.proactive.send_to_person(delivery.target, delivery.activity)

    async def triage_card(self, delivery: Delivery) -> None:
        """Posts the referral's card on the desk, or updates the one already there.

        The card is drawn from the referral as it is now, so updates queued one after
        another end with the latest state whatever order they went in.
        """
        assert delivery.referral_id is not None
        view = await self.triage.view_by_id(delivery.referral_id)
        if view is None:
            return  # the referral has been purged: nothing to show
        desk = await self.triage.desk(view.tenant_id)
        if desk is None:
            raise RetryLater(NO_DESK_RETRY, "no triage desk registered yet")
        card = card_message(triage_card(view, self.calendar, self.clock.now(), self.options))
        if view.card_id and view.card_conversation_id == desk.conversation_id:
            try:
                await self.proactive.update(desk.conversation_reference, view.card_id, card)
                return
            except ConnectorError as error:
                if error.status != 404:
                    raise
                # Someone deleted the card: post a fresh one below.
        card_id = await self.proactive.send(desk.conversation_reference, card)
        await self.triage.set_card(view.id, desk.conversation_id, card_id)
