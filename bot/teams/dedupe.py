"""Drops a re-delivered activity, so a retried Submit cannot store a referral twice.

The claim is a row keyed by activity id, inserted before the turn runs; the database's
primary key makes it exactly-once across instances. A turn that fails gives its claim back,
so Teams' retry of it is handled rather than dropped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from botbuilder.core import Middleware, TurnContext
from botbuilder.schema import ActivityTypes
from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.models import ProcessedActivity, utcnow

log = logging.getLogger(__name__)

KEEP_FOR = timedelta(days=1)


class DropDuplicates(Middleware):
    def __init__(self, engine: AsyncEngine, prune_every: int = 500) -> None:
        self._engine = engine
        self._prune_every = prune_every
        self._claims = 0

    async def on_turn(self, context: TurnContext, logic: Callable[[], Awaitable]) -> None:
        activity = context.activity
        # Only user actions are worth de-duplicating; ids are unique per conversation.
        if activity.type not in (ActivityTypes.message, ActivityTypes.invoke) or not activity.id:
            await logic()
            return
        # A digest, not a truncation: two long ids must never share a claim.
        key = hashlib.sha256(f"{activity.conversation.id}|{activity.id}".encode()).hexdigest()
        if not await self._claim(key):
            log.info("dropped a re-delivered activity %s", activity.id)
            return
        try:
            await logic()
        except BaseException:
            await self._release(key)
            raise
        await self._maybe_prune()

    async def _claim(self, key: str) -> bool:
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    insert(ProcessedActivity).values(activity_id=key, seen_at=utcnow())
                )
        except IntegrityError:
            return False
        return True

    async def _release(self, key: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(ProcessedActivity).where(ProcessedActivity.activity_id == key)
            )

    async def _maybe_prune(self) -> None:
        self._claims += 1
        if self._claims % self._prune_every:
            return
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    delete(ProcessedActivity).where(ProcessedActivity.seen_at < utcnow() - KEEP_FOR)
                )
        except Exception:  # noqa: BLE001 - housekeeping must never fail a user's turn
            log.exception("could not prune processed activity ids")
