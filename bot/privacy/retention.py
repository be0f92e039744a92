"""The retention purge: erases what the data map says has outlived its period.

Runs on the scheduler (hourly) and as an operator command, `python -m bot.privacy.retention
[--dry-run]`, which prints what it erases (or would), by table and count. A dry run is the
same purge rolled back, so its counts are exactly what a real run would do at that moment.

A closed referral keeps its anonymous figures (status, kind, model, agency, dates): the
columns the data map keeps under Rule.FIGURES. Its case text and names are erased, its
people's ids become pseudonyms, and the tables holding nothing but case data lose the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.expression import ColumnElement

from bot.core import audit
from bot.core.audit import Action, Actor
from bot.core.crypto import Cipher
from bot.core.database import rows_changed
from bot.core.models import (
    AuditEntry,
    Base,
    BotStateRow,
    FeedbackResponse,
    FurtherReflection,
    MeetingSession,
    OutboxMessage,
    Person,
    PersonalChat,
    ReferralQuestion,
    ReferralRow,
    SessionContribution,
    SessionParticipant,
)
from bot.core.pseudonym import PREFIX, pseudonym
from bot.core.sealed import SealedJSON
from bot.core.settings import Settings
from bot.privacy.data_map import DATA_MAP, Rule
from bot.referrals.model import ReferralStatus
from bot.sessions.timing import Status as SessionStatus

log = logging.getLogger(__name__)

# A referral is closed once nothing more will happen to it.
CLOSED = [
    ReferralStatus.DECLINED,
    ReferralStatus.WITHDRAWN,
    ReferralStatus.COMPLETED,
    ReferralStatus.NOTED_ONE_TO_ONE,
]
RUN_EVERY = timedelta(hours=1)
BATCH = 500  # referrals (or audit entries) per transaction
SYSTEM = Actor("system", "retention purge")
ERASED = "case text and names erased, ids pseudonymised"


@dataclass(frozen=True)
class Periods:
    case: timedelta
    people: timedelta
    drafts: timedelta
    audit: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Periods:
        return cls(
            case=timedelta(days=settings.retention_case_days),
            people=timedelta(days=settings.retention_people_days),
            drafts=timedelta(days=settings.retention_draft_days),
            audit=timedelta(days=settings.retention_audit_days),
        )


@dataclass
class Purged:
    """What a purge erased: rows per table and what was done to them."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, table: str, what: str, rows: int) -> None:
        if rows:
            self.counts[(table, what)] = self.counts.get((table, what), 0) + rows

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        return [f"{table:<22} {rows:>7}  {what}" for (table, what), rows in self.counts.items()]


async def purge(
    sessions: async_sessionmaker[AsyncSession],
    cipher: Cipher,
    periods: Periods,
    now: datetime,
    dry_run: bool = False,
    batch: int = BATCH,
) -> Purged:
    """Erases in batches, each its own transaction, so memory stays flat and a purge that is
    stopped keeps what it did. A dry run is one transaction, rolled back at the end: each
    batch is flushed, so the next one does not find the same rows again."""
    purged = Purged()
    async with sessions() as session:

        async def end_batch() -> None:
            if dry_run:
                await session.flush()
                session.expunge_all()
            else:
                await session.commit()

        while await _closed_cases(session, cipher, now - periods.case, now, purged, batch):
            await end_batch()
        await _people(session, now - periods.people, purged)
        await _drafts(session, now - periods.drafts, purged)
        await end_batch()
        while await _audit_actors(session, cipher, now - periods.audit, purged, batch):
            await end_batch()
        if dry_run:
            await session.rollback()
            return purged
        if purged.total:
            detail = ", ".join(f"{table} {rows}" for (table, _), rows in purged.counts.items())
            session.add(audit.entry(SYSTEM, Action.RETENTION_PURGE, detail=detail))
        await session.commit()
    return purged


async def _closed_cases(
    session: AsyncSession,
    cipher: Cipher,
    cutoff: datetime,
    now: datetime,
    purged: Purged,
    batch: int,
) -> bool:
    """One batch of closed cases erased; False when there were none left."""
    referrals = list(
        await session.scalars(
            select(ReferralRow)
            .where(
                ReferralRow.purged_at.is_(None),
                or_(
                    and_(ReferralRow.status.in_(CLOSED), ReferralRow.updated_at < cutoff),
                    # Scheduled and long past: the session was held, with or without the bot.
                    and_(
                        ReferralRow.status == ReferralStatus.SCHEDULED,
                        ReferralRow.session_at < cutoff,
                    ),
                ),
            )
            .order_by(ReferralRow.id)
            .limit(batch)
        )
    )
    for referral in referrals:
        erase_case_columns(referral, "referrals", cipher)
        referral.purged_at = now
    purged.add("referrals", ERASED, len(referrals))
    await session.flush()  # purged_at set: their sessions are found below, in this batch or later
    referral_ids = [referral.id for referral in referrals]
    await _delete(session, purged, ReferralQuestion, ReferralQuestion.referral_id.in_(referral_ids))
    await _delete(session, purged, OutboxMessage, OutboxMessage.referral_id.in_(referral_ids))
    meetings = list(
        await session.scalars(
            select(MeetingSession)
            .where(
                MeetingSession.purged_at.is_(None),
                MeetingSession.status == SessionStatus.ENDED,
                or_(
                    MeetingSession.referral_id.in_(
                        select(ReferralRow.id).where(ReferralRow.purged_at.is_not(None))
                    ),
                    and_(MeetingSession.referral_id.is_(None), MeetingSession.ended_at < cutoff),
                ),
            )
            .order_by(MeetingSession.id)
            .limit(batch)
        )
    )
    session_ids = [meeting.id for meeting in meetings]
    participants = list(
        await session.scalars(
            select(SessionParticipant).where(SessionParticipant.session_id.in_(session_ids))
        )
    )
    for meeting in meetings:
        erase_case_columns(meeting, "meeting_sessions", cipher)
        meeting.purged_at = now
    for participant in participants:
        erase_case_columns(participant, "session_participants", cipher)
    purged.add("meeting_sessions", ERASED, len(meetings))
    purged.add("session_participants", ERASED, len(participants))
    # The further reflection keeps its dates and outcome; its links and who decided go.
    reflections = list(
        await session.scalars(
            select(FurtherReflection).where(FurtherReflection.session_id.in_(session_ids))
        )
    )
    for reflection in reflections:
        erase_case_columns(reflection, "further_reflections", cipher)
    purged.add("further_reflections", ERASED, len(reflections))
    await session.flush()
    await _delete(
        session, purged, SessionContribution, SessionContribution.session_id.in_(session_ids)
    )
    # The feedback stays (the partnership's figures); what people wrote goes with the case.
    words = await session.execute(
        update(FeedbackResponse)
        .where(FeedbackResponse.session_id.in_(session_ids), FeedbackResponse.words.is_not(None))
        .values(words=None)
        .execution_options(synchronize_session=False)
    )
    purged.add("feedback_responses", ERASED, rows_changed(words))
    await _delete(session, purged, OutboxMessage, OutboxMessage.session_id.in_(session_ids))
    return bool(referrals or meetings)


async def _delete(
    session: AsyncSession, purged: Purged, model: type[Base], where: ColumnElement[bool]
) -> None:
    """Deletes the rows of `model` that go with a closed case."""
    result = await session.execute(delete(model).where(where))
    purged.add(model.__tablename__, "deleted with their closed referral", rows_changed(result))


def erase_case_columns(
    row: Any, table: str, cipher: Cipher, only: Collection[str] | None = None
) -> None:
    """Blanks the columns the data map erases with the case; pseudonymises its people's ids.
    `only`: just these columns (a subject erasure, bot.privacy.subjects)."""
    columns = Base.metadata.tables[table].columns
    for name, (_, rule) in DATA_MAP[table].columns.items():
        if only is not None and name not in only:
            continue
        value = getattr(row, name)
        if rule is Rule.CASE_PSEUDONYM and value:
            setattr(row, name, pseudonym(cipher, value))
        elif rule is Rule.CASE and value is not None:
            setattr(row, name, blank(columns[name], value))


def blank(column: Column[Any], value: Any) -> Any:
    """What an erased value becomes: NULL where the column allows it, else empty."""
    if value is None or column.nullable:
        return None
    if isinstance(column.type, SealedJSON):
        return type(value)()  # {} or []
    return ""


async def _people(session: AsyncSession, cutoff: datetime, purged: Purged) -> None:
    last_use = func.coalesce(Person.last_seen_at, Person.learnt_at, Person.first_seen_at)
    gone = list(await session.scalars(select(Person.person_id).where(last_use < cutoff)))
    result = await session.execute(delete(Person).where(Person.person_id.in_(gone)))
    purged.add("people", "not seen within the period", rows_changed(result))
    result = await session.execute(
        delete(PersonalChat).where(
            or_(
                PersonalChat.person_id.in_(gone),
                and_(
                    PersonalChat.updated_at < cutoff,
                    PersonalChat.person_id.not_in(select(Person.person_id)),
                ),
            )
        )
    )
    purged.add("personal_chats", "of people not seen within the period", rows_changed(result))


async def _drafts(session: AsyncSession, cutoff: datetime, purged: Purged) -> None:
    result = await session.execute(delete(BotStateRow).where(BotStateRow.updated_at < cutoff))
    purged.add("bot_state", "unfinished forms and dialog state left alone", rows_changed(result))


async def _audit_actors(
    session: AsyncSession, cipher: Cipher, cutoff: datetime, purged: Purged, batch: int
) -> bool:
    entries = list(
        await session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.at < cutoff,
                AuditEntry.actor_id != "",
                AuditEntry.actor_id.not_like(f"{PREFIX}%"),
            )
            .order_by(AuditEntry.id)
            .limit(batch)
        )
    )
    for entry in entries:
        entry.actor_id = pseudonym(cipher, entry.actor_id)
        entry.actor_name = ""
    purged.add("audit_log", "actors pseudonymised (entries kept)", len(entries))
    return bool(entries)


@dataclass
class RetentionJob:
    """The scheduled purge: at most once an hour, whatever wakes the scheduler."""

    sessions: async_sessionmaker[AsyncSession]
    cipher: Cipher
    periods: Periods
    _next: datetime | None = None

    async def __call__(self, now: datetime) -> datetime:
        if self._next is None or now >= self._next:
            purged = await purge(self.sessions, self.cipher, self.periods, now)
            if purged.total:
                log.info("retention purge: %s", "; ".join(_counts(purged.counts.items())))
            self._next = now + RUN_EVERY
        return self._next


def _counts(items: Iterable[tuple[tuple[str, str], int]]) -> Iterable[str]:
    return (f"{table} {rows} ({what})" for (table, what), rows in items)


async def _run(dry_run: bool) -> None:
    from bot.core.clock import SystemClock
    from bot.core.database import engine_from_settings, session_factory
    from bot.core.sealed import cipher_of

    settings = Settings()
    engine = engine_from_settings(settings)
    try:
        purged = await purge(
            session_factory(engine),
            cipher_of(engine.sync_engine.dialect),
            Periods.from_settings(settings),
            SystemClock().now(),
            dry_run=dry_run,
        )
    finally:
        await engine.dispose()
    heading = "Would erase (dry run, nothing changed):" if dry_run else "Erased:"
    print(heading if purged.total else "Nothing is past its retention period.")
    for line in purged.lines():
        print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Erase what is past its retention period.")
    parser.add_argument("--dry-run", action="store_true", help="say what, change nothing")
    asyncio.run(_run(parser.parse_args().dry_run))
    sys.exit(0)


if __name__ == "__main__":
    main()
