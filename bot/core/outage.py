"""Whether an error means the database is down or too slow, rather than a fault of ours.

Such an error is worth retrying later (Teams' retry, the scheduler's next tick); any other
error is a bug or bad data, and retrying it would fail the same way.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)

# PostgreSQL's SQLSTATE classes for a lost or refused connection (08), too many connections
# or no disk (53), an administrator's or a crash's shutdown and start-up (57P), and a
# statement cancelled by its timeout (57014).
_OUTAGE_SQLSTATES = ("08", "53", "57P", "57014")
_DRIVERS = ("asyncpg", "aiosqlite", "sqlalchemy")
# SQLite's messages for a file that is busy, locked, unreadable or on a failing disk.
_SQLITE_OUTAGE = re.compile(r"locked|busy|unable to open|disk i/o|disk is full", re.IGNORECASE)


def is_database_outage(error: BaseException) -> bool:
    """Whether the error, or one it was raised from, is the database being unreachable: no
    connection, a dropped connection, a connect or statement timeout, a full pool."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_outage(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_outage(error: BaseException) -> bool:
    if isinstance(error, OperationalError) and isinstance(error.orig, sqlite3.OperationalError):
        # SQLite raises OperationalError for bugs too ("no such table", a syntax error).
        return _SQLITE_OUTAGE.search(str(error.orig)) is not None
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_OUTAGE_SQLSTATES):
        return True
    # A refused or reset connection, or a timeout, raised inside the database driver.
    return isinstance(error, OSError | TimeoutError) and _raised_in_driver(error)


def _raised_in_driver(error: BaseException) -> bool:
    traceback = error.__traceback__
    while traceback is not None:
        module = traceback.tb_frame.f_globals.get("__name__", "")
        if module.startswith(_DRIVERS):
            return True
        traceback = traceback.tb_next
    return False


@contextmanager
def lost_connections_as_warnings(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """While the app runs, a database that goes away as a connection opens is one warning,
    not an ERROR with "Future exception was never retrieved": asyncpg (0.32) leaves that
    future unread when the server drops its TLS negotiation after the connect gave up."""
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if _lost_while_opening(context.get("exception")):
            log.warning("a database connection was lost while it opened (the database went away)")
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
    try:
        yield
    finally:
        loop.set_exception_handler(previous)


def _lost_while_opening(error: object) -> bool:
    return isinstance(error, ConnectionError) and str(error) == "unexpected connection_lost() call"
