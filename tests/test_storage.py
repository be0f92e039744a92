"""SqlStorage: botbuilder's Storage contract on SQLite and PostgreSQL, with eTags."""

from __future__ import annotations

import asyncio
import os
import pickle
from collections.abc import AsyncIterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import insert, select

from bot.core.crypto import Cipher
from bot.core.database import create_engine, session_factory
from bot.core.models import BotStateRow, utcnow
from bot.referrals.model import Narrative, ReferralDraft
from bot.teams.storage import ETagConflictError, SqlStorage
from tests.conftest import TEST_KEY


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[SqlStorage]:
    engine = create_engine(database_url)
    yield SqlStorage(engine, Cipher([TEST_KEY]))
    await engine.dispose()


async def test_write_read_delete_round_trip(storage: SqlStorage) -> None:
    draft = ReferralDraft(narrative=Narrative("stuck", "help"))
    await storage.write({"a": {"draft": draft, "count": 1}})
    items = await storage.read(["a", "missing"])
    assert set(items) == {"a"}
    assert items["a"]["draft"] == draft
    assert items["a"]["e_tag"]
    await storage.delete(["a"])
    assert await storage.read(["a"]) == {}


async def test_stale_etag_is_refused_and_leaves_the_stored_item(storage: SqlStorage) -> None:
    await storage.write({"k": {"v": 1}})
    first = (await storage.read(["k"]))["k"]
    second = (await storage.read(["k"]))["k"]
    first["v"] = 2
    await storage.write({"k": first})
    second["v"] = 3
    with pytest.raises(ETagConflictError):
        await storage.write({"k": second})
    assert (await storage.read(["k"]))["k"]["v"] == 2


async def test_star_etag_overwrites(storage: SqlStorage) -> None:
    await storage.write({"k": {"v": 1}})
    await storage.write({"k": {"v": 5, "e_tag": "*"}})
    assert (await storage.read(["k"]))["k"]["v"] == 5


async def test_two_writers_at_once_one_wins(storage: SqlStorage) -> None:
    await storage.write({"k": {"v": 0}})
    a = (await storage.read(["k"]))["k"]
    b = (await storage.read(["k"]))["k"]
    a["v"], b["v"] = "a", "b"
    results = await asyncio.gather(
        storage.write({"k": a}), storage.write({"k": b}), return_exceptions=True
    )
    assert sum(isinstance(r, ETagConflictError) for r in results) == 1
    assert (await storage.read(["k"]))["k"]["v"] in {"a", "b"}


async def test_items_are_encrypted_at_rest(storage: SqlStorage, database_url: str) -> None:
    await storage.write({"k": {"secret": "Child A is stuck"}})
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            row = await session.scalar(select(BotStateRow))
    finally:
        await engine.dispose()
    assert row is not None and b"Child A" not in row.data


async def test_unreadable_state_starts_afresh_instead_of_failing(
    storage: SqlStorage, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A key that was replaced must not lock a conversation out for good."""
    await storage.write({"k": {"v": 1}})
    engine = create_engine(database_url)
    try:
        other = SqlStorage(engine, Cipher([Fernet.generate_key().decode()]))
        assert await other.read(["k"]) == {}
        assert "cannot be read (DecryptionError)" in caplog.text
        await other.write({"k": {"v": 2}})  # and the conversation can go on
        assert (await other.read(["k"]))["k"]["v"] == 2
    finally:
        await engine.dispose()


def _exploit_ran() -> bool:
    return os.path.exists("/tmp/pwned-by-state")


class _Exploit:
    def __reduce__(self) -> tuple:
        return (os.system, ("touch /tmp/pwned-by-state",))


async def test_state_cannot_unpickle_arbitrary_callables(
    storage: SqlStorage, database_url: str
) -> None:
    """Even with the key (say it leaked), stored state cannot make the bot run code."""
    payload = Cipher([TEST_KEY]).encrypt_bytes(pickle.dumps({"x": _Exploit()}))
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(BotStateRow).values(key="evil", etag="e1", data=payload, updated_at=utcnow())
            )
    finally:
        await engine.dispose()
    assert await storage.read(["evil"]) == {}
    assert not _exploit_ran()


async def test_key_rotation_reads_old_items(storage: SqlStorage, database_url: str) -> None:
    await storage.write({"k": {"v": 1}})
    engine = create_engine(database_url)
    try:
        rotated = SqlStorage(engine, Cipher([Fernet.generate_key().decode(), TEST_KEY]))
        assert (await rotated.read(["k"]))["k"]["v"] == 1
    finally:
        await engine.dispose()
