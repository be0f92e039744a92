"""Handles each activity once, even when Teams sends it again after a crash or a timeout.

The claim is a row keyed by activity id, inserted before the turn runs; the database's
primary key makes it exactly-once across instances. The claim is a lease: renewed while the
turn runs, marked finished when it ends, given back when it fails. A process killed mid-turn
cannot give it back, so its lease runs out and Teams' retry of the activity is handled then;
a retry that arrives while the lease still holds is answered 503 with Retry-After, so Teams
tries again after it.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta

from botbuilder.core import Middleware, TurnContext
from botbuilder.schema import ActivityTypes
from sqlalchemy import ColumnElement, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.clock import Clock
from bot.core.database import rows_changed
from bot.core.models import ProcessedActivity
from bot.teams.errors import TryAgainLater

log = logging.getLogger(__name__)

KEEP_FOR = timedelta(days=1)
LEASE = timedelta(seconds=20)


class Claim(enum.Enum):
    OURS = "ours"
    FINISHED = "finished"  # handled already: a re-delivery to drop
    HELD = "held"  # another turn is handling it right now


class DropDuplicates(Middleware):
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        *,
        lease: timedelta = LEASE,
        prune_every: int = 500,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._lease = lease
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
        token = secrets.token_hex(16)
        claim = await self._claim(key, token)
        if claim is Claim.FINISHED:
            log.info("dropped a re-delivered activity %s", activity.id)
            return
        if claim is Claim.HELD:
            raise TryAgainLater(
                "the same activity is being handled", int(self._lease.total_seconds())
            )
        renewing = asyncio.create_task(self._renew_while_running(key, token))
        try:
            await logic()
        except BaseException:
            await _stopped(renewing)
            await self._release(key, token)
            raise
        await _stopped(renewing)
        await self._finish(key, token)
        await self._maybe_prune()

    async def _claim(self, key: str, token: str) -> Claim:
        # Twice at most: a claim given back between our insert and our look is claimed anew.
        for _ in range(2):
            now = self._clock.now()
            try:
                async with self._engine.begin() as connection:
                    await connection.execute(
                        insert(ProcessedActivity).values(
                            activity_id=key,
                            seen_at=now,
                            claimed_until=now + self._lease,
                            claimed_by=token,
                        )
                    )
                return Claim.OURS
            except IntegrityError:
                pass
            async with self._engine.begin() as connection:
                # The turn that claimed it died without finishing: its retry is ours.
                taken_over = await connection.execute(
                    update(ProcessedActivity)
                    .where(
                        ProcessedActivity.activity_id == key,
                        ProcessedActivity.claimed_until.is_not(None),
                        ProcessedActivity.claimed_until < now,
                    )
                    .values(seen_at=now, claimed_until=now + self._lease, claimed_by=token)
                )
                if rows_changed(taken_over) == 1:
                    log.warning("handling again an activity whose turn did not finish")
                    return Claim.OURS
                held = (
                    await connection.execute(
                        select(ProcessedActivity.claimed_until).where(
                            ProcessedActivity.activity_id == key
                        )
                    )
                ).first()
            if held is not None:
                return Claim.FINISHED if held.claimed_until is None else Claim.HELD
        return Claim.HELD  # claimed and given back twice over: Teams will send it again

    def _ours(self, key: str, token: str) -> ColumnElement[bool]:
        return and_(ProcessedActivity.activity_id == key, ProcessedActivity.claimed_by == token)

    async def _renew_while_running(self, key: str, token: str) -> None:
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                async with self._engine.begin() as connection:
                    await connection.execute(
                        update(ProcessedActivity)
                        .where(self._ours(key, token))
                        .values(claimed_until=self._clock.now() + self._lease)
                    )
            except Exception:  # noqa: BLE001 - the turn itself will meet the same fault
                log.warning("could not renew the claim on an activity in progress")

    async def _finish(self, key: str, token: str) -> None:
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    update(ProcessedActivity)
                    .where(self._ours(key, token))
                    .values(claimed_until=None, claimed_by=None)
                )
        except Exception:  # noqa: BLE001 - the turn is done; Teams will not send it again
            log.warning("could not mark a finished activity as handled")

    async def _release(self, key: str, token: str) -> None:
        try:
            async with self._engine.begin() as connection:
                await connection.execute(delete(ProcessedActivity).where(self._ours(key, token)))
        except Exception:  # noqa: BLE001 - the lease runs out instead, then the retry runs
            log.warning("could not give back the claim of a failed turn")

    async def _maybe_prune(self) -> None:
        self._claims += 1
        if self._claims % self._prune_every:
            return
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    delete(ProcessedActivity).where(
                        ProcessedActivity.seen_at < self._clock.now() - KEEP_FOR
                    )
                )
        except Exception:  # noqa: BLE001 - housekeeping must never fail a user's turn
            log.exception("could not prune processed activity ids")


async def _stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the turn itself is being cancelled, not only the renewal
