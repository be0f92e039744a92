"""Posts a session's live stage card (or roles card) in its chat, or redraws the one posted;
and collapses an earlier copy of the stage card to one line once it is posted again below."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.core.clock import Clock
from bot.core.outbox import Delivery, Kind, RetryLater
from bot.core.working_days import WorkingCalendar
from bot.sessions.store import SessionStore
from bot.sessions.views import SessionView
from bot.teams.connector import ConnectorError
from bot.teams.deliveries import Deliveries
from bot.teams.send import card_message
from cards.sessions import ORGANISER_ONLY, moved_card, roles_card, stage_card

CARD_NOT_POSTED_YET = timedelta(seconds=2)
# A stage card posted afresh waits for the messages queued before it (held up by a 429, say),
# so it comes out below them; after this many tries it is posted anyway.
EARLIER_FIRST = timedelta(seconds=2)
WAIT_FOR_EARLIER = 5


@dataclass
class SessionCardDelivery:
    deliveries: Deliveries
    store: SessionStore
    calendar: WorkingCalendar
    clock: Clock
    control_roles: frozenset[str] = ORGANISER_ONLY

    async def deliver(self, delivery: Delivery) -> None:
        """Drawn from the session as it is now, so a redraw that waited (a 429) shows the
        latest time left, not the time when it was queued."""
        assert delivery.session_id is not None
        view = await self.store.view(delivery.session_id)
        if view is None:
            return
        if delivery.kind == Kind.SESSION_CARD_MOVED:
            await self._collapse(view, delivery)
            return
        now = self.clock.now()
        if delivery.kind == Kind.SESSION_STAGE_CARD:
            card = stage_card(view, now, self.calendar, control_roles=self.control_roles)
            card_id = view.stage_card_id
            if delivery.target.get("post") and view.stage_card_posts:
                await self._post_afresh(view, delivery, card_message(card))
                return
        else:
            card, card_id = roles_card(view, control_roles=self.control_roles), view.roles_card_id
        if card_id is None and not delivery.target.get("post"):
            raise RetryLater(CARD_NOT_POSTED_YET, "the card is not posted yet")
        posted = await self.deliveries.post_or_update(
            view.conversation_reference, card_id, card_message(card)
        )
        if posted is not None:
            await self.store.set_card(view.id, delivery.kind, posted)

    async def _post_afresh(
        self, view: SessionView, delivery: Delivery, activity: dict[str, object]
    ) -> None:
        """The stage card, posted below what the bot has just posted in the chat; the copy
        posted before it collapses (a message of its own, so a failure there posts no
        third copy when this one is tried again)."""
        if delivery.attempts <= WAIT_FOR_EARLIER and await self.store.posted_before(
            view.id, delivery.id
        ):
            raise RetryLater(EARLIER_FIRST, "messages queued before the stage card are not out yet")
        posted = await self.deliveries.proactive.send(view.conversation_reference, activity)
        moved_from = delivery.target.get("moved_from")
        await self.store.stage_card_posted(
            view.id, posted, moved_from if isinstance(moved_from, int) else None
        )

    async def _collapse(self, view: SessionView, delivery: Delivery) -> None:
        step = delivery.target.get("step")
        shown = step if isinstance(step, int) and 0 <= step < len(view.steps) else view.step
        activity = card_message(moved_card(view, shown))
        try:
            await self.deliveries.proactive.update(
                view.conversation_reference, str(delivery.target["activity_id"]), activity
            )
        except ConnectorError as error:
            if error.status != 404:
                raise
            # Someone deleted that copy: there is nothing left to collapse.
