"""Checks cards against the Adaptive Cards 1.5 JSON schema (the highest Teams renders).

Teams' chart elements (`Chart.VerticalBar`, `Chart.Donut`, ...) are not in the 1.5 schema: each
is checked against its own shape (tests/support/chart_schema.py), then the card is checked
against 1.5 with each chart replaced by its `fallback`, which is what a client without charts
shows. A chart without a fallback is an error.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft6Validator

from tests.support.chart_schema import chart_errors, is_chart


@cache
def _validator() -> Draft6Validator:
    schema_text = resources.files("adaptive_cards").joinpath("schemas/schema-1.5.json").read_text()
    return Draft6Validator(json.loads(schema_text))


def card_errors(card: dict[str, Any]) -> list[str]:
    """Every schema error in `card`, as 'path: message'; empty when the card is valid."""
    errors: list[str] = []
    as_fallen_back = _without_charts(card, "", errors)
    for error in _validator().iter_errors(as_fallen_back):
        where = "/".join(str(part) for part in error.absolute_path) or "(card)"
        errors.append(f"{where}: {error.message}")
    if card.get("version") != "1.5":
        errors.append("version: Teams renders up to 1.5; cards must declare 1.5")
    return errors


def _without_charts(node: Any, path: str, errors: list[str]) -> Any:
    """A copy of `node` with each chart checked and replaced by its fallback."""
    if is_chart(node):
        errors.extend(f"{path or '(card)'}: {error}" for error in chart_errors(node))
        fallback = node.get("fallback")
        if not isinstance(fallback, dict):
            return {"type": "TextBlock", "text": ""}  # already an error; check the rest
        return _without_charts(fallback, f"{path}/fallback", errors)
    if isinstance(node, dict):
        return {key: _without_charts(value, f"{path}/{key}", errors) for key, value in node.items()}
    if isinstance(node, list):
        return [_without_charts(item, f"{path}/{i}", errors) for i, item in enumerate(node)]
    return node
