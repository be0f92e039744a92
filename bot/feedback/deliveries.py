"""Delivers Kind.FEEDBACK_CARD: a session's feedback card in its meeting chat, or 1:1 to one
participant; drawn when sent, so a 1:1 card or reminder is not sent to someone who has
answered meanwhile, and a session purged meanwhile gets nothing.

The card in the chat names, in its refresh, the Teams user ids ("29:...", the ids Teams
gives in `from.id`; Teams calls them MRIs) of the people who took part, so that each sees
their own state. The bot knows most of them by their Entra object id: it asks the Bot
Connector for the member (which takes either id) when it posts the card.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.core.outbox import Delivery
from bot.feedback.model import Round
from bot.feedback.store import FeedbackStore
from bot.feedback.views import FeedbackForm, FeedbackSession
from bot.teams.connector import ConnectorError
from bot.teams.deliveries import Deliveries
from bot.teams.send import card_message
from cards.feedback import MAX_REFRESH_USERS, feedback_card

log = logging.getLogger(__name__)

TEAMS_USER = "29:"  # how a Teams user id (an MRI) starts


@dataclass
class FeedbackCardDelivery:
    deliveries: Deliveries
    store: FeedbackStore

    async def deliver(self, delivery: Delivery) -> None:
        assert delivery.session_id is not None
        session = await self.store.session(delivery.session_id)
        if session is None or not session.over:
            return  # purged since it was queued: its chat's address is gone
        form = session.form(Round(str(delivery.target["round"])))
        reminder = bool(delivery.target.get("reminder"))
        person_id = delivery.target.get("person_id")
        if person_id:
            await self._one_to_one(form, str(person_id), reminder)
        else:
            await self._in_chat(form, reminder)

    async def _in_chat(self, form: FeedbackForm, reminder: bool) -> None:
        session = form.session
        activity = card_message(
            feedback_card(form, await self._teams_ids(session), reminder=reminder)
        )
        reference = session.conversation_reference
        if reminder:
            # A new card at the bottom of the chat, where people will see it.
            posted: str | None = await self.deliveries.proactive.send(reference, activity)
        else:
            # Asked once: a retry after a post that was not marked sent updates that card.
            card_id = await self.store.card_id(session.id, form.round)
            posted = await self.deliveries.post_or_update(reference, card_id, activity)
        if posted:
            await self.store.set_card(session.id, form.round, posted)

    async def _one_to_one(self, form: FeedbackForm, person_id: str, reminder: bool) -> None:
        session = form.session
        if await self.store.has_answered(session.id, person_id, form.round):
            return
        reference = (await self.store.personal_chats([person_id])).get(person_id)
        if reference is None:
            return  # their 1:1 chat is gone: the card in the meeting chat stays
        own = _teams_id(reference)
        activity = card_message(feedback_card(form, [own] if own else [], reminder=reminder))
        try:
            await self.deliveries.proactive.send(reference, activity)
        except ConnectorError as error:
            if error.status not in (403, 404):
                raise
            # They removed the app: the card in the meeting chat is still there for them.
            log.warning("session %d: a 1:1 feedback card could not be sent", session.id)

    async def _teams_ids(self, session: FeedbackSession) -> list[str]:
        """The Teams user ids of the people who took part, as far as they can be found."""
        people = await self.store.participants(session.id)
        chats = await self.store.personal_chats([p for p in people if not p.startswith(TEAMS_USER)])
        found: list[str] = []
        for person_id in people:
            if len(found) >= MAX_REFRESH_USERS:
                break
            teams_id = person_id if person_id.startswith(TEAMS_USER) else ""
            teams_id = teams_id or _teams_id(chats.get(person_id) or {})
            if not teams_id:
                member = await self.deliveries.proactive.member(
                    session.conversation_reference, person_id
                )
                teams_id = str((member or {}).get("id") or "")
            if teams_id.startswith(TEAMS_USER) and teams_id not in found:
                found.append(teams_id)
        return found


def _teams_id(reference: dict[str, Any]) -> str:
    """The person's Teams user id in a stored 1:1 conversation reference ("" if none)."""
    user = reference.get("user")
    teams_id = str(user.get("id") or "") if isinstance(user, dict) else ""
    return teams_id if teams_id.startswith(TEAMS_USER) else ""
