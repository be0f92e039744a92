"""What every feature's wiring receives: the app's shared parts, built once in `app.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.clock import Clock
from bot.core.crypto import Cipher
from bot.core.outbox import OutboxWriter
from bot.core.protocols import ModelCatalogue, Protocol
from bot.core.settings import Settings
from bot.core.working_days import WorkingCalendar


@dataclass(frozen=True)
class Shared:
    settings: Settings
    database: async_sessionmaker[AsyncSession]  # opens a database session (a transaction)
    cipher: Cipher
    clock: Clock
    writer: OutboxWriter
    calendar: WorkingCalendar
    protocols: dict[str, Protocol]
    models: ModelCatalogue
    # Work was queued: run the schedulers soon rather than at their next tick.
    wake: Callable[[], None]
