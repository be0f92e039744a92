"""People's names, emails and conversation references are encrypted at rest, and a database
from before that (revision 0013) is encrypted in place by the migration, losing nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text

from bot.core.crypto import Cipher
from bot.core.database import create_engine, session_factory
from bot.core.migrate import alembic_config, upgrade
from bot.core.models import AuditEntry, Person, ReferralRow
from tests.support.databases import POSTGRES_DSN, TEST_KEY, engine_for, postgres_database

NAME = "Priya Marker-Nandakumar"
EMAIL = "priya.marker@example.org"
REFERENCE = {"user": {"id": "29:1", "name": NAME}, "conversation": {"id": "a:1"}}


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    name = f"rp_sealed_{uuid.uuid4().hex[:10]}"
    async with postgres_database(POSTGRES_DSN, prefix=name) as url:
        # postgres_database hands out a migrated database: start this one from nothing.
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
        yield url


async def _at_0013_with_plaintext(url: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0013")
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO referrals (reference, status, created_at, updated_at, tenant_id, "
                "referrer_id, referrer_name, conversation_reference, kind, model, agency, role, "
                "is_lead_professional, manager_agreed, manager_name, manager_email, invitees, "
                "narrative_encrypted, version, meeting_app_installed) VALUES ('RP-2026-0001', "
                "'submitted', '2026-01-05 10:00:00', '2026-01-05 10:00:00', 't', 'p1', :name, "
                ":reference, 'child_family', 'think_space', 'School', 'DSL', true, true, :name, "
                ":email, :invitees, :narrative, 0, false)"
            ),
            {
                "name": NAME,
                "email": EMAIL,
                "reference": json.dumps(REFERENCE),
                "invitees": json.dumps([{"name": NAME, "agency": "Health", "email": EMAIL}]),
                "narrative": Cipher([TEST_KEY]).encrypt("stuck"),
            },
        )
        await connection.execute(
            text(
                "INSERT INTO people (person_id, tenant_id, name, email, upn, first_seen_at) "
                "VALUES ('p1', 't', :name, :email, :email, '2026-01-05 10:00:00')"
            ),
            {"name": NAME, "email": EMAIL},
        )
        await connection.execute(
            text(
                "INSERT INTO audit_log (at, actor_id, actor_name, action, detail) VALUES "
                "('2026-01-05 10:00:00', 'p1', :name, 'triage.accepted', :detail)"
            ),
            {"name": NAME, "detail": f"model think_space; facilitator {NAME}"},
        )
    await engine.dispose()


async def test_the_migration_encrypts_what_was_stored_in_plain(
    empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _at_0013_with_plaintext(empty_url)
    monkeypatch.setenv("ENCRYPTION_KEYS", TEST_KEY)
    await asyncio.to_thread(upgrade, empty_url)

    raw = create_engine(empty_url)
    async with raw.connect() as connection:
        stored = [
            str(value)
            for table in ("referrals", "people", "audit_log")
            for row in await connection.execute(text(f"SELECT * FROM {table}"))
            for value in row
        ]
    await raw.dispose()
    assert not [value for value in stored if "marker" in value.lower()]

    engine = engine_for(empty_url)
    async with session_factory(engine)() as session:
        referral = await session.scalar(select(ReferralRow))
        person = await session.get(Person, "p1")
        entry = await session.scalar(select(AuditEntry))
    await engine.dispose()
    assert referral is not None and person is not None and entry is not None
    assert (referral.referrer_name, referral.manager_email) == (NAME, EMAIL)
    assert referral.conversation_reference == REFERENCE
    assert referral.invitees == [{"name": NAME, "agency": "Health", "email": EMAIL}]
    assert (person.name, person.email) == (NAME, EMAIL)
    assert person.email_hash in Cipher([TEST_KEY]).lookup_hashes(EMAIL)
    assert person.last_seen_at is not None
    assert (entry.actor_name, entry.detail) == (NAME, "model think_space")


async def test_the_migration_refuses_to_run_on_data_without_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await _at_0013_with_plaintext(url)
    monkeypatch.setenv("ENCRYPTION_KEYS", "")
    with pytest.raises(RuntimeError, match="set ENCRYPTION_KEYS"):
        await asyncio.to_thread(upgrade, url)


async def test_an_engine_without_the_cipher_cannot_read_sealed_columns(
    database_url: str,
) -> None:
    engine = engine_for(database_url)
    async with session_factory(engine)() as session, session.begin():
        session.add(Person(person_id="p2", tenant_id="t", name=NAME))
    await engine.dispose()

    raw = create_engine(database_url)
    async with raw.connect() as connection:
        stored = await connection.scalar(text("SELECT name FROM people"))
    async with session_factory(raw)() as session:
        with pytest.raises(RuntimeError, match="no cipher"):
            await session.get(Person, "p2")
    await raw.dispose()
    assert NAME not in str(stored)
    assert Cipher([TEST_KEY]).decrypt(str(stored).encode()) == NAME
