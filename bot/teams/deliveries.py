"""How the outbox delivers each kind of message (see bot.core.outbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.core.clock import Clock
from bot.core.outbox import Delivery, Kind, Outbox, RetryLater
from bot.core.working_days import WorkingCalendar
from bot.sessions.store import SessionStore
from bot.teams.connector import ConnectorError
from bot.teams.proactive import Proactive
from bot.teams.send import card_message
from bot.triage.store import TriageStore
from cards.sessions import roles_card, stage_card
from cards.triage import DeskOptions, triage_card

NO_DESK_RETRY = timedelta(hours=1)  # registering a desk brings waiting cards forward anyway
CARD_NOT_POSTED_YET = timedelta(seconds=2)


@dataclass
class Deliveries:
    proactive: Proactive
    triage: TriageStore
    calendar: WorkingCalendar
    options: DeskOptions
    clock: Clock
    sessions: SessionStore

    def register(self, outbox: Outbox) -> None:
        outbox.handlers[Kind.CONVERSATION] = self.to_conversation
        outbox.handlers[Kind.PERSON] = self.to_person
        outbox.handlers[Kind.TRIAGE_CARD] = self.triage_card
        outbox.handlers[Kind.SESSION_STAGE_CARD] = self.session_card
        outbox.handlers[Kind.SESSION_ROLES_CARD] = self.session_card

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
        same_desk = view.card_conversation_id == desk.conversation_id
        posted = await self._post_or_update(
            desk.conversation_reference, view.card_id if same_desk else None, card
        )
        if posted is not None:
            await self.triage.set_card(view.id, desk.conversation_id, posted)

    async def session_card(self, delivery: Delivery) -> None:
        """Posts a session's live stage card (or roles card), or redraws the one posted.

        Drawn from the session as it is now, so a redraw that waited (a 429) shows the
        latest time left, not the time when it was queued.
        """
        assert delivery.session_id is not None
        view = await self.sessions.view(delivery.session_id)
        if view is None:
            return
        now = self.clock.now()
        if delivery.kind == Kind.SESSION_STAGE_CARD:
            card, card_id = stage_card(view, now, self.calendar), view.stage_card_id
        else:
            card, card_id = roles_card(view), view.roles_card_id
        if card_id is None and not delivery.target.get("post"):
            raise RetryLater(CARD_NOT_POSTED_YET, "the card is not posted yet")
        posted = await self._post_or_update(
            view.conversation_reference, card_id, card_message(card)
        )
        if posted is not None:
            await self.sessions.set_card(view.id, delivery.kind, posted)

    async def _post_or_update(
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
