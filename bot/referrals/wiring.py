"""The referrals feature, put together: the form, the store it writes to, and its commands."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.shared import Shared
from bot.referrals.model import FURTHER_QUESTIONS, FormQuestion
from bot.referrals.routes import MyReferrals
from bot.referrals.store import Intake, ReferralStore
from bot.teams.routes import Feature
from cards.referrals import FormOptions
from cards.verbs import Verb


@dataclass(frozen=True)
class Referrals:
    feature: Feature
    store: ReferralStore  # the referral dialog (dialogs/) submits through it
    form: FormOptions  # what the referral dialog's cards show and ask


def wiring(shared: Shared, *, questions: tuple[FormQuestion, ...] | None = None) -> Referrals:
    """`questions` replaces the form's further questions (FURTHER_QUESTIONS) in tests."""
    settings = shared.settings
    asked = FURTHER_QUESTIONS if questions is None else questions
    # FormOptions refuses, at start-up, a question its step's card could not ask.
    form = FormOptions(shared.models, settings.narrative_max_chars, asked)
    intake = Intake(shared.writer, shared.calendar, settings.triage_reminder_working_days)
    store = ReferralStore(
        shared.database,
        shared.cipher,
        settings.reference_prefix,
        intake=intake,
        clock=shared.clock,
        questions=asked,
    )
    listing = MyReferrals(store, shared.models)
    return Referrals(Feature(commands={Verb.MY_REFERRALS: listing.show}), store, form)
