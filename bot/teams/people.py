"""Whom the bot can reach in a 1:1 chat by email: learnt from the people who talk to it.

Without Graph the bot cannot look anyone up by email, but Teams gives it the email and UPN
of the members of a conversation it is in. So the first time someone talks to the bot 1:1,
a background job asks Teams for their details and keeps them here (ids, name and work email
only, encrypted; the email is found again by its keyed hash). `last_seen_at` says when they
last used the bot, from which their details are kept for the retention period. A session
booked by hand is then announced in Teams to the invitees found here; the
others hear from the referrer, who forwards the invitation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from botbuilder.core import Middleware, TurnContext
from botbuilder.schema import DeliveryModes
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.clock import Clock
from bot.core.crypto import Cipher
from bot.core.models import Person, PersonalChat
from bot.core.outbox import Delivery, Kind, Message, OutboxWriter
from bot.teams.deliveries import reach_person
from bot.teams.identity import reference_of, tenant_of
from bot.teams.proactive import Proactive

log = logging.getLogger(__name__)

KNOWN_CACHE = 50_000  # ids this instance knows are stored, so most turns skip the look-up


@dataclass
class People:
    sessions: async_sessionmaker[AsyncSession]
    writer: OutboxWriter
    proactive: Proactive
    clock: Clock
    cipher: Cipher
    # Ids this instance knows are stored, with the day it last noted them: one write per
    # person per day keeps `last_seen_at` right to the day without a write every turn.
    _known: dict[str, date] = field(default_factory=dict, init=False)

    async def note(self, context: TurnContext) -> None:
        """Someone wrote to the bot 1:1: if they are new, learn their email in the background."""
        activity = context.activity
        person_id = activity.from_property.aad_object_id if activity.from_property else None
        tenant_id = tenant_of(context)
        now = self.clock.now()
        if not person_id or self._known.get(person_id) == now.date():
            return
        reference = reference_of(context)
        try:
            async with self.sessions() as session, session.begin():
                person = await session.get(Person, person_id)
                if person is not None:
                    person.last_seen_at = now
                else:
                    session.add(
                        Person(
                            person_id=person_id,
                            tenant_id=tenant_id,
                            name=activity.from_property.name or "",
                            first_seen_at=now,
                            last_seen_at=now,
                        )
                    )
                    member = {"reference": reference, "member_id": activity.from_property.id}
                    self.writer.add(session, [Message(Kind.LEARN_PERSON, member)], now)
                # Their 1:1 chat: where to reach them, and what ties their drafts to them.
                await session.merge(
                    PersonalChat(
                        person_id=person_id, conversation_reference=reference, updated_at=now
                    )
                )
        except IntegrityError:
            pass  # another instance noted them at the same moment
        if len(self._known) >= KNOWN_CACHE:
            self._known.clear()
        self._known[person_id] = now.date()

    async def learn(self, delivery: Delivery) -> None:
        target = delivery.target
        details = await self.proactive.member(target["reference"], target["member_id"])
        if details is None:
            return  # they left the chat (uninstalled the app): nothing to learn
        person_id = str(details.get("aadObjectId") or "")
        async with self.sessions() as session, session.begin():
            person = await session.get(Person, person_id)
            if person is None:
                return
            person.email = _lower(details.get("email"))
            person.upn = _lower(details.get("userPrincipalName"))
            person.email_hash = self._hash(person.email)
            person.upn_hash = self._hash(person.upn)
            person.name = str(details.get("name") or person.name)
            person.learnt_at = self.clock.now()

    async def reach(self, tenant_id: str, email: str) -> str | None:
        """The Entra object id of the person with this work email or UPN, if the bot knows."""
        hashes = self.cipher.lookup_hashes(email.strip().lower())
        async with self.sessions() as session:
            return await session.scalar(
                select(Person.person_id)
                .where(
                    Person.tenant_id == tenant_id,
                    or_(Person.email_hash.in_(hashes), Person.upn_hash.in_(hashes)),
                )
                .limit(1)
            )

    async def email_of(self, person_id: str) -> str | None:
        """The work email (or UPN) Teams gave for the person, if they have talked to the bot."""
        async with self.sessions() as session:
            person = await session.get(Person, person_id)
            return (person.email or person.upn) if person is not None else None

    def _hash(self, address: str | None) -> str | None:
        return self.cipher.lookup_hash(address) if address else None

    async def tell_invitee(self, delivery: Delivery) -> None:
        """An invitee of a session booked by hand: told 1:1 if the bot can reach them."""
        target = delivery.target
        person_id = await self.reach(target["tenant_id"], target["email"])
        if person_id is None:
            log.info("invitee %d not told in Teams: they have not used the bot", delivery.id)
            return
        await reach_person(
            self.proactive, self.writer, delivery, {**target, "person_id": person_id}
        )


class LearnPeople(Middleware):
    """Notes everyone who writes to the bot 1:1 (see People.note); never stops a turn."""

    def __init__(self, people: People) -> None:
        self._people = people

    async def on_turn(self, context: TurnContext, logic: Callable[[], Awaitable[None]]) -> None:
        activity = context.activity
        personal = activity.conversation and activity.conversation.conversation_type == "personal"
        # A caller that wants its replies in the HTTP response (expectReplies: a skill host,
        # a test harness) is not a Teams user the bot could message later.
        if personal and activity.delivery_mode != DeliveryModes.expect_replies:
            try:
                await self._people.note(context)
            except Exception:  # noqa: BLE001 - learning an email is never worth a lost turn
                log.exception("could not note who wrote to the bot")
        await logic()


def _lower(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    return text or None
