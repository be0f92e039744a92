"""Real databases for tests: a fresh SQLite file and a fresh PostgreSQL database per test.

Running the migrations was most of a test's setup, so each pytest process (each xdist
worker) migrates one template per engine, once (`MigratedTemplates`), and every test gets a
copy of it: SQLite copies the file, PostgreSQL clones it with CREATE DATABASE ... TEMPLATE.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.crypto import Cipher, DecryptionError
from bot.core.database import create_engine
from bot.core.migrate import upgrade_async
from bot.core.models import Base

# The key every test app encrypts with (make_settings), so tests can read what it stored.
TEST_KEY = Fernet.generate_key().decode()

# The server `.ci/run` makes sure is running; override with TEST_POSTGRES_DSN.
POSTGRES_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
# "gw0", "gw1", ... under pytest-xdist; "main" when the tests run in one process.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def engine_for(url: str, timeout_seconds: float = 10.0) -> AsyncEngine:
    """An engine on a test database that reads its sealed columns with the tests' key."""
    return create_engine(url, timeout_seconds, cipher=Cipher([TEST_KEY]))


@dataclass(frozen=True)
class Stored:
    """One stored value, readable: where it is (table, the row's primary key, column)."""

    table: str
    key: tuple[Any, ...]
    column: str
    text: str


async def stored_values(url: str) -> list[Stored]:
    """Every value of every column of every table, encrypted ones decrypted: sealed columns
    by the engine, Fernet tokens in binary columns (pickled dialog state included) here."""
    cipher = Cipher([TEST_KEY])
    found: list[Stored] = []
    engine = engine_for(url)
    try:
        async with engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                key_columns = [column.name for column in table.primary_key.columns]
                for row in (await connection.execute(select(table))).mappings():
                    key = tuple(row[name] for name in key_columns)
                    found.extend(
                        Stored(table.name, key, column, readable(value, cipher))
                        for column, value in row.items()
                    )
    finally:
        await engine.dispose()
    return found


async def everything_stored(url: str) -> str:
    """Every stored value, encrypted ones decrypted: to look for what must not be kept."""
    return "\n".join(value.text for value in await stored_values(url))


def readable(value: Any, cipher: Cipher) -> str:
    if isinstance(value, bytes):
        with suppress(DecryptionError):
            value = cipher.decrypt_bytes(value)
        # Pickled state keeps its strings as UTF-8 bytes: searchable once decoded.
        return value.decode("utf-8", "replace")
    return str(value)


@asynccontextmanager
async def sqlite_database(directory: Path, template: Path | None = None) -> AsyncIterator[str]:
    """A new SQLite file in `directory`: a copy of the migrated `template`, or migrated here."""
    path = directory / f"test-{uuid.uuid4().hex[:8]}.db"
    if template is None:
        await upgrade_async(_sqlite_url(path))
    else:
        shutil.copyfile(template, path)
    yield _sqlite_url(path)


@asynccontextmanager
async def postgres_database(
    dsn: str = POSTGRES_DSN, prefix: str = "rp_test", template: str | None = None
) -> AsyncIterator[str]:
    """A new database on the server at `dsn`, dropped afterwards: a clone of the migrated
    database `template`, or migrated here."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    if template is None:
        await _create_migrated(dsn, name)
    else:
        await _admin(dsn, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _postgres_url(dsn, name)
    finally:
        await _admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def empty_database(kind: str, directory: Path) -> AsyncIterator[str]:
    """A database with nothing in it, not even the migrations' own table ("sqlite" or
    "postgresql"), dropped afterwards."""
    if kind == "sqlite":
        yield _sqlite_url(directory / f"empty-{uuid.uuid4().hex[:8]}.db")
        return
    name = f"rp_empty_{uuid.uuid4().hex[:12]}"
    await _admin(POSTGRES_DSN, f'CREATE DATABASE "{name}"')
    try:
        yield _postgres_url(POSTGRES_DSN, name)
    finally:
        await _admin(POSTGRES_DSN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class MigratedTemplates:
    """This process's migrated templates, each made when a test first asks for it."""

    def __init__(self, directory: Path, dsn: str = POSTGRES_DSN) -> None:
        self._directory = directory
        self._dsn = dsn
        self._sqlite: Path | None = None
        self._postgres: str | None = None

    @asynccontextmanager
    async def sqlite(self, directory: Path) -> AsyncIterator[str]:
        if self._sqlite is None:
            template = self._directory / "template.db"
            await upgrade_async(_sqlite_url(template))
            # Copying the file is a full copy only if the migration left no write-ahead log.
            assert not template.with_name(f"{template.name}-wal").exists()
            self._sqlite = template
        async with sqlite_database(directory, self._sqlite) as url:
            yield url

    @asynccontextmanager
    async def postgres(self) -> AsyncIterator[str]:
        if self._postgres is None:
            # Unique per run: two runs at once (another checkout) never share a template.
            name = f"rp_template_{WORKER}_{uuid.uuid4().hex[:8]}"
            await _create_migrated(self._dsn, name)
            self._postgres = name
        async with postgres_database(self._dsn, template=self._postgres) as url:
            yield url

    def close(self) -> None:
        """Drops the PostgreSQL template; the SQLite one goes with pytest's tmp directory."""
        if self._postgres is not None:
            statement = f'DROP DATABASE IF EXISTS "{self._postgres}" WITH (FORCE)'
            asyncio.run(_admin(self._dsn, statement))


async def _create_migrated(dsn: str, name: str) -> None:
    await _admin(dsn, f'CREATE DATABASE "{name}"')
    try:
        await upgrade_async(_postgres_url(dsn, name))
    except BaseException:
        await _admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        raise


async def _admin(dsn: str, statement: str) -> None:
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


def _postgres_url(dsn: str, name: str) -> str:
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"
