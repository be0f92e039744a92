"""Cards and wording every feature uses: a notice, date formats, a Join button, and what a
card's inputs are called and hold."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from bot.core.working_days import WorkingCalendar
from cards.binder import render


def notice_card(
    headline: str,
    lines: list[str],
    facts: list[dict[str, str]] | None = None,
    color: str = "Default",
) -> dict[str, Any]:
    return render(
        "notice", {"headline": headline, "lines": lines, "facts": facts or [], "color": color}
    )


def with_join(card: dict[str, Any], join_url: str | None) -> dict[str, Any]:
    """The card with a Join button, when there is a meeting link."""
    if join_url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Join the meeting", "url": join_url}]
    return card


def when(moment: datetime | None, calendar: WorkingCalendar) -> str:
    """Short: "3 Mar 2026 14:00", local time."""
    if moment is None:
        return ""
    local = calendar.local(moment)
    return f"{local.day} {local:%b %Y %H:%M}"


def long_when(moment: datetime, calendar: WorkingCalendar) -> str:
    """Long: "Tuesday 3 March 2026 at 14:00", local time."""
    local = calendar.local(moment)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M}"


def inputs_of(card: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every input element on the card, however deep in containers."""
    return (node for node in nodes(card) if str(node.get("type", "")).startswith("Input."))


def input_label(card: dict[str, Any], input_id: str) -> str:
    """What `card` calls its input `input_id`, to name it in a refusal ("" if nothing); an aside
    in brackets ("Manager's name (if they agreed)") is left out."""
    label = next(
        (str(node.get("label") or "") for node in inputs_of(card) if node.get("id") == input_id),
        "",
    )
    return re.sub(r"\s*\([^)]*\)$", "", label)


def nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in a card, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from nodes(item)
