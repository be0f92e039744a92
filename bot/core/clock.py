"""The time, from one place, so tests can move it without sleeping."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bot.core.models import utcnow


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()
