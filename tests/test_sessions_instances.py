"""Two instances of the bot on one PostgreSQL database: each prompt fires exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp

from tests.conftest import RunningBot, make_settings
from tests.support.client import TeamsUser, card_text, cards_in, texts_in
from tests.support.clock import FakeClock
from tests.support.connector import FakeConnector
from tests.support.databases import postgres_database
from tests.support.meeting import AFTERNOON, button_data

CHATS = 12


def chat_user(
    bot: RunningBot, connector: FakeConnector, http: aiohttp.ClientSession, i: int
) -> TeamsUser:
    return TeamsUser(
        bot.url,
        connector,
        http,
        name=f"Facilitator {i}",
        conversation_type="groupChat",
        conversation_id=f"19:meeting-{i}@thread.v2",
        meeting_id=f"meeting-{i}",
    )


async def test_two_instances_share_the_timers_and_fire_each_prompt_once(
    connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    clock = FakeClock(AFTERNOON)
    async with postgres_database() as url:
        settings = make_settings(url)
        first, second = RunningBot(settings, clock), RunningBot(settings, clock)
        await first.start()
        await second.start()
        try:
            instances = [first, second]
            users = [chat_user(instances[i % 2], connector, http, i) for i in range(CHATS)]
            for user in users:  # set up and begun on alternate instances
                await user.invoke("session_set_up", {"model": "space_to_think"})
            await asyncio.gather(first.settle(), second.settle())
            for user in users:
                roles = [c for c in cards_in(connector.sent_to(user.conversation_id)) if c]
                begin = button_data(roles[-1], "session_begin")
                await user.invoke("session_begin", begin)
            # Let deliveries under way finish before time jumps past their two-minute lease
            # (real deliveries take seconds; the fake clock jumps minutes at once).
            await asyncio.gather(first.settle(), second.settle())

            async def both_tick(minutes: float) -> None:
                clock.advance(minutes=minutes)
                await asyncio.gather(
                    first.settle(), second.settle(), first.settle(), second.settle()
                )

            await both_tick(4)  # the warning, a minute before the end: on the card only
            await both_tick(1)  # time is up
            await both_tick(3)  # nothing more: said once
            for user in users:
                said = Counter(
                    "time up" if "Time is up" in t else t
                    for t in texts_in(connector.sent_to(user.conversation_id))
                )
                assert said == Counter({"time up": 1}), (user.conversation_id, said)
            # Each chat's stage card was posted once and then only updated in place.
            for user in users:
                stage_posts = [
                    c
                    for c in cards_in(connector.sent_to(user.conversation_id))
                    if "Stage 1 of 6" in str(c)
                ]
                assert len(stage_posts) == 1, [card_text(c)[:200] for c in stage_posts]
            assert await first.runtime.outbox.pending() == 0
        finally:
            await first.stop()
            await second.stop()
