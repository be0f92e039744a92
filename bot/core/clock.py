"""The time, from one place, so tests can move it without sleeping."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Protocol

from bot.core.models import utcnow


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going back: for measuring waits."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Waits `seconds` (pacing, Retry-After); a test clock moves on instead of waiting."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
