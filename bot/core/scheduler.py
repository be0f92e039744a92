"""The app's scheduler: runs each job when it is due, and at once when work is queued.

Jobs keep their state in the database (what is due, what is claimed), so a restart loses
nothing and two instances do each thing once. A job may return when it is next due (the
session timer does: the end of a stage is due to the second; the outbox does when a batch
was full or a retry waits for Retry-After); the scheduler then runs that job at that moment
rather than at the next interval, without running the others with it. Tests drive `tick()`,
which runs every job, with an injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core import telemetry
from bot.core.clock import Clock
from bot.core.outage import is_database_outage

log = logging.getLogger(__name__)

Job = Callable[[datetime], Awaitable[object]]
ONE_SECOND = timedelta(seconds=1)
MIN_WAIT = 0.005  # a floor, so work another instance holds locked cannot spin the loop
STOP_GRACE = 10.0  # seconds a run under way may take to finish when the app stops


class Scheduler:
    def __init__(self, clock: Clock, interval_seconds: float, jobs: list[tuple[str, Job]]) -> None:
        self._clock = clock
        self._interval = timedelta(seconds=interval_seconds)
        self._jobs = jobs
        self._next: dict[str, datetime] = {}  # when each job is next due
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> None:
        """Runs every job once for the current time; one run at a time per instance."""
        await self._run_jobs(everything=True)

    def wake(self) -> None:
        """Work was queued: run every job soon rather than when each is next due."""
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        """Lets a run under way finish (a message sent must be marked sent), then stops."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        everything = True
        while not self._stopping:
            await self._run_jobs(everything)
            if self._stopping:
                return
            wait = max(MIN_WAIT, (min(self._next.values()) - self._clock.now()) / ONE_SECOND)
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
                everything = True
            except TimeoutError:
                everything = False
            self._wake.clear()

    async def _run_jobs(self, everything: bool) -> None:
        async with self._lock:
            for name, job in self._jobs:
                now = self._clock.now()
                if not everything and self._next.get(name, now) > now:
                    continue
                due: object = None
                try:
                    with telemetry.span(name):  # job names are our constants
                        due = await job(now)
                except Exception as error:  # noqa: BLE001 - one failing job must not stop the rest
                    if is_database_outage(error):
                        # Expected while the database is down: one line a tick, not a traceback.
                        log.warning("scheduled job %s waits for the database", name)
                    else:
                        log.exception("scheduled job %s failed", name)
                latest = self._clock.now() + self._interval
                self._next[name] = min(due, latest) if isinstance(due, datetime) else latest


@dataclass
class WakeAll:
    """Wakes every scheduler: handed out before the schedulers exist (their jobs come from
    the features that are given it), filled in once they do."""

    schedulers: list[Scheduler] = field(default_factory=list)

    def __call__(self) -> None:
        for scheduler in self.schedulers:
            scheduler.wake()
