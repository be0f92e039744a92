"""Marks the turns the bot starts itself (proactive messages), as opposed to a user's."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

_PROACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("proactive", default=False)


def is_proactive() -> bool:
    return _PROACTIVE.get()


@contextmanager
def proactive_turn() -> Iterator[None]:
    token = _PROACTIVE.set(True)
    try:
        yield
    finally:
        _PROACTIVE.reset(token)
