"""Stores submitted referrals, with a readable reference and the narrative encrypted."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core import audit
from bot.core.audit import Action, Actor
from bot.core.clock import Clock, SystemClock
from bot.core.crypto import Cipher
from bot.core.database import rows_changed
from bot.core.models import PersonalChat, ReferenceCounter, ReferralRow
from bot.core.outbox import OutboxWriter, triage_card
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import (
    FormQuestion,
    Narrative,
    ReferralDraft,
    ReferralStatus,
    answered,
)
from bot.referrals.views import ReferralSummary
from cards.verbs import Verb


class IncompleteReferralError(ValueError):
    """The draft still has an empty slot; the dialog should not have submitted it."""


@dataclass(frozen=True)
class Referrer:
    id: str  # Entra object id where Teams gives one, else the channel user id
    name: str
    tenant_id: str


@dataclass(frozen=True)
class Intake:
    """What happens to a submitted referral: a card on the triage desk, and a reminder
    there if nobody has triaged it within `reminder_days` working days."""

    outbox: OutboxWriter
    calendar: WorkingCalendar
    reminder_days: int


class ReferralStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cipher: Cipher,
        prefix: str = "RP",
        *,
        intake: Intake | None = None,
        clock: Clock | None = None,
        questions: tuple[FormQuestion, ...] = (),  # the form's (FormOptions.questions)
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._prefix = prefix
        self._intake = intake
        self._clock = clock or SystemClock()
        self._questions = questions

    async def submit(
        self,
        draft: ReferralDraft,
        referrer: Referrer,
        conversation_reference: dict[str, Any],
        status: ReferralStatus = ReferralStatus.SUBMITTED,
    ) -> str:
        """Stores the referral and returns its reference, e.g. RP-2026-0001."""
        if not (draft.kind and draft.model and draft.narrative and draft.about):
            raise IncompleteReferralError("the referral is missing a required part")
        # A noted Re-think strategy 1 has no meeting, so no invitees or timing.
        if status is not ReferralStatus.NOTED_ONE_TO_ONE and draft.timing is None:
            raise IncompleteReferralError("the referral is missing when it is needed")
        existing = await self._reference_of_draft(draft.draft_id)
        if existing is not None:
            return existing  # the same draft submitted again: one referral
        try:
            return await self._insert(draft, referrer, conversation_reference, status)
        except IntegrityError:
            # A second Submit of this draft won the race; theirs is the referral.
            existing = await self._reference_of_draft(draft.draft_id)
            if existing is None:
                raise
            return existing

    async def claim_confirmation(self, reference: str) -> bool:
        """Whether this turn is the one to show the referral's "Referral received" card:
        the first to ask, of two Submits racing, or after a send that failed."""
        async with self._sessions() as session, session.begin():
            claimed = await session.execute(
                update(ReferralRow)
                .where(ReferralRow.reference == reference, ReferralRow.confirmed_at.is_(None))
                .values(confirmed_at=self._clock.now())
            )
            return rows_changed(claimed) == 1

    async def release_confirmation(self, reference: str) -> None:
        """The card could not be sent: the next Submit (Teams' retry) shows it."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(ReferralRow)
                .where(ReferralRow.reference == reference)
                .values(confirmed_at=None)
            )

    async def _reference_of_draft(self, draft_id: str) -> str | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(ReferralRow.reference).where(ReferralRow.draft_id == draft_id)
            )

    async def _insert(
        self,
        draft: ReferralDraft,
        referrer: Referrer,
        conversation_reference: dict[str, Any],
        status: ReferralStatus,
    ) -> str:
        assert draft.kind and draft.model and draft.narrative and draft.about  # checked by submit
        # A noted one-to-one conversation has no meeting: nothing about invitees or timing.
        meeting = status is not ReferralStatus.NOTED_ONE_TO_ONE
        invitees = (draft.invitees or []) if meeting else []
        timing = draft.timing if meeting else None
        asked = tuple(q for q in self._questions if meeting or q.step is not Verb.TIMING)
        now = self._clock.now()
        intake = self._intake if status is ReferralStatus.SUBMITTED else None
        narrative = self._cipher.encrypt(_narrative_json(draft.narrative))
        async with self._sessions() as session, session.begin():
            number = await self._next_number(session, now.year)
            reference = f"{self._prefix}-{now.year}-{number:04d}"
            row = ReferralRow(
                reference=reference,
                draft_id=draft.draft_id,
                status=status.value,
                created_at=now,
                updated_at=now,
                tenant_id=referrer.tenant_id,
                referrer_id=referrer.id,
                referrer_name=referrer.name,
                conversation_reference=conversation_reference,
                kind=draft.kind.value,
                theme=draft.theme.value if draft.theme else None,
                model=str(draft.model),  # str(): a draft pickled earlier holds a StrEnum member
                rethink_strategy=int(draft.rethink_strategy) if draft.rethink_strategy else None,
                agency=draft.about.agency,
                role=draft.about.role,
                is_lead_professional=draft.about.is_lead_professional,
                manager_agreed=draft.about.manager_agreed,
                manager_name=draft.about.manager_name or None,
                manager_email=draft.about.manager_email or None,
                invitees=[asdict(invitee) for invitee in invitees],
                availability=timing.availability if timing else None,
                urgency=timing.urgency.value if timing else None,
                further_answers_encrypted=self._further_answers(asked, draft.answers),
                narrative_encrypted=narrative,
                version=0,
                reminder_due_at=(
                    intake.calendar.add_working_days(now, intake.reminder_days)
                    if intake is not None
                    else None
                ),
            )
            session.add(row)
            await session.flush()
            session.add(audit.entry(_actor(referrer), Action.SUBMITTED, row.id))
            await session.merge(
                PersonalChat(
                    person_id=referrer.id,
                    conversation_reference=conversation_reference,
                    updated_at=now,
                )
            )
            if intake is not None:
                intake.outbox.add(session, [triage_card(row.id)], now)
        return reference

    async def _next_number(self, session: AsyncSession, year: int) -> int:
        # One UPDATE ... RETURNING: the row lock (PostgreSQL) or the write lock (SQLite)
        # makes two submissions at once get different numbers.
        bump = (
            update(ReferenceCounter)
            .where(ReferenceCounter.year == year)
            .values(last_number=ReferenceCounter.last_number + 1)
            .returning(ReferenceCounter.last_number)
        )
        number = (await session.execute(bump)).scalar_one_or_none()
        if number is not None:
            return number
        try:
            async with session.begin_nested():
                await session.execute(insert(ReferenceCounter).values(year=year, last_number=1))
            return 1
        except IntegrityError:  # another submission created this year's row first
            return (await session.execute(bump)).scalar_one()

    async def list_for_referrer(self, referrer_id: str) -> list[ReferralSummary]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(
                    ReferralRow.reference,
                    ReferralRow.status,
                    ReferralRow.model,
                    ReferralRow.kind,
                    ReferralRow.created_at,
                )
                .where(ReferralRow.referrer_id == referrer_id)
                .order_by(ReferralRow.created_at.desc(), ReferralRow.id.desc())
            )
            return [
                ReferralSummary(ref, ReferralStatus(status), model, kind, created)
                for ref, status, model, kind, created in rows
            ]

    async def read_narrative(self, reference: str, actor_id: str) -> Narrative | None:
        """The decrypted narrative; every read is audited."""
        async with self._sessions() as session, session.begin():
            row = await session.scalar(
                select(ReferralRow).where(ReferralRow.reference == reference)
            )
            if row is None:
                return None
            session.add(audit.entry(Actor(actor_id, ""), Action.NARRATIVE_READ, row.id))
            return stored_narrative(self._cipher, row.narrative_encrypted)

    def _further_answers(
        self, questions: tuple[FormQuestion, ...], answers: dict[str, str]
    ) -> bytes | None:
        # Stored with the label the question had, so triage shows it without the table.
        shown = [
            {"key": question.key, "label": question.label_for_admins, "value": value}
            for question, value in answered(questions, answers)
        ]
        return self._cipher.encrypt(json.dumps(shown)) if shown else None


def further_answers_from_json(text: str) -> list[tuple[str, str]]:
    """(label for admins, answer) pairs, as stored by the referral store."""
    return [(answer["label"], answer["value"]) for answer in json.loads(text)]


def _narrative_json(narrative: Narrative) -> str:
    return json.dumps(asdict(narrative))


def narrative_from_json(text: str) -> Narrative:
    return Narrative(**json.loads(text))


ERASED = "Erased under the retention policy."


def stored_narrative(cipher: Cipher, token: bytes | None) -> Narrative:
    """The referral's narrative; once the retention purge has erased it, a line saying so."""
    if token is None:
        return Narrative(what_is_stuck=ERASED, help_wanted=ERASED)
    return narrative_from_json(cipher.decrypt(token))


def _actor(referrer: Referrer) -> Actor:
    return Actor(referrer.id, referrer.name)
