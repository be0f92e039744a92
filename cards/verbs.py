"""Card verbs: one name shared by the card that sends it and the code that handles it."""

from enum import StrEnum


class Verb(StrEnum):
    START_REFERRAL = "start_referral"
    MY_REFERRALS = "my_referrals"
    HELP = "help"
    CANCEL = "cancel"
    RESTART = "restart"
    # One verb per step of the referral form; the step's card submits it.
    RISK = "risk"
    KIND = "kind"
    MODEL = "model"
    STRATEGY_ONE = "strategy_one"
    NARRATIVE = "narrative"
    ABOUT = "about"
    INVITEES = "invitees"
    TIMING = "timing"
    REVIEW = "review"
