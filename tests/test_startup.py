"""Start-up that cannot half-work: an app whose database is behind its code refuses to serve
and says why; with MIGRATE_ON_START, instances started together migrate once; /readyz says
whether the schema is the one the code needs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from alembic import command
from sqlalchemy import text

from bot.core.migrate import alembic_config, expected_revision
from tests.conftest import RunningBot, make_settings
from tests.support.databases import TEST_KEY, empty_database, engine_for
from tests.support.process import BotProcess

OLDER = "0013"  # a revision before this release's newest


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with empty_database(request.param, tmp_path) as url:
        yield url


def bot_process(database_url: str, log: Path, **settings: str) -> BotProcess:
    return BotProcess(
        {
            "DATABASE_URL": database_url,
            "ENCRYPTION_KEYS": TEST_KEY,
            "MODE": "development",
            "GRAPH_ORGANISER": "",
            **settings,
        },
        log,
    )


async def exit_code(process: BotProcess, within: float = 60.0) -> int:
    spawned = process.spawn()
    code = await asyncio.wait_for(asyncio.to_thread(spawned.wait), within)
    return int(code)


async def set_revision(database_url: str, revision: str) -> None:
    engine = engine_for(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE alembic_version SET version_num = :r"), {"r": revision}
            )
    finally:
        await engine.dispose()


async def test_an_unmigrated_database_is_refused_with_a_line_saying_what_to_do(
    empty_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "bot.log"
    assert await exit_code(bot_process(empty_url, log)) == 2
    said = log.read_text()
    assert "refusing to serve: the database schema is at nothing (empty)" in said, said
    assert f"this release needs {expected_revision()}" in said
    assert "reflective-practice-migrate" in said
    assert "Traceback" not in said  # a line an operator can act on, not a stack


async def test_a_database_behind_the_code_is_refused(empty_url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(empty_url), OLDER)
    log = tmp_path / "bot.log"
    assert await exit_code(bot_process(empty_url, log)) == 2
    assert f"the database schema is at {OLDER} but this release needs" in log.read_text()
    # In process too: the app does not start, so no turn can fail half-way.
    with pytest.raises(RuntimeError, match="refusing to serve"):
        await RunningBot(make_settings(empty_url)).start()


async def test_instances_started_together_on_an_empty_database_migrate_it_once(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with empty_database("postgresql", tmp_path) as url:
        bots = [
            bot_process(url, tmp_path / f"bot-{n}.log", MIGRATE_ON_START="true") for n in (1, 2)
        ]
        try:
            await asyncio.gather(*(bot.start(http, within=120) for bot in bots))
        finally:
            for bot in bots:
                bot.stop()
        logs = [bot.log.read_text() for bot in bots]
    head = expected_revision()
    migrated = [log for log in logs if f"database schema migrated from empty to {head}" in log]
    found_done = [log for log in logs if f"database schema already at {head}" in log]
    assert len(migrated) == 1 and len(found_done) == 1, logs
    # Alembic's own record of each step appears once in all, in the one that migrated.
    assert sum(log.count("Running upgrade  -> 0001") for log in logs) == 1, logs


async def test_migrate_on_start_brings_an_older_database_up_and_serves(
    empty_url: str, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(empty_url), OLDER)
    bot = bot_process(empty_url, tmp_path / "bot.log", MIGRATE_ON_START="true")
    await bot.start(http)
    try:
        async with http.get(f"{bot.url}readyz") as response:
            assert await response.json() == {"database": "ok", "schema": "current"}
    finally:
        bot.stop()
    assert f"database schema migrated from {OLDER} to {expected_revision()}" in bot.log.read_text()


async def test_readyz_says_when_the_schema_falls_behind_and_serves_a_newer_one(
    database_url: str, http: aiohttp.ClientSession
) -> None:
    bot = RunningBot(make_settings(database_url))
    await bot.start()
    try:
        # Restored from an older backup under a running app, say.
        await set_revision(database_url, OLDER)
        async with http.get(f"{bot.url}readyz") as response:
            assert response.status == 503
            assert await response.json() == {"database": "ok", "schema": "behind"}
        # Migrated by a newer release being rolled out: this one still serves meanwhile.
        await set_revision(database_url, "0999_from_a_later_release")
        async with http.get(f"{bot.url}readyz") as response:
            assert response.status == 200
            assert await response.json() == {"database": "ok", "schema": "ahead"}
    finally:
        await bot.stop()
