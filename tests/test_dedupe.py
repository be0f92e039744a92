"""DropDuplicates on a real database: claims, give-back on failure, pruning."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from botbuilder.core import TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ConversationAccount
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.database import create_engine
from bot.core.models import ProcessedActivity, utcnow
from bot.teams.dedupe import DropDuplicates


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


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
    middleware = DropDuplicates(engine)

    async def logic() -> None:
        runs.append("ran")

    await middleware.on_turn(context("a1"), logic)
    await middleware.on_turn(context("a1"), logic)
    await middleware.on_turn(context("a2"), logic)
    assert runs == ["ran", "ran"]


async def test_a_failed_turn_gives_its_claim_back(engine: AsyncEngine) -> None:
    middleware = DropDuplicates(engine)
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
                activity_id="c1|old", seen_at=utcnow() - timedelta(days=2)
            )
        )
    middleware = DropDuplicates(engine, prune_every=2)

    async def logic() -> None:
        return None

    await middleware.on_turn(context("n1"), logic)
    assert await count(engine) == 2
    await middleware.on_turn(context("n2"), logic)
    assert await count(engine) == 2  # the old one went, the two new ones stay
