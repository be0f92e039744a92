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
    # The triage desk's typed commands (admins only).
    REGISTER_TRIAGE = "register_triage"
    DIGEST = "digest"
    AUDIT = "audit"
    # The practitioner's answer to a triage question (in their 1:1 chat).
    ANSWER_QUESTION = "answer_question"


class TriageVerb(StrEnum):
    """Action.Execute verbs on the triage card; every one of them is for admins only."""

    DETAILS = "triage_details"
    HIDE = "triage_hide"
    ACCEPT_FORM = "triage_accept_form"
    ASK_FORM = "triage_ask_form"
    DECLINE_FORM = "triage_decline_form"
    WITHDRAW_FORM = "triage_withdraw_form"
    ACCEPT = "triage_accept"
    ASK = "triage_ask"
    DECLINE = "triage_decline"
    WITHDRAW = "triage_withdraw"
