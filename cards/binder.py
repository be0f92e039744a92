"""Fills card templates: a small subset of the Adaptive Cards Templating language.

Works on the parsed JSON, never on raw text, so a quote or a brace in user text is just text.
Supported: `${path.to.value}` inside strings; `"$data": "${list}"` on an element repeats it
once per item (the item becomes the scope, `$root` stays the top); `"$when": "${path}"` keeps
an element only when the value is truthy. A string that is exactly one `${...}` keeps the
value's type (a list, a bool), so a template can bind a whole array.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"
_EXPRESSION = re.compile(r"\$\{([^}]*)\}")


class TemplateError(KeyError):
    """A template names a file or uses an expression that does not exist."""


@cache
def _load(name: str) -> str:
    path = TEMPLATES / f"{name}.json"
    if not path.is_file():
        raise TemplateError(f"no card template {path.name}")
    return path.read_text(encoding="utf-8")


def render(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """The card built from template `name` with `data`."""
    template = json.loads(_load(name))  # a fresh copy every time; bind never mutates it
    scope = {**data, "$root": data}
    bound = _bind(template, scope)
    assert isinstance(bound, dict)
    return bound


def _lookup(path: str, scope: dict[str, Any]) -> Any:
    value: Any = scope
    for part in path.strip().split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise TemplateError(f"template expression ${{{path}}} has no value")
    return value


def _bind_string(text: str, scope: dict[str, Any]) -> Any:
    whole = _EXPRESSION.fullmatch(text)
    if whole:
        return _lookup(whole.group(1), scope)
    return _EXPRESSION.sub(lambda m: _as_text(_lookup(m.group(1), scope)), text)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _bind(node: Any, scope: dict[str, Any]) -> Any:
    if isinstance(node, str):
        return _bind_string(node, scope)
    if isinstance(node, list):
        out: list[Any] = []
        for element in node:
            out.extend(_bind_element(element, scope))
        return out
    if isinstance(node, dict):
        return {key: _bind(value, scope) for key, value in node.items()}
    return node


def _bind_element(element: Any, scope: dict[str, Any]) -> list[Any]:
    """An element of an array: may repeat ($data) or vanish ($when)."""
    if not isinstance(element, dict):
        return [_bind(element, scope)]
    body = dict(element)
    items: list[Any] = [None]
    data_expr = body.pop("$data", None)
    when_expr = body.pop("$when", None)
    if data_expr is not None:
        value = _bind(data_expr, scope)
        items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        item_scope = scope if item is None else {**scope, **_as_scope(item), "$data": item}
        if when_expr is not None and not _bind(when_expr, item_scope):
            continue
        out.append(_bind(body, item_scope))
    return out


def _as_scope(item: Any) -> dict[str, Any]:
    return item if isinstance(item, dict) else {"$data": item}
