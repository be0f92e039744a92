"""Answering a request: the person resolved, every table searched, then exported or erased
in one transaction, and audited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core import audit
from bot.core.audit import OPERATOR, Action, Actor
from bot.core.crypto import Cipher
from bot.privacy.subjects.audit_log import audit_details, audit_log
from bot.privacy.subjects.bot_state import bot_state
from bot.privacy.subjects.desks import further_reflections, triage_desks
from bot.privacy.subjects.findings import Findings, counts_text
from bot.privacy.subjects.outbox import outbox
from bot.privacy.subjects.people import people, personal_chats
from bot.privacy.subjects.referrals import referral_questions, referrals
from bot.privacy.subjects.search import Search
from bot.privacy.subjects.sessions import (
    meeting_sessions,
    session_contributions,
    session_participants,
)
from bot.privacy.subjects.subject import resolve
from bot.privacy.subjects.sweep import sweep

# People and chats first, then referrals: their emails, names, Teams ids and 1:1
# conversations, with which the later tables are searched. Audit details last, once every
# name stored beside their ids is known.
TABLES: tuple[Callable[[Search], Awaitable[None]], ...] = (
    people,
    personal_chats,
    referrals,
    referral_questions,
    meeting_sessions,
    session_participants,
    session_contributions,
    triage_desks,
    further_reflections,
    audit_log,
    outbox,
    bot_state,
    audit_details,
)


async def export(
    sessions: async_sessionmaker[AsyncSession],
    cipher: Cipher,
    *,
    person_id: str | None = None,
    email: str | None = None,
    actor: Actor = OPERATOR,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Everything stored about the person, as JSON (Findings.as_json); audited."""
    now = now or datetime.now(UTC)
    async with sessions() as session:
        search = await _search(session, cipher, person_id, email, erase=False)
        found = search.found
        for item in await sweep(search, new_only=True):
            found.add(item)
        rows = found.rows_by_table()
        detail = f"subject {found.pseudonym}; {len(found.items)} items; " + counts_text(rows)
        session.add(audit.entry(actor, Action.SUBJECT_EXPORTED, detail=detail))
        await session.commit()
    return found.as_json(now)


async def erase(
    sessions: async_sessionmaker[AsyncSession],
    cipher: Cipher,
    *,
    person_id: str | None = None,
    email: str | None = None,
    actor: Actor = OPERATOR,
    dry_run: bool = False,
) -> Findings:
    """Erases or pseudonymises everything stored about the person, in one transaction, and
    audits it. A dry run is the same erasure rolled back, and not audited (nothing changed)."""
    async with sessions() as session:
        search = await _search(session, cipher, person_id, email, erase=True)
        found = search.found
        found.remaining = await sweep(search, new_only=False)
        found.dry_run = dry_run
        if dry_run:
            await session.rollback()
            return found
        detail = f"subject {found.pseudonym}; " + counts_text(found.changed_by_table())
        session.add(audit.entry(actor, Action.SUBJECT_ERASED, detail=detail))
        await session.commit()
    return found


async def _search(
    session: AsyncSession, cipher: Cipher, person_id: str | None, email: str | None, erase: bool
) -> Search:
    subject = await resolve(session, cipher, person_id, email)
    search = Search(session, cipher, subject, erase=erase)
    for table in TABLES:
        await table(search)
    await session.flush()
    return search
