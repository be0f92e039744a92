"""Keeps what the database drivers log at DEBUG (the data itself) out of the log.

aiosqlite logs every call it hands to its thread with the call's arguments: each statement's
parameters, which `hide_parameters` does not reach. SQLAlchemy logs each result row. Both do
so at DEBUG, which an operator may turn on (LOG_LEVEL) to chase a fault; their DEBUG records
are dropped here, whatever the level. INFO and above still pass (SQLAlchemy's statements,
with their parameters hidden).
"""

from __future__ import annotations

import logging

DRIVER_LOGGERS = ("aiosqlite", "sqlalchemy.engine.Engine")


class _DroppedUpTo(logging.Filter):
    """Drops a logger's records at `level` and below."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > self.level


def _install(names: tuple[str, ...], dropped: _DroppedUpTo) -> None:
    for name in names:
        logger = logging.getLogger(name)
        if dropped not in logger.filters:
            logger.addFilter(dropped)


_DROP = _DroppedUpTo(logging.DEBUG)


def keep_data_out_of_logs() -> None:
    """Idempotent: called whenever an engine is made."""
    _install(DRIVER_LOGGERS, _DROP)


# httpx logs every request's full URL at INFO: for Graph, the organiser's object id, event and
# chat ids, and a meeting's join link (in a $filter). Graph's spans say what was called, with
# the ids as {id} (bot.scheduling.graph_tracing); its failures are logged by the calendar.
URL_LOGGERS = ("httpx",)

_DROP_INFO = _DroppedUpTo(logging.INFO)


def keep_urls_out_of_logs() -> None:
    """Idempotent: called whenever a Graph client is made."""
    _install(URL_LOGGERS, _DROP_INFO)
