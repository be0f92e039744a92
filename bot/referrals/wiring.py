"""The referrals feature, put together: the store the form writes to, and its commands."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.shared import Shared
from bot.referrals.routes import MyReferrals
from bot.referrals.store import Intake, ReferralStore
from bot.teams.routes import Feature
from cards.verbs import Verb


@dataclass(frozen=True)
class Referrals:
    feature: Feature
    store: ReferralStore  # the referral dialog (dialogs/) submits through it


def wiring(shared: Shared) -> Referrals:
    settings = shared.settings
    intake = Intake(shared.writer, shared.calendar, settings.triage_reminder_working_days)
    store = ReferralStore(
        shared.sessions,
        shared.cipher,
        settings.reference_prefix,
        intake=intake,
        clock=shared.clock,
    )
    listing = MyReferrals(store, shared.models)
    return Referrals(Feature(commands={Verb.MY_REFERRALS: listing.show}), store)
