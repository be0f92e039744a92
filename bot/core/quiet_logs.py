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


class _DebugDropped(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_DROP = _DebugDropped()


def keep_data_out_of_logs() -> None:
    """Idempotent: called whenever an engine is made."""
    for name in DRIVER_LOGGERS:
        logger = logging.getLogger(name)
        if _DROP not in logger.filters:
            logger.addFilter(_DROP)


# httpx logs every request's full URL at INFO: for Graph, the organiser's object id, event and
# chat ids, and a meeting's join link (in a $filter). Graph's spans say what was called, with
# the ids as {id} (bot.scheduling.graph_tracing); its failures are logged by the calendar.
URL_LOGGERS = ("httpx",)


class _InfoDropped(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO


_DROP_INFO = _InfoDropped()


def keep_urls_out_of_logs() -> None:
    """Idempotent: called whenever a Graph client is made."""
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if _DROP_INFO not in logger.filters:
            logger.addFilter(_DROP_INFO)
