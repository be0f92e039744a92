"""Cards and wording every feature uses: a notice, date formats, a Join button."""

from __future__ import annotations

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
