"""How long the retention purge takes, and how much memory it needs, on a year's backlog.

    .venv/bin/python bench/purge.py                       # 2,000 closed referrals, SQLite
    .venv/bin/python bench/purge.py --referrals 20000     # a bigger backlog
    .venv/bin/python bench/purge.py --postgres            # a fresh PostgreSQL database

Plants, in a fresh migrated database (a SQLite file in a temporary directory, or a PostgreSQL
database dropped afterwards), N referrals closed two years ago, each with a question, an ended
session with 4 participants and 6 contributions, and 2 sent outbox rows; N people last seen two
years ago with their 1:1 references; N abandoned dialog states; 5N audit entries seven years
old. Then runs the purge as the scheduler does (the real bot.privacy.retention.purge, with
its default batch), first as a dry run, then for real, and prints each one's time and rows
per second. Memory: the peak of Python's allocations (tracemalloc) during one more dry run,
run first and not timed, since tracing slows it. Exits 1 if the dry run and the real run
disagree, or a second run finds anything left.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.core.crypto import Cipher  # noqa: E402
from bot.core.database import create_engine, session_factory  # noqa: E402
from bot.core.models import (  # noqa: E402
    AuditEntry,
    BotStateRow,
    MeetingSession,
    OutboxMessage,
    Person,
    PersonalChat,
    ReferralQuestion,
    ReferralRow,
    SessionContribution,
    SessionParticipant,
)
from bot.privacy.retention import Periods, Purged, purge  # noqa: E402
from tests.support.databases import POSTGRES_DSN, postgres_database, sqlite_database  # noqa: E402

NOW = datetime(2027, 6, 1, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=730)
PERIODS = Periods(
    case=timedelta(days=365),
    people=timedelta(days=365),
    drafts=timedelta(days=30),
    audit=timedelta(days=2190),
)
PLANT_BATCH = 250


def _case(n: int, cipher: Cipher) -> ReferralRow:
    return ReferralRow(
        reference=f"RP-2025-{n:06d}",
        status="completed",
        created_at=LONG_AGO,
        updated_at=LONG_AGO,
        tenant_id="t",
        referrer_id=f"referrer-{n}",
        referrer_name=f"Referrer {n}",
        conversation_reference={"user": {"id": f"29:{n}", "name": f"Referrer {n}"}},
        kind="child_family",
        model="think_space",
        agency="School",
        role="DSL",
        is_lead_professional=True,
        manager_agreed=True,
        manager_name=f"Manager {n}",
        manager_email=f"manager{n}@example.org",
        invitees=[{"name": f"Invitee {n}", "agency": "Health", "email": f"i{n}@example.org"}],
        narrative_encrypted=cipher.encrypt('{"what_is_stuck": "x", "help_wanted": "y"}'),
        decided_by_id="admin",
        decided_by_name="Admin",
        session_at=LONG_AGO,
    )


async def plant(url: str, cipher: Cipher, referrals: int) -> None:
    engine = create_engine(url, cipher=cipher)
    sessions = session_factory(engine)
    for start in range(0, referrals, PLANT_BATCH):
        numbers = range(start, min(referrals, start + PLANT_BATCH))
        async with sessions() as session, session.begin():
            cases = [_case(n, cipher) for n in numbers]
            session.add_all(cases)
            await session.flush()
            meetings = [
                MeetingSession(
                    reference=case.reference,
                    referral_id=case.id,
                    tenant_id="t",
                    conversation_id=f"19:meeting-{case.id}",
                    conversation_reference={"user": {"name": "Facilitator"}},
                    model="think_space",
                    protocol={},
                    plan=[],
                    facilitator_id="facilitator",
                    facilitator_name="Facilitator",
                    roles={"presenter": [{"id": "p", "name": "Presenter"}]},
                    status="ended",
                    time_spent=[600.0],
                    created_by_id="facilitator",
                    created_at=LONG_AGO,
                    ended_at=LONG_AGO,
                )
                for case in cases
            ]
            session.add_all(meetings)
            await session.flush()
            for case, meeting in zip(cases, meetings, strict=True):
                session.add(
                    ReferralQuestion(
                        referral_id=case.id,
                        asked_by_id="admin",
                        asked_by_name="Admin",
                        question_encrypted=cipher.encrypt("a question"),
                    )
                )
                session.add_all(
                    SessionParticipant(
                        session_id=meeting.id, person_id=f"p{case.id}-{i}", name=f"P {i}"
                    )
                    for i in range(4)
                )
                session.add_all(
                    SessionContribution(
                        session_id=meeting.id,
                        step=i,
                        kind="hope",
                        author_id=f"p{case.id}-{i % 4}",
                        author_name="P",
                        content_encrypted=cipher.encrypt("a hope"),
                    )
                    for i in range(6)
                )
                session.add_all(
                    OutboxMessage(
                        due_at=LONG_AGO,
                        kind="person",
                        target={"person_id": case.referrer_id},
                        referral_id=case.id,
                        sent_at=NOW - timedelta(days=1),
                    )
                    for _ in range(2)
                )
            for n in numbers:
                session.add(
                    Person(
                        person_id=f"person-{n}",
                        tenant_id="t",
                        name=f"Person {n}",
                        email=f"person{n}@example.org",
                        first_seen_at=LONG_AGO,
                        last_seen_at=LONG_AGO,
                    )
                )
                session.add(
                    PersonalChat(
                        person_id=f"person-{n}",
                        conversation_reference={"user": {"name": f"Person {n}"}},
                        updated_at=LONG_AGO,
                    )
                )
                session.add(
                    BotStateRow(
                        key=f"msteams/conversations/{n}",
                        etag="1",
                        data=cipher.encrypt_bytes(b"draft"),
                        updated_at=LONG_AGO,
                    )
                )
                session.add_all(
                    AuditEntry(
                        at=NOW - timedelta(days=2600),
                        actor_id=f"actor-{n}",
                        actor_name="Actor",
                        action="triage.declined",
                    )
                    for _ in range(5)
                )
    await engine.dispose()


async def measure(url: str, cipher: Cipher, dry_run: bool) -> tuple[float, Purged]:
    engine = create_engine(url, cipher=cipher)
    started = time.perf_counter()
    purged = await purge(session_factory(engine), cipher, PERIODS, NOW, dry_run=dry_run)
    took = time.perf_counter() - started
    await engine.dispose()
    return took, purged


async def peak_mib(url: str, cipher: Cipher) -> float:
    tracemalloc.start()
    await measure(url, cipher, dry_run=True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


async def run(options: argparse.Namespace) -> int:
    cipher = Cipher([Fernet.generate_key().decode()])
    with tempfile.TemporaryDirectory() as directory:
        database = (
            postgres_database(POSTGRES_DSN, "bench_purge")
            if options.postgres
            else sqlite_database(Path(directory))
        )
        async with database as url:
            started = time.perf_counter()
            await plant(url, cipher, options.referrals)
            print(
                f"planted {options.referrals} closed referrals and their rows "
                f"({'PostgreSQL' if options.postgres else 'SQLite'}) "
                f"in {time.perf_counter() - started:.1f} s"
            )
            print(
                f"peak Python allocations during a dry run: {await peak_mib(url, cipher):.1f} MiB"
            )
            results = {}
            for name, dry_run in (("dry run", True), ("purge", False), ("second purge", False)):
                took, purged = await measure(url, cipher, dry_run)
                results[name] = purged.counts
                rate = purged.total / took if took else 0
                print(f"{name:<13} {took:7.2f} s  {purged.total:>8} rows  {rate:>8.0f} rows/s")
            for (table, what), rows in results["purge"].items():
                print(f"  {table:<22} {rows:>8}  {what}")
    if results["dry run"] != results["purge"] or results["second purge"]:
        print("FAILED: the dry run and the purge disagree, or the second purge found more")
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--referrals", type=int, default=2000)
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
