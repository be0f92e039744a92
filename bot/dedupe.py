"""Drops a re-delivered activity, so a retried Submit cannot store a referral twice.

The claim is a row keyed by activity id, inserted before the turn runs; the database's
primary key makes it exactly-once across instances.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from botbuilder.core import Middleware, TurnContext
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import ProcessedActivity, utcnow

log = logging.getLogger(__name__)

KEEP_FOR = timedelta(days=1)
PRUNE_EVERY = 500


class DropDuplicates(Middleware):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._claims = 0

    async def on_turn(self, context: TurnContext, logic: Callable[[], Awaitable]) -> None:
        activity = context.activity
        # Only user actions are worth de-duplicating; ids are unique per conversation.
        if activity.type not in ("message", "invoke") or not activity.id:
            await logic()
            return
        key = f"{activity.conversation.id}|{activity.id}"[:256]
        if not await self._claim(key):
            log.info("dropped a re-delivered activity %s", activity.id)
            return
        await logic()

    async def _claim(self, key: str) -> bool:
        try:
            async with self._sessions() as session, session.begin():
                session.add(ProcessedActivity(activity_id=key))
        except IntegrityError:
            return False
        self._claims += 1
        if self._claims % PRUNE_EVERY == 0:
            await self._prune()
        return True

    async def _prune(self) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                delete(ProcessedActivity).where(ProcessedActivity.seen_at < utcnow() - KEEP_FOR)
            )
