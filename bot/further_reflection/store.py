"""Further reflections in the database: found when due, decided on by the desk once, booked.

Every change is one transaction with the card's redraw (and the booking job, for Book) it
causes. A card carries the `version` it showed: a press made on an older version, a double
press or a second admin at the same moment, changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core import audit
from bot.core.audit import Action, Actor
from bot.core.clock import Clock
from bot.core.database import rows_changed
from bot.core.models import (
    AuditEntry,
    FurtherReflection,
    MeetingSession,
    ReferralRow,
    SessionParticipant,
    TriageDesk,
)
from bot.core.outbox import Kind, Message, OutboxWriter
from bot.core.protocols import Feedback, ModelCatalogue
from bot.core.settings import Facilitator
from bot.further_reflection.view import DECIDED_ACTIONS, FurtherView, Rule, State
from bot.scheduling.bookings import each_once, people_of
from bot.sessions.timing import Status as SessionStatus
from bot.teams.people import People


def card_message(session_id: int) -> Message:
    """Post the further reflection's card on the desk, or bring the posted one up to date."""
    return Message(Kind.FURTHER_REFLECTION_CARD, {}, session_id=session_id)


def booking_message(session_id: int) -> Message:
    return Message(Kind.FURTHER_REFLECTION_BOOKING, {}, session_id=session_id)


@dataclass(frozen=True)
class Change:
    """What a press sets besides the state: the meeting's time and link, how to book it."""

    session_at: datetime | None = None
    join_url: str | None = None
    transaction_id: str | None = None  # Book: Graph makes one event for it, however often asked
    audit_detail: str = ""


@dataclass(frozen=True)
class Outcome:
    applied: bool
    view: FurtherView


@dataclass
class FurtherStore:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    writer: OutboxWriter
    models: ModelCatalogue
    facilitators: dict[str, Facilitator]  # by Entra object id
    directory: People | None = None  # emails Teams gave the bot (bot.teams.people)

    # --- falling due (the job) -------------------------------------------------------------

    async def ended_between(self, start: datetime, end: datetime) -> Sequence[Row[Any]]:
        """Sessions held and ended in [start, end) that have no further reflection yet."""
        async with self.sessions() as session:
            found = await session.execute(
                select(
                    MeetingSession.id,
                    MeetingSession.tenant_id,
                    MeetingSession.referral_id,
                    MeetingSession.ended_at,
                    MeetingSession.protocol,
                ).where(
                    MeetingSession.status == SessionStatus.ENDED.value,
                    MeetingSession.started_at.is_not(None),
                    MeetingSession.purged_at.is_(None),
                    MeetingSession.ended_at >= start,
                    MeetingSession.ended_at < end,
                    ~exists().where(FurtherReflection.session_id == MeetingSession.id),
                )
            )
            return found.all()

    async def create(
        self, session_id: int, tenant_id: str, referral_id: int | None, due_on: date
    ) -> bool:
        """The row and its card on the desk, together; False if another instance made it."""
        now = self.clock.now()
        try:
            async with self.sessions() as session, session.begin():
                session.add(
                    FurtherReflection(
                        session_id=session_id,
                        tenant_id=tenant_id,
                        referral_id=referral_id,
                        due_on=due_on,
                        state=State.WAITING.value,
                        version=0,
                        created_at=now,
                    )
                )
                await session.flush()  # the primary key says whether it is ours
                self.writer.add(session, [card_message(session_id)], now)
        except IntegrityError:
            return False
        return True

    # --- reading -----------------------------------------------------------------------

    async def view(self, session_id: int) -> FurtherView | None:
        async with self.sessions() as session:
            row = await session.get(FurtherReflection, session_id)
            if row is None:
                return None
            meeting = await session.get_one(MeetingSession, row.session_id)
            referral = await session.get(ReferralRow, row.referral_id) if row.referral_id else None
            view = await self._view_of(session, row, meeting)
        # Outside that session: the look-ups open their own (a connection each).
        return replace(view, invitable=len(await self.attendees(meeting, referral)))

    async def desk(self, tenant_id: str) -> TriageDesk | None:
        async with self.sessions() as session:
            return await session.get(TriageDesk, tenant_id)

    async def meeting_of(
        self, session_id: int
    ) -> tuple[FurtherReflection, MeetingSession, ReferralRow | None] | None:
        """The row, its session and its referral (if any): what the booking job needs."""
        async with self.sessions() as session:
            row = await session.get(FurtherReflection, session_id)
            meeting = await session.get(MeetingSession, session_id)
            if row is None or meeting is None:
                return None
            referral = await session.get(ReferralRow, row.referral_id) if row.referral_id else None
            return row, meeting, referral

    async def attendees(
        self, meeting: MeetingSession, referral: ReferralRow | None
    ) -> list[tuple[str, str]]:
        """Whom Outlook invites: the referral's referrer (if the bot knows their email), its
        facilitator and invitees; without a referral, those who took part whose emails the
        bot knows (perhaps nobody)."""
        if referral is not None:
            return await people_of(referral, self.directory, self.facilitators)
        if self.directory is None:
            return []
        async with self.sessions() as session:
            participants = list(
                await session.scalars(
                    select(SessionParticipant).where(SessionParticipant.session_id == meeting.id)
                )
            )
        people = []
        for participant in participants:
            email = await self.directory.email_of(participant.person_id)
            if email:
                people.append((participant.name, email))
        return each_once(people)

    async def _view_of(
        self, session: AsyncSession, row: FurtherReflection, meeting: MeetingSession
    ) -> FurtherView:
        taking_part = await session.scalar(
            select(func.count())
            .select_from(SessionParticipant)
            .where(SessionParticipant.session_id == row.session_id)
        )
        return FurtherView(
            session_id=row.session_id,
            tenant_id=row.tenant_id,
            reference=meeting.reference,
            model=self.models.label(meeting.model),
            held_at=meeting.started_at,
            months=Feedback.of_session(meeting.protocol).follow_up_months,
            participants=int(taking_part or 0),
            due_on=row.due_on,
            state=State(row.state),
            version=row.version,
            session_at=row.session_at,
            join_url=row.join_url,
            problem=row.problem,
            decided_by_name=await self._decided_by(session, row),
            decided_at=row.decided_at,
            card_id=row.card_id,
            in_outlook=row.event_id is not None,
        )

    @staticmethod
    async def _decided_by(session: AsyncSession, row: FurtherReflection) -> str | None:
        """The admin's name, as the audit entry of their decision keeps it (the row keeps
        their id only); "someone" once the audit log no longer has it."""
        if row.decided_by_id is None or row.decided_at is None:
            return None
        name = await session.scalar(
            select(AuditEntry.actor_name)
            .where(
                AuditEntry.at == row.decided_at,  # indexed
                AuditEntry.actor_id == row.decided_by_id,
                AuditEntry.action.in_(DECIDED_ACTIONS),
            )
            .limit(1)
        )
        return name or "someone"

    # --- changing ------------------------------------------------------------------------

    async def set_card(self, session_id: int, card_id: str) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(FurtherReflection)
                .where(FurtherReflection.session_id == session_id)
                .values(card_id=card_id)
            )

    async def decide(
        self, session_id: int, version: int, rule: Rule, change: Change, actor: Actor
    ) -> Outcome | None:
        """Applies the press if the row is still at `version` and in a state it may be made
        from; None if there is no such further reflection."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            row = await session.get(FurtherReflection, session_id)
            if row is None:
                return None
            changed = await session.execute(
                update(FurtherReflection)
                .where(
                    FurtherReflection.session_id == session_id,
                    FurtherReflection.version == version,
                    FurtherReflection.state.in_(sorted(rule.allowed_from)),
                )
                .values(
                    state=rule.new_state.value,
                    version=version + 1,
                    decided_by_id=actor.id,
                    decided_at=now,
                    session_at=change.session_at,
                    join_url=change.join_url,
                    event_id=None,
                    transaction_id=change.transaction_id,
                    problem=None,
                )
                .execution_options(synchronize_session=False)
            )
            applied = rows_changed(changed) == 1
            if applied:
                entry = audit.entry(actor, rule.audit_action, row.referral_id, change.audit_detail)
                entry.at = now  # the card finds the admin's name by it
                session.add(entry)
                messages = [card_message(session_id)]
                if rule.new_state is State.BOOKING:
                    messages.append(booking_message(session_id))
                self.writer.add(session, messages, now)
            else:
                lost = f"{rule.verb} on v{version}"
                session.add(audit.entry(actor, Action.LOST_RACE, row.referral_id, lost))
        view = await self.view(session_id)
        return None if view is None else Outcome(applied, view)

    async def booked(self, session_id: int, values: dict[str, Any]) -> bool:
        """Stores what Graph did with a booking under way, and redraws the card; False if the
        booking is no longer under way (nothing is then changed)."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            changed = await session.execute(
                update(FurtherReflection)
                .where(
                    FurtherReflection.session_id == session_id,
                    FurtherReflection.state == State.BOOKING.value,
                )
                .values(version=FurtherReflection.version + 1, **values)
            )
            if rows_changed(changed) == 0:
                return False
            self.writer.add(session, [card_message(session_id)], now)
            return True

    async def refused(self, actor: Actor, session_id: int | None, verb: str) -> None:
        """A press by someone who is not an admin: in the audit log (`audit desk`)."""
        async with self.sessions() as session, session.begin():
            row = await session.get(FurtherReflection, session_id) if session_id else None
            referral_id = row.referral_id if row is not None else None
            session.add(audit.entry(actor, Action.REFUSED, referral_id, verb))
