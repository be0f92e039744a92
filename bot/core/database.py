"""The async engine and session factory, for SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, Result, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession  # re-exported for callers

from bot.core.crypto import Cipher, cipher_from_settings
from bot.core.quiet_logs import keep_data_out_of_logs
from bot.core.sealed import seal_with

if TYPE_CHECKING:
    from bot.core.settings import Settings


def create_engine(
    database_url: str, timeout_seconds: float = 10.0, cipher: Cipher | None = None
) -> AsyncEngine:
    """`timeout_seconds` bounds the wait for a connection and for each statement, so a
    database that is down or frozen fails a turn quickly instead of hanging it. `cipher`
    encrypts and decrypts the sealed columns (names, emails, references); an engine without
    one can still run migrations and read everything else."""
    engine = _create(database_url, timeout_seconds)
    if cipher is not None:
        seal_with(engine.sync_engine.dialect, cipher)
    return engine


def engine_from_settings(settings: Settings) -> AsyncEngine:
    """The app's database with the app's keys: for the app and the operator commands."""
    return create_engine(
        settings.database_url,
        settings.database_timeout_seconds,
        cipher=cipher_from_settings(settings),
    )


def _create(database_url: str, timeout_seconds: float) -> AsyncEngine:
    # hide_parameters: a failing statement's message must not carry what was typed to the log;
    # nor may the drivers' own DEBUG records (parameters, rows).
    keep_data_out_of_logs()
    if database_url.startswith("sqlite"):
        # One connection: SQLite takes one writer at a time anyway, and queueing for the
        # pool is cheaper than SQLite's busy-wait sleeps when writers collide.
        engine = create_async_engine(
            database_url,
            connect_args={"timeout": timeout_seconds},
            pool_size=1,
            max_overflow=0,
            pool_timeout=timeout_seconds,
            hide_parameters=True,
        )
        _tune_sqlite(engine)
        return engine
    return create_async_engine(
        database_url,
        # asyncpg: `timeout` for connecting, `command_timeout` for each statement.
        connect_args={"timeout": timeout_seconds, "command_timeout": timeout_seconds},
        pool_size=10,
        max_overflow=10,
        pool_timeout=timeout_seconds,
        pool_pre_ping=True,
        hide_parameters=True,
    )


def _tune_sqlite(engine: AsyncEngine) -> None:
    # WAL lets readers go on while one writer commits; foreign keys are off by default.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def database_is_up(engine: AsyncEngine, within: float = 5.0) -> bool:
    """Whether a trivial query answers within `within` seconds: a health check must be quick
    (a database that cannot be opened otherwise kept /readyz waiting for the pool's 60 s)."""

    async def ping() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(ping(), within)
        return True
    except Exception:  # noqa: BLE001 - any failure, or no answer in time, means "not healthy"
        return False


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched: how the bot's claims know they won."""
    return cast(CursorResult[Any], result).rowcount
