"""Word that a record changed, for pages that follow it live (bot.sessions.screen).

A change is published by id only: every listener reads the record again from the database,
so nothing but a number travels, and a page never shows what another instance thought.

- One instance (SQLite): `LocalChanges` hands the id to this process's listeners.
- Several instances (PostgreSQL): `PostgresChanges` sends `NOTIFY` on a channel and keeps one
  connection `LISTEN`ing there, so a change made on any instance reaches the pages connected
  to every instance (this one included: its own notifications come back to it).

A listener that falls behind loses nothing that matters: it only needs to know *that* its
record changed, so its queue holds each id once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.outage import is_database_outage

log = logging.getLogger(__name__)

CHANNEL = "reflective_practice_changes"
RECONNECT_SECONDS = 1.0


class Listener:
    """One page's view of the changes: the ids that changed since it last looked."""

    def __init__(self, wanted: int) -> None:
        self.wanted = wanted
        self._changed = asyncio.Event()
        # When it last heard of a change (the loop's clock); from the start, its first read
        # must begin after it was listening, or a change in between could pass it by.
        self.noted_at = asyncio.get_running_loop().time()

    def note(self) -> None:
        self.noted_at = asyncio.get_running_loop().time()
        self._changed.set()

    async def changed(self, timeout: float) -> bool:
        """Waits for a change (True), or `timeout` seconds (False)."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        self._changed.clear()
        return True


class Changes(Protocol):
    async def publish(self, record_id: int) -> None: ...

    def listen(self, record_id: int) -> contextlib.AbstractContextManager[Listener]: ...

    def count(self) -> int: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class LocalChanges:
    """Changes within this process (one instance: SQLite)."""

    def __init__(self) -> None:
        self._listeners: dict[int, set[Listener]] = {}

    async def publish(self, record_id: int) -> None:
        self.deliver(record_id)

    def deliver(self, record_id: int) -> None:
        for listener in self._listeners.get(record_id, ()):
            listener.note()

    @contextlib.contextmanager
    def listen(self, record_id: int) -> Iterator[Listener]:
        listener = Listener(record_id)
        self._listeners.setdefault(record_id, set()).add(listener)
        try:
            yield listener
        finally:
            listeners = self._listeners.get(record_id, set())
            listeners.discard(listener)
            if not listeners:
                self._listeners.pop(record_id, None)

    def count(self) -> int:
        return sum(len(listeners) for listeners in self._listeners.values())

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class PostgresChanges(LocalChanges):
    """Changes across instances through PostgreSQL's LISTEN/NOTIFY (the payload: the id)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self._engine = engine
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    async def publish(self, record_id: int) -> None:
        async with self._engine.connect() as connection:
            await connection.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": CHANNEL, "payload": str(record_id)},
            )
            await connection.commit()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="changes listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen_forever(self) -> None:
        # A pooled connection, so it signs in as the engine does (a password, or an Entra
        # token); held for as long as it works, then taken again.
        quiet = False  # said once per outage, not every RECONNECT_SECONDS while it lasts
        while True:
            try:
                async with self._engine.connect() as connection:
                    quiet = False
                    await self._listen_on(connection)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the database went away: listen again
                if not quiet:
                    # An outage is expected weather: one line, no traceback (anything else
                    # keeps its traceback, to be looked into).
                    outage = is_database_outage(error)
                    log.warning(
                        "lost the changes listener (%s); listening again",
                        type(error).__name__,
                        exc_info=not outage,
                    )
                    quiet = outage
            self.listening.clear()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen_on(self, connection: AsyncConnection) -> None:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # asyncpg's own connection
        lost = asyncio.Event()

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            if payload.isdigit():
                self.deliver(int(payload))

        driver.add_termination_listener(lambda _conn: lost.set())
        await driver.add_listener(CHANNEL, on_notify)
        self.listening.set()
        try:
            # Pages that missed changes while the listener was away catch up now.
            for record_id in list(self._listeners):
                self.deliver(record_id)
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), 30)
                if not lost.is_set():
                    await driver.execute("SELECT 1")  # finds a connection dropped silently
        finally:
            if lost.is_set():
                raw.invalidate()  # not back into the pool
            else:
                with contextlib.suppress(Exception):
                    await driver.remove_listener(CHANNEL, on_notify)


def changes_for(engine: AsyncEngine) -> Changes:
    """LISTEN/NOTIFY on PostgreSQL (several instances), in process on SQLite (one)."""
    if engine.dialect.name == "postgresql":
        return PostgresChanges(engine)
    return LocalChanges()
