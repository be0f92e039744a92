"""Clocks for tests: no real waiting for working days, weekly digests, pacing or Retry-After.

Both keep the app's `Clock` protocol. A sleep returns at once and moves `monotonic()` on by
the time asked (what the pacer and the Retry-After waits measure), and notes it in `slept`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

from bot.core.models import utcnow


class _SleepsSkipped:
    """Sleeps that take no real time: `monotonic()` jumps to the moment the sleep would end."""

    def __init__(self) -> None:
        self._skipped = 0.0  # seconds of sleeping skipped so far
        self.slept: list[float] = []  # every sleep asked for, in order

    def _elapsed(self) -> float:
        raise NotImplementedError

    def monotonic(self) -> float:
        return self._elapsed() + self._skipped

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        wake = self.monotonic() + seconds
        # Let the others run first: sleepers side by side wake at the same moment, as in real
        # time, instead of one after the other.
        await asyncio.sleep(0)
        self._skipped += max(0.0, wake - self.monotonic())


class FakeClock(_SleepsSkipped):
    """Stands still until the test moves it; sleeping does not move `now()`, as before."""

    def __init__(self, start: datetime) -> None:
        assert start.tzinfo is not None
        super().__init__()
        self._now = start
        self._moved = 0.0  # seconds the test moved the clock forward

    def now(self) -> datetime:
        return self._now

    def _elapsed(self) -> float:
        return self._moved

    def advance(self, **delta: float) -> None:
        self.set(self._now + timedelta(**delta))

    def set(self, moment: datetime) -> None:
        assert moment.tzinfo is not None
        # monotonic() never goes back, even when the test sets an earlier time.
        self._moved += max(0.0, (moment - self._now).total_seconds())
        self._now = moment


class RealTimeClock(_SleepsSkipped):
    """The real time, for tests that do not set it; only the sleeping is skipped."""

    def now(self) -> datetime:
        return utcnow()

    def _elapsed(self) -> float:
        return time.monotonic()
