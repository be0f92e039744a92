"""Every card the bot can send, filled with sample data: `python -m tests.support.gallery DIR`.

Writes one JSON file per card so the cards can be reviewed and rendered without Teams.
The tests validate every card listed here against Adaptive Cards 1.5.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.protocols import BUILT_IN, catalogue_of, load_protocols
from bot.core.settings import Settings
from bot.referrals.model import (
    AboutReferrer,
    FormQuestion,
    Invitee,
    Narrative,
    ReferralDraft,
    ReferralKind,
    ReferralStatus,
    RethinkStrategy,
    Timing,
    Urgency,
)
from bot.referrals.views import ReferralSummary
from cards.help import help_card
from cards.referrals import (
    FORM_STEPS,
    FormOptions,
    cancel_question_card,
    confirmation_card,
    form_card,
    my_referrals_card,
    signpost_card,
    stop_question_card,
    welcome_card,
)
from cards.verbs import Verb
from dialogs.settled import answered_record, closing_record
from dialogs.submissions import StepAnswer
from tests.support.feedback_gallery import feedback_gallery
from tests.support.further_gallery import further_gallery
from tests.support.report_gallery import report_gallery
from tests.support.session_gallery import session_gallery
from tests.support.triage_gallery import triage_gallery

SAMPLE_DRAFT = ReferralDraft(
    risk_checked=True,
    kind=ReferralKind.CHILD_FAMILY,
    model="re_think",
    rethink_strategy=RethinkStrategy.INDEPENDENT_FACILITATOR,
    narrative=Narrative(
        "Child A (ref CS-1234): school and health disagree about the level of need.",
        "A restorative space to agree a way forward.",
    ),
    about=AboutReferrer(
        "Health Visiting", "Health visitor", False, True, "Alex Manager", "alex@nhs.example"
    ),
    invitees=[Invitee("Pat Teacher", "Oak School", "pat@oak.example")],
    invitees_done=True,
    timing=Timing("Tuesday afternoons", Urgency.SOON),
)
# A partnership's further questions (bot.referrals.model.FURTHER_QUESTIONS), as a deployment
# might declare them: a text and a required yes or no.
FURTHER_QUESTIONS = (
    FormQuestion(
        "team",
        Verb.ABOUT,
        "Your team or service, if different from your agency",
        "Team or service",
        max_chars=120,
    ),
    FormQuestion(
        "first_referral",
        Verb.ABOUT,
        "Is this your first referral to the partnership?",
        "First referral",
        kind="yes_no",
        required=True,
    ),
)


def all_cards() -> dict[str, dict[str, Any]]:
    """Name -> card, for every card the bot sends."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    models = catalogue_of(load_protocols([BUILT_IN]), settings.offered_models)
    options = FormOptions(models, settings.narrative_max_chars)
    cards: dict[str, Callable[[], dict[str, Any]]] = {
        "welcome": lambda: welcome_card(settings.partnership_name, models),
        "help": lambda: help_card(),
        "help-at-step": lambda: help_card(
            "You are at step 4 (What is stuck). Say briefly what feels stuck."
        ),
        "signpost": lambda: signpost_card(
            settings.child_protection_text, settings.child_protection_url
        ),
        "confirmation": lambda: confirmation_card(
            "RP-2026-0001", SAMPLE_DRAFT, ReferralStatus.SUBMITTED, models
        ),
        "confirmation-noted": lambda: confirmation_card(
            "RP-2026-0002", SAMPLE_DRAFT, ReferralStatus.NOTED_ONE_TO_ONE, models
        ),
        "my-referrals": lambda: my_referrals_card(
            [
                ReferralSummary(
                    "RP-2026-0001",
                    ReferralStatus.SUBMITTED,
                    "re_think",
                    "child_family",
                    datetime(2026, 11, 2, tzinfo=UTC),
                ),
                ReferralSummary(
                    "RP-2026-0003",
                    ReferralStatus.MORE_INFO_REQUESTED,
                    "space_to_think",
                    "child_family",
                    datetime(2026, 11, 20, tzinfo=UTC),
                ),
                ReferralSummary(
                    "RP-2026-0002",
                    ReferralStatus.SCHEDULED,
                    "space_to_think",
                    "theme",
                    datetime(2026, 10, 5, tzinfo=UTC),
                ),
            ],
            models,
        ),
        "my-referrals-empty": lambda: my_referrals_card([], models),
    }
    for verb in FORM_STEPS:
        cards[f"form-{verb.value}"] = lambda verb=verb: form_card(verb, SAMPLE_DRAFT, options)  # type: ignore[misc]
    # Drawn again from the draft (a refused answer gets a message, not the card again).
    cards["form-narrative-with-error"] = lambda: form_card(
        Verb.NARRATIVE,
        SAMPLE_DRAFT,
        options,
        "That button is on an earlier card. Your answers are kept: carry on here.",
    )
    cards["form-invitees-empty"] = lambda: form_card(Verb.INVITEES, ReferralDraft(), options)
    # What a step's card becomes once answered, or when the referral ends there (bot.teams.settle).
    cards["form-narrative-answered"] = lambda: answered_record(
        Verb.NARRATIVE, StepAnswer(SAMPLE_DRAFT.narrative, {}), SAMPLE_DRAFT, options
    )
    cards["form-review-sent"] = lambda: closing_record(
        Verb.REVIEW, "Sent: its reference is RP-2026-0001."
    )
    # Asked before anything written is thrown away (dialogs.referral_dialog, form_prompt).
    cards["form-cancel-question"] = lambda: cancel_question_card(Verb.NARRATIVE, SAMPLE_DRAFT)
    cards["form-stop-question"] = lambda: stop_question_card(SAMPLE_DRAFT)
    cards["form-about-further-questions"] = lambda: form_card(
        Verb.ABOUT,
        ReferralDraft(),
        FormOptions(models, settings.narrative_max_chars, FURTHER_QUESTIONS),
    )
    cards.update(triage_gallery())
    cards.update(session_gallery())
    cards.update(further_gallery())
    cards.update(feedback_gallery())
    cards.update(report_gallery())
    return {name: build() for name, build in cards.items()}


def write_gallery(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, card in all_cards().items():
        path = directory / f"{name}.json"
        path.write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "build/cards")
    paths = write_gallery(target)
    print(f"wrote {len(paths)} cards to {target}")
