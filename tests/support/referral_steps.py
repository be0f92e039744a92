"""Answers for each step of the referral form, as a practitioner would give them."""

from __future__ import annotations

from typing import Any

from tests.support.client import TeamsUser

NO_RISK = {"verb": "risk", "at_risk": "no"}
KIND = {"verb": "kind", "kind": "child_family", "theme": ""}
MODEL_STT = {"verb": "model", "model": "space_to_think", "rethink_strategy": ""}
NARRATIVE = {
    "verb": "narrative",
    "what_is_stuck": "Child A (ref CS-1234): the network cannot agree the level of need.",
    "help_wanted": "Space to think together about next steps.",
}
ABOUT = {
    "verb": "about",
    "agency": "Health Visiting",
    "role": "Health visitor",
    "is_lead_professional": "no",
    "manager_agreed": "yes",
    "manager_name": "Alex Manager",
    "manager_email": "alex.manager@nhs.example",
}
INVITEES = {
    "verb": "invitees",
    "op": "done",
    "name_1": "Pat Teacher",
    "agency_1": "Oak School",
    "email_1": "pat@oak.example",
}
TIMING = {"verb": "timing", "availability": "Tuesday afternoons", "urgency": "soon"}
SUBMIT = {"verb": "review", "change": "submit"}

HAPPY_PATH: list[dict[str, Any]] = [NO_RISK, KIND, MODEL_STT, NARRATIVE, ABOUT, INVITEES, TIMING]


async def answer_up_to_review(
    user: TeamsUser, steps: list[dict[str, Any]] = HAPPY_PATH
) -> list[dict[str, Any]]:
    """Starts a referral and answers `steps`; returns what the bot sent after the last one."""
    await user.say("refer")
    sent: list[dict[str, Any]] = []
    for answer in steps:
        sent = await user.press(answer)
    return sent
