"""Bot Framework models to and from their JSON wire form, without msrest's validation pass.

msrest's Serializer checks every attribute against its declared type on every send, which
`bench/turns.py --profile` shows as the largest cost of a reply. The schema's models are
flat (no dotted keys), so walking `_attribute_map` gives the same JSON; a test compares
the two on every card the bot sends.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from msrest.serialization import Model, Serializer


def to_wire(value: Any) -> Any:
    if isinstance(value, Model):
        out: dict[str, Any] = {}
        for attribute, info in type(value)._attribute_map.items():
            item = getattr(value, attribute, None)
            if item is not None:
                out[info["key"]] = _typed(item, info["type"])
        return out
    if isinstance(value, list):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    if isinstance(value, Enum):
        return value.value
    return value


def _typed(item: Any, declared: str) -> Any:
    if declared == "iso-8601" and isinstance(item, datetime):
        return Serializer.serialize_iso(item)
    if declared == "bytearray":
        return Serializer.serialize_bytearray(item)
    return to_wire(item)
