"""Stored values as JSON: what an export writes, and how two places are compared."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any


def jsonable(value: Any) -> Any:
    return json.loads(dumps(value))


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, sort_keys=True)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
