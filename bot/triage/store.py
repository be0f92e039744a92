"""Triage decisions on referrals, stored so that the first of two admins wins.

Every decision is one transaction: the referral's new status, the audit entry and the
messages it causes (to the referrer, the facilitator, the desk's card) commit together.
A card carries the `version` it showed; a press made on an older version changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core import audit
from bot.core.audit import Action, Actor
from bot.core.clock import Clock
from bot.core.crypto import Cipher
from bot.core.database import rows_changed
from bot.core.models import ReferralQuestion, ReferralRow, TriageDesk
from bot.core.outbox import Kind, Message, OutboxWriter, triage_card
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import BookingState, ReferralStatus
from bot.referrals.store import further_answers_from_json, stored_narrative
from bot.triage.changes import Change, Outcome
from bot.triage.decisions import RULES, Decision
from bot.triage.desk_log import DeskDetail
from bot.triage.reach import cannot_reach
from bot.triage.views import Details, QuestionAndAnswer, TriageView


def transaction_id(reference: str, version: int) -> str:
    """Stable per booking: Graph makes one event however often it is sent."""
    return f"{reference}-v{version}"


# Builds the messages a decision causes, from the referral as it now is.
Notify = Callable[[ReferralRow, TriageView, Change, int | None], list[Message]]


@dataclass
class TriageStore:
    sessions: async_sessionmaker[AsyncSession]
    cipher: Cipher
    clock: Clock
    outbox: OutboxWriter
    calendar: WorkingCalendar
    reminder_days: int
    notify: Notify = field(default=lambda row, view, change, question_id: [])

    # --- the desk ------------------------------------------------------------------------

    async def register_desk(
        self, tenant_id: str, conversation_id: str, reference: dict[str, Any], actor: Actor
    ) -> None:
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            await session.merge(
                TriageDesk(
                    tenant_id=tenant_id,
                    conversation_id=conversation_id,
                    conversation_reference=reference,
                    registered_by_id=actor.id,
                    registered_at=now,
                )
            )
            where = DeskDetail("", conversation_id, tenant_id).text()  # `audit desk` lists it
            session.add(audit.entry(actor, Action.DESK_REGISTERED, None, where))

    async def desk(self, tenant_id: str) -> TriageDesk | None:
        async with self.sessions() as session:
            return await session.get(TriageDesk, tenant_id)

    # --- reading ------------------------------------------------------------------------

    async def view(self, reference: str) -> TriageView | None:
        async with self.sessions() as session:
            row = await _by_reference(session, reference)
            return None if row is None else await self.view_of(session, row)

    async def view_by_id(self, referral_id: int) -> TriageView | None:
        async with self.sessions() as session:
            row = await session.get(ReferralRow, referral_id)
            return None if row is None else await self.view_of(session, row)

    async def details(self, reference: str, actor: Actor) -> Details | None:
        """The narrative and the questions and answers; the read is audited."""
        async with self.sessions() as session, session.begin():
            row = await _by_reference(session, reference)
            if row is None:
                return None
            session.add(audit.entry(actor, Action.DETAILS_VIEWED, row.id))
            questions = await session.scalars(
                select(ReferralQuestion)
                .where(ReferralQuestion.referral_id == row.id)
                .order_by(ReferralQuestion.id)
            )
            note, further = row.decision_note_encrypted, row.further_answers_encrypted
            return Details(
                narrative=stored_narrative(self.cipher, row.narrative_encrypted),
                questions=[
                    QuestionAndAnswer(
                        q.asked_by_name,
                        q.asked_at,
                        self.cipher.decrypt(q.question_encrypted),
                        self.cipher.decrypt(q.answer_encrypted) if q.answer_encrypted else None,
                        q.answered_at,
                    )
                    for q in questions
                ],
                decision_note=self.cipher.decrypt(note) if note else None,
                further_answers=(
                    further_answers_from_json(self.cipher.decrypt(further)) if further else []
                ),
            )

    # --- deciding -----------------------------------------------------------------------

    async def decide(
        self, reference: str, version: int, actor: Actor, decision: Decision, change: Change
    ) -> Outcome | None:
        """Applies the decision if the referral is still at `version`; None if no such one."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            row = await _by_reference(session, reference)
            if row is None:
                return None
            if not await self._apply(session, row, decision, change, actor, now, version):
                session.add(
                    audit.entry(actor, Action.LOST_RACE, row.id, f"{decision} on v{version}")
                )
                await session.refresh(row)
                return Outcome(False, await self.view_of(session, row))
            question_id = None
            if change.question is not None:
                question = ReferralQuestion(
                    referral_id=row.id,
                    asked_by_id=actor.id,
                    asked_by_name=actor.name,
                    asked_at=now,
                    question_encrypted=self.cipher.encrypt(change.question),
                )
                session.add(question)
                await session.flush()
                question_id = question.id
            action = RULES[decision].audit_action
            session.add(audit.entry(actor, action, row.id, change.audit_detail))
            await session.refresh(row)
            view = await self.view_of(session, row)
            messages = self.notify(row, view, change, question_id)
            if change.find_times:
                messages.append(Message(Kind.FIND_TIMES, {}, None, row.id))
            self.outbox.add(session, messages, now)
            return Outcome(True, view, question_id)

    async def _apply(
        self,
        session: AsyncSession,
        row: ReferralRow,
        decision: Decision,
        change: Change,
        actor: Actor,
        now: datetime,
        version: int,
    ) -> bool:
        """The conditional UPDATE: True only if the referral was still at `version`."""
        if ReferralStatus(row.status) not in RULES[decision].allowed_from:
            return False
        result = await session.execute(
            update(ReferralRow)
            .where(ReferralRow.id == row.id, ReferralRow.version == version)
            .values(**self._values(row, decision, change, actor, now))
            .execution_options(synchronize_session=False)
        )
        return rows_changed(result) == 1

    def _values(
        self, row: ReferralRow, decision: Decision, change: Change, actor: Actor, now: datetime
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "version": row.version + 1,
            "status": RULES[decision].new_status.value,
            "decided_by_id": actor.id,
            "decided_by_name": actor.name,
            "decided_at": now,
            "updated_at": now,
            # Nobody needs reminding about a referral that has been looked at.
            "reminder_due_at": None,
        }
        if change.model is not None:
            values["model"] = change.model
        if change.facilitator_id is not None:
            values["facilitator_id"] = change.facilitator_id
            values["facilitator_name"] = change.facilitator_name
        if change.note is not None:
            values["decision_note_encrypted"] = self.cipher.encrypt(change.note)
        if change.signpost is not None:
            values["signpost"] = change.signpost
        if change.find_times:
            values["slot_search"] = {"state": "searching", "at": now.isoformat()}
        if change.session_at is not None:
            values["session_at"] = change.session_at
            values["session_minutes"] = change.session_minutes
            values["slot_search"] = None  # the times offered are used up
            values |= self._booking(row, change)
        if decision in (Decision.CANCEL, Decision.WITHDRAW) and row.session_at is not None:
            values |= {"session_at": None, "meeting_join_url": None, "meeting_chat_id": None}
            # An Outlook event (or one being made) is cancelled by the calendar job.
            has_event = row.meeting_event_id or row.booking_state is not None
            values["booking_state"] = BookingState.CANCELLING if has_event else None
            values["booking_problem"] = None
            values["slot_search"] = None
        return values

    @staticmethod
    def _booking(row: ReferralRow, change: Change) -> dict[str, Any]:
        if not change.book_with_graph:
            # Booked by hand: the admin's link replaces any Outlook event the bot made
            # (the calendar job cancels it when one exists).
            return {
                "meeting_join_url": change.meeting_join_url,
                "meeting_chat_id": change.meeting_chat_id,
                "meeting_app_installed": False,
                "booking_state": BookingState.CANCELLING if row.meeting_event_id else None,
                "booking_problem": None,
            }
        values: dict[str, Any] = {"booking_state": BookingState.BOOKING, "booking_problem": None}
        if not row.meeting_event_id and not row.meeting_transaction_id:
            # Kept until the event is stored: a retry, even after a crash, makes no second.
            values["meeting_transaction_id"] = transaction_id(row.reference, row.version + 1)
        return values

    async def find_times(self, reference: str, actor: Actor) -> TriageView | None:
        """Starts a search for free times (the calendar job stores what it finds)."""
        return await self._calendar_job(
            reference, actor, Action.FIND_TIMES, Kind.FIND_TIMES, {"state": "searching"}
        )

    async def retry_booking(self, reference: str, actor: Actor) -> TriageView | None:
        """Books again after a failure (a permission fixed, say), with the same transaction id."""
        return await self._calendar_job(
            reference, actor, Action.BOOKING_RETRIED, Kind.CALENDAR_SYNC, None
        )

    async def _calendar_job(
        self,
        reference: str,
        actor: Actor,
        action: str,
        kind: str,
        search: dict[str, Any] | None,
    ) -> TriageView | None:
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            row = await _by_reference(session, reference)
            if row is None:
                return None
            if search is not None:
                row.slot_search = {**search, "at": now.isoformat()}
            elif row.booking_state == BookingState.FAILED:
                row.booking_state = (
                    BookingState.BOOKING if row.session_at else BookingState.CANCELLING
                )
                row.booking_problem = None
            session.add(audit.entry(actor, action, row.id))
            await session.flush()
            self.outbox.add(session, [triage_card(row.id), Message(kind, {}, None, row.id)], now)
            return await self.view_of(session, row)

    async def answer(
        self, question_id: int, referrer_id: str, actor: Actor, text: str
    ) -> TriageView | None:
        """The referrer's answer: stored, audited, and the referral goes back to triage.

        None when the question is not this person's to answer or is already answered.
        """
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            question = await session.get(ReferralQuestion, question_id)
            if question is None or question.answer_encrypted is not None:
                return None
            row = await session.get(ReferralRow, question.referral_id)
            if row is None or row.referrer_id != referrer_id:
                return None
            question.answer_encrypted = self.cipher.encrypt(text)
            question.answered_at = now
            if row.status == ReferralStatus.MORE_INFO_REQUESTED:
                row.status = ReferralStatus.SUBMITTED.value
                row.version += 1
                row.updated_at = now
                row.reminder_due_at = self.calendar.add_working_days(now, self.reminder_days)
            session.add(audit.entry(actor, Action.ANSWER_RECEIVED, row.id))
            await session.flush()
            view = await self.view_of(session, row)
            self.outbox.add(session, [triage_card(row.id)], now)
            return view

    async def set_card(self, referral_id: int, conversation_id: str, card_id: str) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(ReferralRow)
                .where(ReferralRow.id == referral_id)
                .values(triage_card_id=card_id, triage_conversation_id=conversation_id)
            )

    async def question(self, question_id: int, referrer_id: str) -> tuple[str, str] | None:
        """The referral's reference and the question, if it is this referrer's to answer."""
        async with self.sessions() as session:
            question = await session.get(ReferralQuestion, question_id)
            if question is None:
                return None
            row = await session.get(ReferralRow, question.referral_id)
            if row is None or row.referrer_id != referrer_id:
                return None
            return row.reference, self.cipher.decrypt(question.question_encrypted)

    async def record(
        self, actor: Actor, action: str, reference: str | None, detail: str = ""
    ) -> None:
        """An audit entry about a referral (if it exists), e.g. a refused attempt."""
        async with self.sessions() as session, session.begin():
            row = await _by_reference(session, reference) if reference else None
            session.add(audit.entry(actor, action, row.id if row else None, detail))

    async def view_of(self, session: AsyncSession, row: ReferralRow) -> TriageView:
        questions = list(
            await session.scalars(
                select(ReferralQuestion).where(ReferralQuestion.referral_id == row.id)
            )
        )
        asked = [q.asked_at for q in questions]
        answered = [q.answered_at for q in questions if q.answered_at is not None]
        agencies = [row.agency] + [i.get("agency", "") for i in row.invitees or []]
        return TriageView(
            id=row.id,
            reference=row.reference,
            tenant_id=row.tenant_id,
            status=ReferralStatus(row.status),
            version=row.version,
            kind=row.kind,
            theme=row.theme,
            model=row.model,
            rethink_strategy=row.rethink_strategy,
            referrer_name=row.referrer_name,
            referrer_agency=row.agency,
            agencies=sorted({a.strip() for a in agencies if a and a.strip()}, key=str.lower),
            invitee_count=len(row.invitees or []),
            manager_agreed=row.manager_agreed,
            referrer_is_lead=row.is_lead_professional,
            urgency=row.urgency,
            created_at=row.created_at,
            decided_by_name=row.decided_by_name,
            decided_at=row.decided_at,
            facilitator_name=row.facilitator_name,
            signpost=row.signpost,
            last_question_at=max(asked) if asked else None,
            last_answer_at=max(answered) if answered else None,
            card_id=row.triage_card_id,
            card_conversation_id=row.triage_conversation_id,
            session_at=row.session_at,
            meeting_join_url=row.meeting_join_url,
            booking_state=BookingState(row.booking_state) if row.booking_state else None,
            booking_problem=row.booking_problem,
            meeting_app_installed=row.meeting_app_installed,
            slot_search=row.slot_search,
            unreachable=await cannot_reach(session, row),
        )


async def _by_reference(session: AsyncSession, reference: str) -> ReferralRow | None:
    row: ReferralRow | None = await session.scalar(
        select(ReferralRow).where(ReferralRow.reference == reference)
    )
    return row
