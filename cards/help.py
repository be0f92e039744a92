"""The help card: what can be typed, with a line about where the user is."""

from __future__ import annotations

from typing import Any

from cards.binder import render

COMMANDS = [
    {"title": "refer", "value": "Make a referral for a reflective session"},
    {"title": "my referrals", "value": "See your referrals and where they are"},
    {
        "title": "cancel",
        "value": "Stop the referral you are making and delete what you entered (past step 1, "
        "I ask first)",
    },
    {"title": "restart", "value": "Start the referral you are making again, from step 1"},
    {"title": "help", "value": "Show this"},
]


def help_card(context: str | None = None) -> dict[str, Any]:
    return render("help", {"context": context, "commands": COMMANDS})
