"""The database stops under load: every activity gets 503 with Retry-After, and once it is
back, Teams' retries are each processed once.

Runs on a private PostgreSQL server (tests/support/private_postgres.py), stopped with
`pg_ctl -m immediate` while practitioners are mid-way through their referral forms.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from cards.verbs import TriageVerb
from tests.conftest import RunningBot, make_settings
from tests.support.client import TeamsUser, card_text, cards_in, texts_in
from tests.support.connector import FakeConnector
from tests.support.databases import postgres_database
from tests.support.private_postgres import PrivatePostgres
from tests.support.referral_steps import KIND, NO_RISK

PEOPLE = 24
TIMEOUT_SECONDS = 2.0  # DATABASE_TIMEOUT_SECONDS: how long a turn waits for a dead database
# ACTIVITY_CLAIM_SECONDS: a turn cut off by the outage could not give its claim back, so its
# retry waits for the claim to run out (Retry-After says so). Short here, to keep the test quick.
CLAIM_SECONDS = 1.0


@pytest.fixture
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    server = PrivatePostgres()
    await asyncio.to_thread(server.create)
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.remove)


@dataclass
class Delivery:
    """One activity as Teams sends it, and the statuses each attempt got."""

    user: TeamsUser
    activity: dict[str, Any]
    statuses: list[int] = field(default_factory=list)
    retry_after: list[str | None] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, http: aiohttp.ClientSession) -> None:
        before = len(self.user.connector.activities)
        async with http.post(f"{self.user.bot_url}api/messages", json=self.activity) as response:
            self.statuses.append(response.status)
            self.retry_after.append(response.headers.get("Retry-After"))
            await response.read()
        if self.activity["type"] == "message":
            conversation = self.user.conversation_id
            self.replies += [
                sent
                for sent in self.user.connector.activities[before:]
                if sent.get("conversation", {}).get("id") == conversation
            ]


async def test_a_stopped_database_gives_503s_and_every_retry_is_processed_once(
    private_postgres: PrivatePostgres,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    async with postgres_database(private_postgres.dsn) as url:
        settings = make_settings(
            url, database_timeout_seconds=TIMEOUT_SECONDS, activity_claim_seconds=CLAIM_SECONDS
        )
        bot = RunningBot(settings)
        await bot.start()
        try:
            people = [TeamsUser(bot.url, connector, http) for _ in range(PEOPLE)]
            for person in people:
                await person.say("refer")

            # Under load: everyone answers the first question at once, and the database
            # stops while those turns are running.
            answers = [Delivery(p, p.activity(value=NO_RISK)) for p in people]
            in_flight = [asyncio.create_task(answer.send(http)) for answer in answers]
            await asyncio.sleep(0.05)
            await asyncio.to_thread(private_postgres.stop)
            await asyncio.gather(*in_flight)

            # While it is down, messages and card presses alike.
            presses = [
                Delivery(
                    p,
                    p.activity(
                        type="invoke",
                        name="adaptiveCard/action",
                        value={
                            "action": {
                                "type": "Action.Execute",
                                "verb": TriageVerb.DETAILS.value,
                                "data": {"reference": "RP-2026-0001"},
                            }
                        },
                    ),
                )
                for p in people
            ]
            typed = [Delivery(p, p.activity(text="my referrals")) for p in people]
            await asyncio.gather(*(d.send(http) for d in presses + typed))
            async with http.get(f"{bot.url}readyz") as response:
                ready_while_down = response.status

            await asyncio.to_thread(private_postgres.start)
            # Teams retries whatever did not succeed, the same activity (same id) again, after
            # Retry-After (here at most a second: the test's claims last one).
            everything = answers + presses + typed
            for _ in range(5):
                waiting = [d for d in everything if d.statuses[-1] == 503]
                if not waiting:
                    break
                await asyncio.sleep(
                    min(CLAIM_SECONDS, min(int(d.retry_after[-1] or 1) for d in waiting))
                )
                await asyncio.gather(*(d.send(http) for d in waiting))
            # A late duplicate of each answer, as Teams sends when a reply was slow.
            for answer in answers:
                await answer.send(http)

            # Everyone carries on from the next question, which proves the answer is stored.
            next_steps = [await p.press(KIND) for p in people]
        finally:
            await bot.stop()

    down = presses + typed
    assert all(d.statuses[0] == 503 for d in down), [d.statuses for d in down]
    assert all(d.retry_after[0] and int(d.retry_after[0]) > 0 for d in down)
    for answer in answers:
        for status, retry_after in zip(answer.statuses, answer.retry_after, strict=True):
            assert status in (200, 201, 503), answer.statuses
            assert status != 503 or retry_after, "a 503 without Retry-After"
    assert ready_while_down == 503
    # Each retried activity was processed in the end, and only once.
    assert all(d.statuses[-1] in (200, 201) for d in everything), [d.statuses for d in everything]
    for answer in answers:
        asked_kind = [
            c for c in cards_in(answer.replies) if "what are you referring" in card_text(c).lower()
        ]
        assert asked_kind, texts_in(answer.replies)
        assert not any("part-way" in text for text in texts_in(answer.replies))
        assert not any("Sorry" in text for text in texts_in(answer.replies))
    for person_typed in typed:
        assert len(texts_in(person_typed.replies) + cards_in(person_typed.replies)) >= 1
    for sent in next_steps:
        assert any("which kind of session" in card_text(c).lower() for c in cards_in(sent)), sent
    # An outage is expected weather: warnings, one line each, and no tracebacks.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]


async def test_a_frozen_database_gives_503_within_the_timeout_not_a_hung_turn(
    private_postgres: PrivatePostgres, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with postgres_database(private_postgres.dsn) as url:
        bot = RunningBot(make_settings(url, database_timeout_seconds=TIMEOUT_SECONDS))
        await bot.start()
        try:
            person = TeamsUser(bot.url, connector, http)
            await person.say("refer")  # the pool now holds open connections
            await asyncio.to_thread(private_postgres.freeze)
            try:
                started = asyncio.get_running_loop().time()
                await person.press(NO_RISK)
                took = asyncio.get_running_loop().time() - started
            finally:
                await asyncio.to_thread(private_postgres.freeze, False)
        finally:
            await bot.stop()

    assert person.last_status == 503
    # Teams gives up on a turn at 15 s; the turn gave up after about the database timeout.
    assert took < 15, took
