"""Greetings and thanks typed to the bot: a friendly answer, never "I did not understand".

Matched whole, like commands (bot.teams.commands): "hi" is a greeting, "hi, Child A is stuck"
is not.
"""

from __future__ import annotations

import re
from enum import Enum


class SmallTalk(Enum):
    GREETING = "greeting"
    THANKS = "thanks"


_GREETINGS = {
    "hi",
    "hello",
    "hey",
    "hiya",
    "hi there",
    "hello there",
    "hi again",
    "hello again",
    "good morning",
    "good afternoon",
    "good evening",
    "morning",
    "afternoon",
}
_THANKS = {
    "thanks",
    "thank you",
    "thanks a lot",
    "thank you very much",
    "many thanks",
    "cheers",
    "ta",
    "thx",
    "ok thanks",
    "ok thank you",
    "great thanks",
    "great thank you",
}
_NOISE = re.compile(r"[\s.,!?]+")


def small_talk_of(text: str | None) -> SmallTalk | None:
    """What typed `text` is, if it is only a greeting or a thank-you."""
    said = _NOISE.sub(" ", re.sub(r"<at>[^<]*</at>", "", text or "")).strip().lower()
    if said in _GREETINGS:
        return SmallTalk.GREETING
    if said in _THANKS:
        return SmallTalk.THANKS
    return None
