"""Which database errors are an outage (worth Teams' retry) and which are bugs (not)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.core.outage import is_database_outage, lost_connections_as_warnings
from tests.support.databases import POSTGRES_DSN, engine_for
from tests.support.process import free_port


async def error_of(url: str, statement: str) -> BaseException:
    engine = engine_for(url, timeout_seconds=2)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    except Exception as error:  # noqa: BLE001 - the error is what the test looks at
        return error
    finally:
        await engine.dispose()
        await asyncio.sleep(0.1)  # aiosqlite's thread answers a failed connect a moment later
    raise AssertionError("the statement did not fail")


async def test_a_bug_is_not_an_outage(database_url: str) -> None:
    """SQLite raises OperationalError for a missing table: treated as an outage, every turn
    would answer 503 and Teams would retry a bug for ever."""
    assert not is_database_outage(await error_of(database_url, "SELECT * FROM no_such_table"))
    assert not is_database_outage(await error_of(database_url, "SELEC 1"))


async def test_a_database_that_cannot_be_reached_is_an_outage(tmp_path: Path) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path}/no-such-dir/bot.db"
    assert is_database_outage(await error_of(missing, "SELECT 1"))
    nobody = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres"
    assert is_database_outage(await error_of(nobody, "SELECT 1"))


async def test_a_statement_past_the_timeout_is_an_outage() -> None:
    url = POSTGRES_DSN.replace("postgresql://", "postgresql+asyncpg://", 1)
    assert is_database_outage(await error_of(url, "SELECT pg_sleep(5)"))  # timeout: 2 s


async def test_a_connection_lost_as_it_opens_is_a_warning_and_nothing_else_is_hidden(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    lost = ConnectionError("unexpected connection_lost() call")  # asyncpg's unread future
    with lost_connections_as_warnings(loop):
        loop.call_exception_handler(
            {"message": "Future exception was never retrieved", "exception": lost}
        )
        loop.call_exception_handler({"message": "a bug", "exception": ValueError("a bug")})
    levels = {record.getMessage().splitlines()[0]: record.levelno for record in caplog.records}
    assert levels == {
        "a database connection was lost while it opened (the database went away)": logging.WARNING,
        "a bug": logging.ERROR,
    }
    assert loop.get_exception_handler() is None  # put back as it was
