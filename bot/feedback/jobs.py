"""The feedback job: asks each session's participants once it has ended, reminds once, and
asks again months on. Runs on every scheduler tick; cheap when there is nothing to do.

Each tick looks things up by index only: participants whose feedback is `due` (or `asked`,
waiting for its reminder) by their status, and questions months on by `follow_up_due_at`,
in a window of the last weeks. The work for one session is one transaction that locks its row
(PostgreSQL: `FOR UPDATE SKIP LOCKED`, so another instance passes it by) and claims each
participant with a conditional UPDATE, so with several instances on one database every card
is queued once. The cards go through the outbox (Kind.FEEDBACK_CARD), drawn when sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.database import rows_changed
from bot.core.models import MeetingSession, PersonalChat, ReferralRow, SessionParticipant
from bot.core.outbox import Kind, Message, OutboxWriter
from bot.core.protocols import Feedback
from bot.core.working_days import WorkingCalendar
from bot.feedback.model import Round
from bot.feedback.store import COLUMNS, Asked, is_over

log = logging.getLogger(__name__)

BATCH = 100
# A session that ended this long before the job first saw it is not asked after the fact
# (sessions that ended before this feature was deployed, or a bot down for weeks).
TOO_LATE = timedelta(days=7)
# Questions months on are looked for among those due in this window: wide enough for the
# longest reminder (10 working days, with bank holidays), narrow enough to stay small.
FOLLOW_UP_WINDOW = timedelta(days=21)
# No reminder comes sooner than a working day after asking: rows asked more recently than
# this are not even read.
SOONEST_REMINDER = timedelta(hours=20)


def card(session_id: int, round_: Round, *, reminder: bool = False) -> Message:
    """The session's feedback card, posted in its meeting chat."""
    target = {"round": round_.value, "reminder": reminder}
    return Message(Kind.FEEDBACK_CARD, target, None, None, session_id=session_id)


def card_for(session_id: int, round_: Round, person_id: str, *, reminder: bool = False) -> Message:
    """The same card, 1:1 to one participant (drawn when sent: not sent if they have answered)."""
    target = {"round": round_.value, "reminder": reminder, "person_id": person_id}
    return Message(Kind.FEEDBACK_CARD, target, None, None, session_id=session_id)


@dataclass
class FeedbackJob:
    sessions: async_sessionmaker[AsyncSession]
    outbox: OutboxWriter
    calendar: WorkingCalendar

    async def run_due(self, now: datetime) -> None:
        await self._after_the_session(now)
        await self._months_on(now)

    # --- after the session ------------------------------------------------------------------

    async def _after_the_session(self, now: datetime) -> None:
        async with self.sessions() as session:
            due = set(
                await session.scalars(
                    select(SessionParticipant.session_id)
                    .where(SessionParticipant.feedback_status == Asked.DUE.value)
                    .limit(BATCH)
                )
            )
            waiting = (
                await session.execute(
                    select(SessionParticipant.session_id, SessionParticipant.feedback_asked_at)
                    .where(
                        SessionParticipant.feedback_status == Asked.ASKED.value,
                        SessionParticipant.feedback_asked_at <= now - SOONEST_REMINDER,
                    )
                    .limit(BATCH * 10)
                )
            ).all()
            to_remind = await self._reminders_due(session, waiting, now)
        for session_id in sorted(due):
            await self._for_session(session_id, Round.AFTER, now)
        for session_id in sorted(to_remind - due):
            await self._for_session(session_id, Round.AFTER, now)

    # --- months on ------------------------------------------------------------------------------

    async def _months_on(self, now: datetime) -> None:
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(
                        SessionParticipant.session_id,
                        SessionParticipant.follow_up_asked_at,
                    )
                    .where(
                        SessionParticipant.follow_up_due_at > now - FOLLOW_UP_WINDOW,
                        SessionParticipant.follow_up_due_at <= now,
                        SessionParticipant.follow_up_answered_at.is_(None),
                        SessionParticipant.follow_up_reminded_at.is_(None),
                    )
                    .limit(BATCH * 10)
                )
            ).all()
            to_ask = {session_id for session_id, asked_at in rows if asked_at is None}
            asked = [
                (session_id, asked_at)
                for session_id, asked_at in rows
                if asked_at is not None and asked_at <= now - SOONEST_REMINDER
            ]
            to_remind = await self._reminders_due(session, asked, now)
        for session_id in sorted(to_ask | to_remind):
            await self._for_session(session_id, Round.FOLLOW_UP, now)

    async def _reminders_due(self, session: AsyncSession, asked: Any, now: datetime) -> set[int]:
        """The sessions with someone whose reminder has fallen due (its protocol says after
        how many working days)."""
        earliest: dict[int, datetime] = {}
        for session_id, asked_at in asked:
            if session_id not in earliest or asked_at < earliest[session_id]:
                earliest[session_id] = asked_at
        if not earliest:
            return set()
        found = await session.execute(
            select(MeetingSession.id, MeetingSession.protocol).where(
                MeetingSession.id.in_(sorted(earliest))
            )
        )
        protocols: dict[int, dict[str, Any]] = {row.id: row.protocol for row in found}
        return {
            session_id
            for session_id, asked_at in earliest.items()
            if session_id in protocols and self._reminder_at(protocols[session_id], asked_at) <= now
        }

    def _reminder_at(self, protocol: dict[str, Any], asked_at: datetime) -> datetime:
        days = Feedback.of_session(protocol).reminder_working_days
        return self.calendar.add_working_days(asked_at, days)

    # --- one session, one transaction --------------------------------------------------------

    async def _for_session(self, session_id: int, round_: Round, now: datetime) -> None:
        try:
            async with self.sessions() as session, session.begin():
                row = await session.scalar(
                    select(MeetingSession)
                    .where(MeetingSession.id == session_id)
                    .with_for_update(skip_locked=True)
                )
                if row is None:
                    return  # another instance has it, or it is gone
                referral = (
                    await session.get(ReferralRow, row.referral_id) if row.referral_id else None
                )
                participants = list(
                    await session.scalars(
                        select(SessionParticipant).where(
                            SessionParticipant.session_id == session_id
                        )
                    )
                )
                if not is_over(row, referral):
                    await self._never(session, row, round_)
                    return
                if round_ is Round.AFTER:
                    messages = await self._after(session, row, participants, now)
                else:
                    messages = await self._follow_up(session, row, participants, now)
                self.outbox.add(session, messages, now)
        except Exception:  # noqa: BLE001 - one broken session must not stop the others
            log.exception("session %d: its feedback could not be asked; trying again", session_id)

    async def _never(self, session: AsyncSession, row: MeetingSession, round_: Round) -> None:
        """Purged (its chat's address is gone): nobody is asked, and it is not looked at again."""
        if round_ is Round.AFTER:
            await session.execute(
                update(SessionParticipant)
                .where(
                    SessionParticipant.session_id == row.id,
                    SessionParticipant.feedback_status.in_([Asked.DUE.value, Asked.ASKED.value]),
                )
                .values(feedback_status=Asked.NOT_ASKED.value)
                .execution_options(synchronize_session=False)
            )
        else:
            await session.execute(
                update(SessionParticipant)
                .where(
                    SessionParticipant.session_id == row.id,
                    SessionParticipant.follow_up_asked_at.is_(None),
                )
                .values(follow_up_due_at=None)
                .execution_options(synchronize_session=False)
            )

    async def _after(
        self,
        session: AsyncSession,
        row: MeetingSession,
        participants: list[SessionParticipant],
        now: datetime,
    ) -> list[Message]:
        due = [p for p in participants if p.feedback_status == Asked.DUE.value]
        if due and row.ended_at is not None and row.ended_at < now - TOO_LATE:
            log.info("session %d ended long ago: its feedback is not asked now", row.id)
            await self._claim(
                session, row.id, [p.person_id for p in due], *_moving(Asked.DUE, Asked.NOT_ASKED)
            )
            due = []
        messages: list[Message] = []
        if due:
            before, values = _moving(Asked.DUE, Asked.ASKED)
            values["feedback_asked_at"] = now
            asked = await self._claim(session, row.id, [p.person_id for p in due], before, values)
            messages += await self._ask(session, row.id, Round.AFTER, asked, reminder=False)
        return messages + await self._remind(session, row, participants, Round.AFTER, now)

    async def _follow_up(
        self,
        session: AsyncSession,
        row: MeetingSession,
        participants: list[SessionParticipant],
        now: datetime,
    ) -> list[Message]:
        due = [
            p.person_id
            for p in participants
            if p.follow_up_due_at is not None
            and p.follow_up_due_at <= now
            and p.follow_up_asked_at is None
        ]
        asked = await self._claim(
            session,
            row.id,
            due,
            SessionParticipant.follow_up_asked_at.is_(None),
            {"follow_up_asked_at": now},
        )
        messages = await self._ask(session, row.id, Round.FOLLOW_UP, asked, reminder=False)
        return messages + await self._remind(session, row, participants, Round.FOLLOW_UP, now)

    async def _remind(
        self,
        session: AsyncSession,
        row: MeetingSession,
        participants: list[SessionParticipant],
        round_: Round,
        now: datetime,
    ) -> list[Message]:
        """The one reminder, the model's working days after asking, to whoever has not answered."""
        columns = COLUMNS[round_]
        waiting = [
            p.person_id
            for p in participants
            if (asked := getattr(p, columns.asked_at)) is not None
            and getattr(p, columns.answered_at) is None
            and getattr(p, columns.reminded_at) is None
            and self._reminder_at(row.protocol, asked) <= now
        ]
        still: Any = and_(
            getattr(SessionParticipant, columns.reminded_at).is_(None),
            getattr(SessionParticipant, columns.answered_at).is_(None),
        )
        values: dict[str, Any] = {columns.reminded_at: now}
        if round_ is Round.AFTER:  # its status says where it stands, for the look-up by index
            before, moving = _moving(Asked.ASKED, Asked.REMINDED)
            still, values = and_(still, before), {**values, **moving}
        reminded = await self._claim(session, row.id, waiting, still, values)
        return await self._ask(session, row.id, round_, reminded, reminder=True)

    async def _claim(
        self,
        session: AsyncSession,
        session_id: int,
        person_ids: list[str],
        still: Any,
        values: dict[str, Any],
    ) -> list[str]:
        """Changes each participant's row while `still` holds; returns those this call changed
        (another instance may have got there first)."""
        moved = []
        for person_id in person_ids:
            claimed = await session.execute(
                update(SessionParticipant)
                .where(
                    SessionParticipant.session_id == session_id,
                    SessionParticipant.person_id == person_id,
                    still,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if rows_changed(claimed) == 1:
                moved.append(person_id)
        return moved

    async def _ask(
        self,
        session: AsyncSession,
        session_id: int,
        round_: Round,
        person_ids: list[str],
        *,
        reminder: bool,
    ) -> list[Message]:
        """The card 1:1 to each of them the bot can reach; in the meeting chat when asking,
        and again with a reminder only when someone to remind cannot be reached 1:1."""
        if not person_ids:
            return []
        reachable = set(
            await session.scalars(
                select(PersonalChat.person_id).where(PersonalChat.person_id.in_(person_ids))
            )
        )
        one_to_one = [
            card_for(session_id, round_, person_id, reminder=reminder)
            for person_id in person_ids
            if person_id in reachable
        ]
        in_chat = not reminder or bool(set(person_ids) - reachable)
        log.info(
            "session %d: %s %s for %d people (%d 1:1, %s the chat)",
            session_id,
            round_.value,
            "reminder" if reminder else "question",
            len(person_ids),
            len(one_to_one),
            "and in" if in_chat else "not in",
        )
        return ([card(session_id, round_, reminder=reminder)] if in_chat else []) + one_to_one


def _moving(before: Asked, after: Asked) -> tuple[Any, dict[str, Any]]:
    """The condition and the values that move a participant's feedback status on."""
    return SessionParticipant.feedback_status == before.value, {"feedback_status": after.value}
