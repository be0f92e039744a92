"""DropDuplicates on a real database: claims, give-back on failure, leases, pruning."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from botbuilder.core import TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ConversationAccount
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.models import ProcessedActivity
from bot.teams.dedupe import LEASE, DropDuplicates
from bot.teams.errors import TryAgainLater
from tests.support.clock import FakeClock
from tests.support.databases import engine_for

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = engine_for(database_url)
    yield engine
    await engine.dispose()


def key_of(activity_id: str) -> str:
    return hashlib.sha256(f"c1|{activity_id}".encode()).hexdigest()


def context(activity_id: str) -> TurnContext:
    activity = Activity(type="message", id=activity_id, conversation=ConversationAccount(id="c1"))
    return TurnContext(TestAdapter(), activity)


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (
                await connection.execute(select(func.count()).select_from(ProcessedActivity))
            ).scalar_one()
        )


async def test_second_delivery_is_dropped(engine: AsyncEngine) -> None:
    runs: list[str] = []
    middleware = DropDuplicates(engine, FakeClock(START))

    async def logic() -> None:
        runs.append("ran")

    await middleware.on_turn(context("a1"), logic)
    await middleware.on_turn(context("a1"), logic)
    await middleware.on_turn(context("a2"), logic)
    assert runs == ["ran", "ran"]


async def test_a_failed_turn_gives_its_claim_back(engine: AsyncEngine) -> None:
    middleware = DropDuplicates(engine, FakeClock(START))
    runs: list[str] = []

    async def failing() -> None:
        raise RuntimeError("database went away")

    async def logic() -> None:
        runs.append("retry ran")

    with pytest.raises(RuntimeError):
        await middleware.on_turn(context("a1"), failing)
    await middleware.on_turn(context("a1"), logic)
    assert runs == ["retry ran"]


async def test_old_claims_are_pruned(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(ProcessedActivity).values(
                activity_id="c1|old", seen_at=START - timedelta(days=2)
            )
        )
    middleware = DropDuplicates(engine, FakeClock(START), prune_every=2)

    async def logic() -> None:
        return None

    await middleware.on_turn(context("n1"), logic)
    assert await count(engine) == 2
    await middleware.on_turn(context("n2"), logic)
    assert await count(engine) == 2  # the old one went, the two new ones stay


async def test_a_turn_killed_mid_way_is_handled_again_once_its_lease_runs_out(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock(START)
    # What a process killed during the turn leaves behind: a claim nobody will give back.
    async with engine.begin() as connection:
        await connection.execute(
            insert(ProcessedActivity).values(
                activity_id=key_of("a1"), seen_at=START, claimed_until=START + LEASE
            )
        )
    restarted = DropDuplicates(engine, clock)
    runs: list[str] = []

    async def logic() -> None:
        runs.append("retry ran")

    # Teams' retry within the lease: "try again later", not dropped.
    with pytest.raises(TryAgainLater) as busy:
        await restarted.on_turn(context("a1"), logic)
    assert busy.value.retry_after_seconds == int(LEASE.total_seconds())
    clock.advance(seconds=LEASE.total_seconds() + 1)
    await restarted.on_turn(context("a1"), logic)  # the lease ran out: handled now
    await restarted.on_turn(context("a1"), logic)  # and only once
    assert runs == ["retry ran"]


async def test_a_claim_is_renewed_while_its_turn_runs(engine: AsyncEngine) -> None:
    clock = FakeClock(START)
    middleware = DropDuplicates(engine, clock, lease=timedelta(seconds=0.3))
    other_instance = DropDuplicates(engine, clock, lease=timedelta(seconds=0.3))
    seen: list[str] = []

    async def slow() -> None:
        clock.advance(seconds=10)  # far past the first lease ...
        await asyncio.sleep(0.5)  # ... but renewed meanwhile (every 0.1 s, from the clock)
        with pytest.raises(TryAgainLater):
            await other_instance.on_turn(context("a1"), other)
        seen.append("slow finished")

    async def other() -> None:
        seen.append("other ran")

    await middleware.on_turn(context("a1"), slow)
    await other_instance.on_turn(context("a1"), other)
    assert seen == ["slow finished"]


async def test_a_turn_whose_claim_was_taken_over_cannot_give_it_back(
    engine: AsyncEngine,
) -> None:
    """A turn that outlived its lease (renewals failing, a blocked loop) and then fails must
    not delete the claim of the turn that took over: a third delivery would run it again."""
    clock = FakeClock(START)
    slow, taker, third = (DropDuplicates(engine, clock) for _ in range(3))
    taken_over = asyncio.Event()
    runs: list[str] = []

    async def outlives_its_lease() -> None:
        slow_turn_started.set()
        clock.advance(seconds=LEASE.total_seconds() + 1)
        await taker_turn_started.wait()
        raise RuntimeError("the slow turn fails after all")

    async def takes_over() -> None:
        runs.append("taker")
        taker_turn_started.set()
        await taken_over.wait()

    async def third_try() -> None:
        runs.append("third")

    slow_turn_started, taker_turn_started = asyncio.Event(), asyncio.Event()
    slow_turn = asyncio.create_task(slow.on_turn(context("a1"), outlives_its_lease))
    await slow_turn_started.wait()
    taker_turn = asyncio.create_task(taker.on_turn(context("a1"), takes_over))
    with pytest.raises(RuntimeError):
        await slow_turn
    with pytest.raises(TryAgainLater):  # still the taker's, not given back by the slow turn
        await third.on_turn(context("a1"), third_try)
    taken_over.set()
    await taker_turn
    await third.on_turn(context("a1"), third_try)  # finished by the taker: dropped
    assert runs == ["taker"]
