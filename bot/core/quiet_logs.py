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
