"""SIGTERM, as a host sends it during a deploy or a scale-in: turns under way finish, and a
message cut off mid-send is given back at once, not held for the outbox's two-minute lease.

The bot runs as a real process; the loopback Bot Connector holds the message being sent.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.core.models import OutboxMessage
from tests.support.client import TeamsUser, card_text, cards_in
from tests.support.connector import FakeConnector
from tests.support.databases import engine_for
from tests.support.meeting import MEETING_CHAT, MEETING_ID
from tests.support.process import BotProcess
from tests.test_startup import bot_process


@pytest.fixture
async def bot(
    database_url: str, tmp_path: Path, http: aiohttp.ClientSession
) -> AsyncIterator[BotProcess]:
    process = bot_process(database_url, tmp_path / "bot.log", SCHEDULER_INTERVAL_SECONDS="1")
    await process.start(http)
    yield process
    process.stop()


async def terminated(bot: BotProcess, within: float = 30.0) -> int:
    """Sends SIGTERM and waits for the process to end; its exit status."""
    process = bot._process
    assert process is not None
    process.send_signal(signal.SIGTERM)
    return int(await asyncio.wait_for(asyncio.to_thread(process.wait), within))


async def outbox_rows(database_url: str) -> list[OutboxMessage]:
    engine = engine_for(database_url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(select(OutboxMessage))).all())  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def test_a_turn_under_way_finishes_before_the_process_stops(
    bot: BotProcess, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    user = TeamsUser(bot.url, connector, http)
    connector.delay_sends = 2.0  # the reply takes a while to be taken
    turn = asyncio.create_task(user.say("refer"))
    await asyncio.wait_for(connector.sending.wait(), 30)
    assert await terminated(bot) == 0
    await turn
    assert user.last_status in (200, 201)
    assert any("safe" in card_text(card).lower() for card in cards_in(connector.activities))


async def test_sigterm_during_a_sessions_send_leaves_no_claim_held(
    bot: BotProcess,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    database_url: str,
    tmp_path: Path,
) -> None:
    facilitator = TeamsUser(
        bot.url,
        connector,
        http,
        name="Jo Facilitator",
        conversation_type="groupChat",
        conversation_id=MEETING_CHAT,
        meeting_id=MEETING_ID,
    )
    await facilitator.say("<at>Reflective practice</at> start session")
    # Setting up posts the session's opening cards through the outbox: the first is held.
    connector.stall_sends, connector.stalled = True, asyncio.Event()
    await facilitator.invoke("session_set_up", {"model": "space_to_think"})
    assert facilitator.last_status == 200
    await asyncio.wait_for(connector.stalled.wait(), 30)

    assert await terminated(bot) == 0
    rows = await outbox_rows(database_url)
    unsent = [row for row in rows if row.sent_at is None and row.failed_at is None]
    assert unsent, "the opening cards were meant to be waiting"
    assert [row.claimed_until for row in unsent] == [None] * len(unsent)
    assert all(row.attempts == 0 for row in unsent)  # a cut-off attempt does not count
    assert "gave back 1 outbox claim(s) on the way out" in bot.log.read_text()

    # The next instance sends them at once, not two minutes on.
    connector.stall_sends = False
    again = bot_process(database_url, tmp_path / "again.log", SCHEDULER_INTERVAL_SECONDS="1")
    await again.start(http)
    try:
        for _ in range(100):
            if any("before we start" in card_text(c) for c in cards_in(connector.activities)):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the opening cards were not sent: {connector.activities}")
    finally:
        again.stop()
