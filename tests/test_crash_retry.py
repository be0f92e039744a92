"""Teams' retry of an activity whose turn died with its process (SIGKILL) is handled, once.

The bot runs as a real process; the loopback Bot Connector never answers the reply of the
turn under test, so the process is killed mid-turn, holding its claim on the activity.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.core.models import ReferralRow
from tests.conftest import TEST_KEY
from tests.support.client import TeamsUser, card_text, cards_in, texts_in
from tests.support.connector import FakeConnector
from tests.support.databases import engine_for
from tests.support.process import BotProcess
from tests.support.referral_steps import (
    ABOUT,
    INVITEES,
    KIND,
    MODEL_STT,
    NARRATIVE,
    NO_RISK,
    SUBMIT,
    TIMING,
)

CLAIM_SECONDS = 1


@pytest.fixture
async def start_bot(
    database_url: str, tmp_path: Path, http: aiohttp.ClientSession
) -> AsyncIterator[Callable[[], Any]]:
    started: list[BotProcess] = []

    async def start() -> BotProcess:
        process = BotProcess(
            {
                "DATABASE_URL": database_url,
                "ENCRYPTION_KEYS": TEST_KEY,
                "MODE": "development",
                "MICROSOFT_APP_ID": "",
                "ALLOWED_TENANT_IDS": "",
                "ADMIN_IDS": "",
                "GRAPH_ORGANISER": "",
                "ACTIVITY_CLAIM_SECONDS": str(CLAIM_SECONDS),
            },
            tmp_path / "bot.log",
        )
        await process.start(http)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


async def killed_while_replying(
    bot: BotProcess, user: TeamsUser, connector: FakeConnector, activity: dict[str, Any]
) -> None:
    """Sends the activity, and kills the bot while it waits for its reply to be taken."""
    connector.stall_sends, connector.stalled = True, asyncio.Event()
    sending = asyncio.create_task(user.post(activity))
    await asyncio.wait_for(connector.stalled.wait(), 30)
    bot.kill()
    with contextlib.suppress(aiohttp.ClientError):
        await sending  # the connection dies with the process
    connector.stall_sends = False


async def retried(user: TeamsUser, activity: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Teams' retries of the same activity, honouring Retry-After; what came back at last,
    and how many 503s came first."""
    refusals = 0
    while True:
        sent = await user.post(activity)
        if user.last_status != 503:
            return sent, refusals
        refusals += 1
        assert refusals < 10, "still refused after ten retries"
        await asyncio.sleep(CLAIM_SECONDS)


async def referrals_stored(database_url: str) -> int:
    engine = engine_for(database_url)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(select(func.count()).select_from(ReferralRow))
            return int(count or 0)
    finally:
        await engine.dispose()


async def test_an_answer_whose_turn_was_killed_is_handled_when_teams_retries(
    start_bot: Callable[[], Any],
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    database_url: str,
) -> None:
    bot = await start_bot()
    user = TeamsUser(bot.url, connector, http)
    await user.say("refer")
    for answer in (NO_RISK, KIND, MODEL_STT):
        await user.press(answer)

    narrative = user.activity(value=NARRATIVE)
    await killed_while_replying(bot, user, connector, narrative)
    bot = await start_bot()
    user.bot_url = bot.url
    sent, _ = await retried(user, narrative)

    # The answer was not lost: the form went on to the next step ...
    assert "your role" in card_text(cards_in(sent)[0]).lower(), sent
    # ... and a second retry of it is dropped, not answered twice.
    assert await user.post(narrative) == []

    for answer in (ABOUT, INVITEES, TIMING):
        await user.press(answer)
    submit = user.activity(value=SUBMIT)
    await killed_while_replying(bot, user, connector, submit)
    assert await referrals_stored(database_url) == 1  # stored before the reply was cut off
    bot = await start_bot()
    user.bot_url = bot.url
    sent, _ = await retried(user, submit)

    # The user sees the reference of the one referral stored.
    shown = " ".join(texts_in(sent) + [card_text(card) for card in cards_in(sent)])
    assert "RP-" in shown, sent
    assert await referrals_stored(database_url) == 1
