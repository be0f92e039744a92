"""The app's scheduler: every few seconds, and whenever work is queued, it runs due jobs.

Jobs keep their state in the database (what is due, what is claimed), so a restart loses
nothing and two instances do each thing once. A job may return when it is next due (the
session timer does: the end of a stage is due to the second); the scheduler then wakes at
that moment rather than at the next interval. Tests drive `tick()` with an injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.clock import Clock

log = logging.getLogger(__name__)

Job = Callable[[datetime], Awaitable[object]]


class Scheduler:
    def __init__(self, clock: Clock, interval_seconds: float, jobs: list[tuple[str, Job]]) -> None:
        self._clock = clock
        self._interval = interval_seconds
        self._jobs = jobs
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> datetime | None:
        """Runs every job once for the current time; one tick at a time per instance.

        Returns the earliest moment a job said it is next due, if any did.
        """
        soonest: datetime | None = None
        async with self._lock:
            for name, job in self._jobs:
                try:
                    due = await job(self._clock.now())
                except Exception:  # noqa: BLE001 - one failing job must not stop the others
                    log.exception("scheduled job %s failed", name)
                    continue
                if isinstance(due, datetime) and (soonest is None or due < soonest):
                    soonest = due
        return soonest

    def wake(self) -> None:
        """Work was queued: run soon rather than at the next interval."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            soonest = await self.tick()
            wait = self._interval
            if soonest is not None:
                # A floor, so work another instance holds locked cannot spin this loop.
                wait = min(wait, max(MIN_WAIT, (soonest - self._clock.now()) / ONE_SECOND))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()


ONE_SECOND = timedelta(seconds=1)
MIN_WAIT = 0.005
