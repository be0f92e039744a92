"""The audit log: who did what to which referral, and when. `python -m bot.core.audit REF` lists it.

Entries never hold case text: only ids, names, actions and short non-case details.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.expression import ColumnElement

from bot.core.models import AuditEntry, Person, ReferralRow
from bot.core.pseudonym import PREFIX


@dataclass(frozen=True)
class Actor:
    """Who did something: the id the audit log keeps, and a name people can read."""

    id: str
    name: str


OPERATOR = Actor("operator", "operator")


def operator() -> Actor:
    """Who runs an operator command (rotation, subject requests): their login name if any."""
    try:
        return Actor("operator", getpass.getuser())
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return OPERATOR


class Action:
    """The actions the log records, named once."""

    SUBMITTED = "referral.submitted"
    NARRATIVE_READ = "referral.narrative_read"
    DETAILS_VIEWED = "triage.details_viewed"
    DESK_REGISTERED = "triage.desk_registered"
    ACCEPTED = "triage.accepted"
    MORE_INFO_REQUESTED = "triage.more_info_requested"
    ANSWER_RECEIVED = "referral.answer_received"
    DECLINED = "triage.declined"
    WITHDRAWN = "triage.withdrawn"
    SCHEDULED = "triage.scheduled"
    SESSION_CANCELLED = "triage.session_cancelled"
    FIND_TIMES = "triage.find_times"
    BOOKING_RETRIED = "triage.booking_retried"
    REFUSED = "triage.refused"  # someone who is not an admin pressed an admin button
    LOST_RACE = "triage.already_decided"  # a second admin pressed on a decided referral
    AUDIT_READ = "audit.read"
    REPORT_SHOWN = "report.shown"  # the partnership's figures (detail: the period, the desk)
    REPORT_DOWNLOADED = "report.downloaded"  # the same, taken as CSV
    # The further reflection meeting months on (bot.further_reflection; detail: "<reference>: ...")
    FURTHER_BOOKING = "further_reflection.booking"
    FURTHER_BOOKED_BY_HAND = "further_reflection.booked_by_hand"
    FURTHER_NOT_NEEDED = "further_reflection.not_needed"
    SESSION_SET_UP = "session.set_up"
    SESSION_ENDED = "session.ended"
    RETENTION_PURGE = "privacy.retention_purge"
    KEYS_ROTATED = "privacy.keys_rotated"
    SUBJECT_EXPORTED = "privacy.subject_exported"  # detail: the subject's pseudonym, counts
    SUBJECT_ERASED = "privacy.subject_erased"


def entry(
    actor: Actor, action: str, referral_id: int | None = None, detail: str = ""
) -> AuditEntry:
    return AuditEntry(
        actor_id=actor.id,
        actor_name=actor.name[:256],
        action=action,
        referral_id=referral_id,
        detail=detail[:500],
    )


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor_id: str
    actor_name: str
    action: str
    detail: str

    @property
    def pseudonymised(self) -> bool:
        """The actor's id was replaced by a stand-in (retention, or an erasure request)."""
        return self.actor_id.startswith(PREFIX)


async def lines_for(
    sessions: async_sessionmaker[AsyncSession], reference: str
) -> list[AuditLine] | None:
    """The referral's audit trail, oldest first; None when there is no such referral."""
    async with sessions() as session:
        referral_id = await session.scalar(
            select(ReferralRow.id).where(ReferralRow.reference == reference)
        )
        if referral_id is None:
            return None
        return await lines_where(session, AuditEntry.referral_id == referral_id)


async def lines_where(session: AsyncSession, *conditions: ColumnElement[bool]) -> list[AuditLine]:
    """The entries that meet `conditions`, oldest first. An entry stored without a name (a
    read by id only) gets the name the bot knows for that person, if it knows one."""
    rows = list(
        await session.scalars(
            select(AuditEntry).where(*conditions).order_by(AuditEntry.at, AuditEntry.id)
        )
    )
    unnamed = {row.actor_id for row in rows if not row.actor_name and row.actor_id}
    known: dict[str, str] = {}
    if unnamed:
        people = await session.execute(
            select(Person.person_id, Person.name).where(Person.person_id.in_(unnamed))
        )
        known = {person_id: name for person_id, name in people.tuples() if name}
    return [
        AuditLine(
            row.at,
            row.actor_id,
            row.actor_name or known.get(row.actor_id, ""),
            row.action,
            row.detail,
        )
        for row in rows
    ]


def format_lines(lines: list[AuditLine]) -> str:
    return "\n".join(
        f"{line.at:%Y-%m-%d %H:%M:%S} UTC  {line.action:<26} "
        f"{line.actor_name or '-'} ({line.actor_id})" + (f"  {line.detail}" if line.detail else "")
        for line in lines
    )


async def _print_trail(reference: str) -> int:
    from bot.core.database import engine_from_settings, session_factory
    from bot.core.settings import Settings

    engine = engine_from_settings(Settings())
    try:
        lines = await lines_for(session_factory(engine), reference)
    finally:
        await engine.dispose()
    if lines is None:
        print(f"No referral {reference}.", file=sys.stderr)
        return 1
    print(format_lines(lines) or "(no entries)")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Print a referral's audit trail.")
    parser.add_argument("reference", help="for example RP-2026-0001")
    sys.exit(asyncio.run(_print_trail(parser.parse_args().reference)))


if __name__ == "__main__":
    main()
