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
    "register triage here": Verb.REGISTER_TRIAGE,
    "digest": Verb.DIGEST,
    "report": Verb.REPORT,
    "start session": Verb.START_SESSION,
    "questions": Verb.SESSION_QUESTIONS,
    "reflective questions": Verb.SESSION_QUESTIONS,
}
# Typed commands followed by one argument: "audit RP-2026-0001".
ARGUMENT_COMMANDS: dict[str, Verb] = {"audit": Verb.AUDIT, "report": Verb.REPORT}
# Card buttons that act outside any form step.
GLOBAL_BUTTONS = {
    Verb.START_REFERRAL,
    Verb.MY_REFERRALS,
    Verb.HELP,
    Verb.CANCEL,
    Verb.RESTART,
    Verb.ANSWER_QUESTION,
}

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


def argument_command_of(activity: Activity) -> tuple[Verb, str] | None:
    """A typed command with its argument, e.g. (Verb.AUDIT, "RP-2026-0001")."""
    if activity.value is not None or not activity.text:
        return None
    words = normalise(_strip_mentions(activity)).split(" ", 1)
    verb = ARGUMENT_COMMANDS.get(words[0])
    if verb is None or len(words) < 2 or not words[1].strip():
        return None
    return verb, words[1].strip()


def _strip_mentions(activity: Activity) -> str:
    # In a group chat the text starts with "<at>Bot</at>"; the mention is not the command.
    return re.sub(r"<at>[^<]*</at>", "", activity.text or "")
