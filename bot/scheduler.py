"""The app's scheduler: every few seconds, and whenever work is queued, it runs due jobs.

Jobs keep their state in the database (what is due, what is claimed), so a restart loses
nothing and two instances do each thing once. Tests drive `tick()` with an injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

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

    async def tick(self) -> None:
        """Runs every job once for the current time; one tick at a time per instance."""
        async with self._lock:
            for name, job in self._jobs:
                try:
                    await job(self._clock.now())
                except Exception:  # noqa: BLE001 - one failing job must not stop the others
                    log.exception("scheduled job %s failed", name)

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
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
