"""Checks cards against the Adaptive Cards 1.5 JSON schema (the highest Teams renders)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft6Validator


@cache
def _validator() -> Draft6Validator:
    schema_text = resources.files("adaptive_cards").joinpath("schemas/schema-1.5.json").read_text()
    return Draft6Validator(json.loads(schema_text))


def card_errors(card: dict[str, Any]) -> list[str]:
    """Every schema error in `card`, as 'path: message'; empty when the card is valid."""
    errors = []
    for error in _validator().iter_errors(card):
        where = "/".join(str(part) for part in error.absolute_path) or "(card)"
        errors.append(f"{where}: {error.message}")
    if card.get("version") != "1.5":
        errors.append("version: Teams renders up to 1.5; cards must declare 1.5")
    return errors
