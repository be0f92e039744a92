"""The feedback feature's reads and writes: a session as the cards need it, who answered,
and an answer recorded once.

An answer is taken once per person per round, however many presses race: a conditional
UPDATE sets the participant's `*_answered_at` only where it is still empty, and the answers
are inserted in the same transaction only if that UPDATE changed the row. The answers carry
the session, the model and the day, never who gave them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.clock import Clock
from bot.core.database import rows_changed
from bot.core.models import (
    FeedbackResponse,
    MeetingSession,
    PersonalChat,
    ReferralRow,
    SessionParticipant,
)
from bot.core.months_on import follow_up_moment
from bot.core.protocols import Feedback
from bot.core.working_days import WorkingCalendar
from bot.feedback.model import Round
from bot.feedback.views import Answer, FeedbackSession
from bot.sessions.timing import Status as SessionStatus
from bot.sessions.views import Holder


class Asked(StrEnum):
    """SessionParticipant.feedback_status: where the questions after the session stand."""

    NOT_DUE = "not_due"  # the session is running
    DUE = "due"  # it has ended: the feedback job asks
    ASKED = "asked"  # asked; one reminder may follow
    REMINDED = "reminded"  # reminded once: never again
    ANSWERED = "answered"
    # Never asked: the session was purged, or had ended long before the job first saw it,
    # or they first answered months on.
    NOT_ASKED = "not_asked"


class Recorded(StrEnum):
    RECORDED = "recorded"
    ALREADY = "already"  # they had answered this round: nothing stored
    NOT_THEIRS = "not_theirs"  # a 1:1 press from someone who did not take part


@dataclass(frozen=True)
class RoundColumns:
    """Where a round stands, by column name: the participant's moments, the session's card."""

    asked_at: str
    reminded_at: str
    answered_at: str
    card_id: str  # MeetingSession's: the round's card in the meeting chat


COLUMNS = {
    Round.AFTER: RoundColumns(
        "feedback_asked_at", "feedback_reminded_at", "feedback_answered_at", "feedback_card_id"
    ),
    Round.FOLLOW_UP: RoundColumns(
        "follow_up_asked_at", "follow_up_reminded_at", "follow_up_answered_at", "follow_up_card_id"
    ),
}


def answered_column(round_: Round) -> Any:
    return getattr(SessionParticipant, COLUMNS[round_].answered_at)


def is_over(row: MeetingSession, referral: ReferralRow | None) -> bool:
    """Ended after it began, and neither it nor its referral purged."""
    return (
        row.status == SessionStatus.ENDED.value
        and row.started_at is not None
        and row.purged_at is None
        and (referral is None or referral.purged_at is None)
    )


def session_of(
    row: MeetingSession, referral: ReferralRow | None, follow_up_asked: bool
) -> FeedbackSession:
    return FeedbackSession(
        id=row.id,
        reference=row.reference,
        tenant_id=row.tenant_id,
        referral_id=row.referral_id,
        model=row.model,
        name=str(row.protocol.get("name", row.model)),
        conversation_id=row.conversation_id,
        conversation_reference=dict(row.conversation_reference or {}),
        no_notes=row.no_notes,
        feedback=Feedback.of_session(row.protocol),
        over=is_over(row, referral),
        follow_up_asked=follow_up_asked,
    )


async def load_session(session: AsyncSession, row: MeetingSession) -> FeedbackSession:
    referral = await session.get(ReferralRow, row.referral_id) if row.referral_id else None
    asked = await session.scalar(
        select(SessionParticipant.person_id)
        .where(
            SessionParticipant.session_id == row.id,
            SessionParticipant.follow_up_asked_at.is_not(None),
        )
        .limit(1)
    )
    return session_of(row, referral, asked is not None)


@dataclass
class FeedbackStore:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    calendar: WorkingCalendar

    async def session(self, session_id: int) -> FeedbackSession | None:
        async with self.sessions() as session:
            row = await session.get(MeetingSession, session_id)
            return None if row is None else await load_session(session, row)

    async def has_answered(self, session_id: int, person_id: str, round_: Round) -> bool:
        async with self.sessions() as session:
            answered = await session.scalar(
                select(answered_column(round_)).where(
                    SessionParticipant.session_id == session_id,
                    SessionParticipant.person_id == person_id,
                )
            )
            return answered is not None

    async def took_part(self, session_id: int, person_id: str) -> bool:
        async with self.sessions() as session:
            row = await session.get(SessionParticipant, (session_id, person_id))
            return row is not None

    async def participants(self, session_id: int) -> list[str]:
        """Everyone who took part, in the order they were seen."""
        async with self.sessions() as session:
            rows = await session.scalars(
                select(SessionParticipant.person_id)
                .where(SessionParticipant.session_id == session_id)
                .order_by(SessionParticipant.joined_at, SessionParticipant.person_id)
            )
            return list(rows)

    async def personal_chats(self, person_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Where to reach each of these people 1:1, for those the bot can reach."""
        if not person_ids:
            return {}
        async with self.sessions() as session:
            rows = await session.scalars(
                select(PersonalChat).where(PersonalChat.person_id.in_(person_ids))
            )
            return {row.person_id: dict(row.conversation_reference) for row in rows}

    async def set_card(self, session_id: int, round_: Round, activity_id: str) -> None:
        """The card posted in the meeting chat (the latest, after a reminder)."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(MeetingSession)
                .where(MeetingSession.id == session_id)
                .values({COLUMNS[round_].card_id: activity_id})
            )

    async def card_id(self, session_id: int, round_: Round) -> str | None:
        async with self.sessions() as session:
            row = await session.get(MeetingSession, session_id)
            if row is None:
                return None
            card_id: str | None = getattr(row, COLUMNS[round_].card_id)
            return card_id

    async def record(
        self,
        feedback: FeedbackSession,
        person: Holder,
        round_: Round,
        answer: Answer,
        *,
        may_join: bool,
    ) -> Recorded:
        """Stores the answer once. `may_join`: someone the bot never saw in the session (a
        press in its meeting chat) becomes a participant; a 1:1 press does not."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            known = await session.get(SessionParticipant, (feedback.id, person.id))
            if known is None:
                if not may_join:
                    return Recorded.NOT_THEIRS
                await self._join(session, feedback, person, round_, now)
            values: dict[str, Any] = {answered_column(round_).key: now}
            if round_ is Round.AFTER:
                values["feedback_status"] = Asked.ANSWERED.value
            if answer.agency:
                values["agency"] = answer.agency
            claimed = await session.execute(
                update(SessionParticipant)
                .where(
                    SessionParticipant.session_id == feedback.id,
                    SessionParticipant.person_id == person.id,
                    answered_column(round_).is_(None),
                )
                .values(values)
                .execution_options(synchronize_session=False)
            )
            if rows_changed(claimed) != 1:
                return Recorded.ALREADY
            session.add(
                FeedbackResponse(
                    session_id=feedback.id,
                    tenant_id=feedback.tenant_id,
                    model=feedback.model,
                    round=round_.value,
                    agency=answer.agency,
                    answered_on=self.calendar.local(now).date(),
                    score=answer.score,
                    answers=answer.answers,
                    words=answer.words,
                )
            )
            return Recorded.RECORDED

    async def _join(
        self,
        session: AsyncSession,
        feedback: FeedbackSession,
        person: Holder,
        round_: Round,
        now: datetime,
    ) -> None:
        """Someone Teams never said had joined answers in the meeting chat: they took part.
        Asked months on like the others (unless they first answer then)."""
        row = await session.get(MeetingSession, feedback.id)
        follow_up_due = None
        months = feedback.feedback.follow_up_months
        if round_ is Round.AFTER and months and row is not None and row.ended_at is not None:
            follow_up_due = follow_up_moment(row.ended_at, months, self.calendar)
        try:
            async with session.begin_nested():
                session.add(
                    SessionParticipant(
                        session_id=feedback.id,
                        person_id=person.id,
                        name=person.name[:256],
                        role=None,
                        joined_at=now,
                        feedback_status=(
                            Asked.ASKED if round_ is Round.AFTER else Asked.NOT_ASKED
                        ).value,
                        feedback_due_at=now if round_ is Round.AFTER else None,
                        feedback_asked_at=now if round_ is Round.AFTER else None,
                        follow_up_due_at=follow_up_due,
                        follow_up_asked_at=now if round_ is Round.FOLLOW_UP else None,
                    )
                )
        except IntegrityError:
            pass  # their other press added them a moment ago
