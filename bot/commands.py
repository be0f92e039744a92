"""What the user asked for: a typed command or a card button, by exact name only."""

from __future__ import annotations

import re

from botbuilder.schema import Activity

from cards.verbs import Verb

# Typed commands. Matched whole (case, spaces and end punctuation aside), never by substring:
# "I cancelled the meeting" in a narrative must not cancel the referral.
TYPED_COMMANDS: dict[str, Verb] = {
    "refer": Verb.START_REFERRAL,
    "referral": Verb.START_REFERRAL,
    "make a referral": Verb.START_REFERRAL,
    "my referrals": Verb.MY_REFERRALS,
    "help": Verb.HELP,
    "cancel": Verb.CANCEL,
    "restart": Verb.RESTART,
    "start again": Verb.RESTART,
}
# Card buttons that act outside any form step.
GLOBAL_BUTTONS = {Verb.START_REFERRAL, Verb.MY_REFERRALS, Verb.HELP, Verb.CANCEL, Verb.RESTART}

_NOISE = re.compile(r"[\s.!?]+")


def normalise(text: str) -> str:
    return _NOISE.sub(" ", text).strip().lower()


def command_of(activity: Activity) -> Verb | None:
    """The command in this message, if it is one; form answers are not commands."""
    value = activity.value
    if isinstance(value, dict):
        try:
            verb = Verb(str(value.get("verb", "")))
        except ValueError:
            return None
        return verb if verb in GLOBAL_BUTTONS else None
    if activity.text:
        return TYPED_COMMANDS.get(normalise(_strip_mentions(activity)))
    return None


def _strip_mentions(activity: Activity) -> str:
    # In a group chat the text starts with "<at>Bot</at>"; the mention is not the command.
    return re.sub(r"<at>[^<]*</at>", "", activity.text or "")
