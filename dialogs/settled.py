"""What an answered step's card becomes: a record of the answer in a few words.

Choices are named ("Referring: A child or family"); what was typed is not repeated, only
that it was written and how long it is, as on the review card: every card stays in the chat's
history, and the data-protection rule is that no card the bot sends echoes typed text.
"""

from __future__ import annotations

from typing import Any

from bot.referrals.model import (
    KIND_LABELS,
    STRATEGY_LABELS,
    THEME_LABELS,
    URGENCY_LABELS,
    AboutReferrer,
    Narrative,
    ReferralDraft,
    Timing,
)
from cards.referrals import FORM_STEPS, FormOptions, answered_card, said
from cards.verbs import Verb
from dialogs.submissions import (
    InviteesAnswer,
    KindAnswer,
    ModelAnswer,
    ReviewAnswer,
    RiskAnswer,
    StepAnswer,
    StrategyOneAnswer,
    StrategyOneChoice,
)

_STRATEGY_ONE = {
    StrategyOneChoice.NOTE: "Note the conversation with the Lead Professional",
    StrategyOneChoice.CHANGE: "Choose strategy 2 or 3",
    StrategyOneChoice.STOP: "Stopped: nothing was kept",
    StrategyOneChoice.REVIEW: "Back to the review",
}


def answered_record(
    verb: Verb, step: StepAnswer, draft: ReferralDraft, options: FormOptions
) -> dict[str, Any]:
    """The card that replaces step `verb`'s card(s) once `step` is taken; `draft` is the
    draft before it."""
    facts = _facts(step.answer, draft, options)
    for question in options.questions_of(verb):
        value = step.further.get(question.key, "")
        if value:
            shown = said(value) if question.kind == "text" else question.shown(value)
            facts.append((question.label_for_admins, shown))
    return answered_card(verb, facts)


def _facts(answer: Any, draft: ReferralDraft, options: FormOptions) -> list[tuple[str, str]]:
    if isinstance(answer, RiskAnswer):
        at_risk = "Yes: the referral stopped here" if answer.at_risk else "No"
        return [("A child at immediate risk", at_risk)]
    if isinstance(answer, KindAnswer):
        kind = KIND_LABELS[answer.kind]
        if answer.theme is not None:
            kind += f" ({THEME_LABELS[answer.theme]})"
        return [("Referring", kind)]
    if isinstance(answer, ModelAnswer):
        session = options.models.label(answer.model)
        if answer.strategy is not None:
            session += f", {STRATEGY_LABELS[answer.strategy]}"
        return [("Session", session)]
    if isinstance(answer, StrategyOneAnswer):
        return [("Your choice", _STRATEGY_ONE[answer.choice])]
    if isinstance(answer, Narrative):
        return [
            ("What is stuck", said(answer.what_is_stuck)),
            ("The help you want", said(answer.help_wanted)),
        ]
    if isinstance(answer, AboutReferrer):
        manager = "Agreed; name and email given" if answer.manager_agreed else "Not yet agreed"
        return [
            ("Your agency and role", "Given"),
            ("Lead Professional", "Yes" if answer.is_lead_professional else "No"),
            ("Manager", manager),
        ]
    if isinstance(answer, InviteesAnswer):
        return [_invitees(answer, len(draft.invitees or []))]
    if isinstance(answer, Timing):
        return [
            ("When you are available", said(answer.availability)),
            ("How soon", URGENCY_LABELS[answer.urgency]),
        ]
    if isinstance(answer, ReviewAnswer) and answer.change is not None:
        return [("You chose to change", FORM_STEPS[answer.change][1])]
    return []


def _invitees(answer: InviteesAnswer, listed: int) -> tuple[str, str]:
    if answer.remove_index is not None:
        return ("Removed", "One person; the list goes on below")
    if not answer.done:
        return ("Added", f"{_people(len(answer.added)) or 'No one new'}; the list goes on below")
    return ("To invite", _people(listed + len(answer.added)) or "No one")


def _people(count: int) -> str:
    return "" if count == 0 else f"{count} {'person' if count == 1 else 'people'}"


def closing_record(verb: Verb, line: str) -> dict[str, Any]:
    """What a step's card becomes when the referral ends there (cancelled, stopped, sent)."""
    return answered_card(verb, [], line)
