"""Card submissions and typed answers: untrusted input becomes typed objects here.

Each step's parser takes the submitted fields and returns its answer, or raises `Rejected`
with a polite message that names the box and the problem, never what was typed: the message
goes into the chat, and what was typed stays in the card it was typed in. `parse_step` adds
the answers to the step's further questions (bot.referrals.model.FormQuestion), read the same
way for every step.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from bot.core.pii import identifying_details_problem
from bot.core.storable import whole_number
from bot.referrals.model import (
    AboutReferrer,
    FormQuestion,
    Invitee,
    Narrative,
    ReferralDraft,
    ReferralKind,
    RethinkStrategy,
    Theme,
    Timing,
    Urgency,
)
from cards.referrals import BLANK_INVITEE_ROWS, CONFIRMED_KEY, DRAFT_KEY, FormOptions
from cards.verbs import Verb

E = TypeVar("E")
MAX_FIELDS = 60
MAX_FIELD_CHARS = 4000
# Column sizes in bot/models.py: a longer value must be refused here, not by the database.
MAX_NAME_CHARS = 120
MAX_EMAIL_CHARS = 254
MAX_AVAILABILITY_CHARS = 500
MAX_INVITEES = 30
_EMAIL = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[A-Za-z]{2,}$")
# What refusals call the free-text boxes (short forms of the cards' labels).
STUCK_LABEL = "What is stuck"
HELP_LABEL = "The help you want"
AVAILABILITY_LABEL = "When you are available"


class Rejected(ValueError):
    """An answer refused; `message` says what to fix and in which box, never quoting it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Submission:
    """What one card button (or typed text) sent: its verb and its fields as text."""

    verb: Verb | None
    fields: dict[str, str]
    text: str
    draft_id: str | None = None  # the draft whose card sent it


def read_submission(value: object, text: str | None) -> Submission:
    """The envelope of a card submit; anything malformed is `Rejected`, never an exception."""
    clean_text = (text or "").strip()[:MAX_FIELD_CHARS]
    if value is None:
        return Submission(None, {}, clean_text)
    if not isinstance(value, dict) or len(value) > MAX_FIELDS:
        raise Rejected("That card sent something I could not read. Please use the card again.")
    fields: dict[str, str] = {}
    for key, raw in value.items():
        if not isinstance(key, str) or not isinstance(raw, str | int | float | bool) or raw is None:
            continue  # stray or nested values are dropped, not trusted
        fields[key] = str(raw).strip()
    oversized = [key for key, field in fields.items() if len(field) > MAX_FIELD_CHARS]
    for key in oversized:
        fields[key] = fields[key][:MAX_FIELD_CHARS]
    verb_text = fields.pop("verb", "")
    draft_id = fields.pop(DRAFT_KEY, None)
    try:
        verb = Verb(verb_text) if verb_text else None
    except ValueError:
        raise Rejected("That button is not one I know. Please use the latest card.") from None
    if oversized:
        raise Rejected("Some of that was far longer than the form allows. Please shorten it.")
    return Submission(verb, fields, clean_text, draft_id)


# --- answers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskAnswer:
    at_risk: bool


@dataclass(frozen=True)
class KindAnswer:
    kind: ReferralKind
    theme: Theme | None


@dataclass(frozen=True)
class ModelAnswer:
    model: str  # an offered protocol's id
    strategy: RethinkStrategy | None


class StrategyOneChoice(StrEnum):
    """The buttons of the strategy-1 advice card (cards/templates/strategy_one.json)."""

    NOTE = "note"
    CHANGE = "change"
    STOP = "stop"
    REVIEW = "review"  # back to the review, with the session chosen before (a Change led here)


@dataclass(frozen=True)
class StrategyOneAnswer:
    choice: StrategyOneChoice
    confirmed: bool = False  # a Stop from the button that asked first


@dataclass(frozen=True)
class InviteesAnswer:
    added: list[Invitee]
    done: bool
    remove_index: int | None = None


@dataclass(frozen=True)
class ReviewAnswer:
    change: Verb | None  # None means "submit"


@dataclass(frozen=True)
class StepAnswer:
    """What one step of the form gives the dialog: the step's own answer (one of the above),
    and the answers to its further questions by key ("" for one left blank)."""

    answer: Any
    further: dict[str, str]
    # Ids of the step's cards still to settle (bot.teams.settle): those of a Submit, which the
    # dialog settles once the referral is stored and confirmed, not before.
    unsettled: tuple[str, ...] = ()


# --- parsers -------------------------------------------------------------------------------

_YES = {"yes", "y", "true"}
_NO = {"no", "n", "false"}


def _yes_no(value: str, question: str) -> bool:
    lowered = value.lower()
    if lowered in _YES:
        return True
    if lowered in _NO:
        return False
    raise Rejected(f"Please answer yes or no: {question}")


def _choice(enum: type[E], value: str, message: str) -> E:
    try:
        return enum(value)  # type: ignore[call-arg]
    except ValueError:
        raise Rejected(message) from None


def _required(fields: dict[str, str], key: str, message: str) -> str:
    value = fields.get(key, "")
    if not value:
        raise Rejected(message)
    return value


def parse_risk(s: Submission, options: FormOptions, draft: ReferralDraft) -> RiskAnswer:
    answer = s.fields.get("at_risk") or s.text
    return RiskAnswer(_yes_no(answer, "is any child at immediate risk of harm?"))


def parse_kind(s: Submission, options: FormOptions, draft: ReferralDraft) -> KindAnswer:
    kind = _choice(ReferralKind, s.fields.get("kind", ""), "Please choose what you are referring.")
    theme = None
    if kind is ReferralKind.THEME:
        theme = _choice(Theme, s.fields.get("theme", ""), "Please choose which theme.")
    return KindAnswer(kind, theme)


def parse_model(s: Submission, options: FormOptions, draft: ReferralDraft) -> ModelAnswer:
    model = options.models.get(s.fields.get("model", ""))
    if model is None:
        raise Rejected("Please choose a kind of session.")
    if model.id not in options.models:
        raise Rejected(
            "The partnership does not offer that kind of session. Please choose another."
        )
    strategy = None
    if model.asks_strategy:
        strategy = _choice(
            RethinkStrategy,
            s.fields.get("rethink_strategy", ""),
            f"For {model.label}, please choose which strategy you are at (1, 2 or 3).",
        )
    return ModelAnswer(model.id, strategy)


def parse_strategy_one(
    s: Submission, options: FormOptions, draft: ReferralDraft
) -> StrategyOneAnswer:
    choice = _choice(
        StrategyOneChoice, s.fields.get("choice", ""), "Please choose one of the buttons."
    )
    return StrategyOneAnswer(choice, confirmed=s.fields.get(CONFIRMED_KEY) == "yes")


def parse_narrative(s: Submission, options: FormOptions, draft: ReferralDraft) -> Narrative:
    limit = options.narrative_max_chars
    stuck = _required(s.fields, "what_is_stuck", "Please tell us briefly what feels stuck.")
    help_wanted = _required(s.fields, "help_wanted", "Please tell us what help you would like.")
    boxes = ((STUCK_LABEL, stuck), (HELP_LABEL, help_wanted))
    for label, value in boxes:
        if len(value) > limit:
            raise Rejected(f"{label} is {len(value)} characters; please keep it to {limit}.")
    for label, value in boxes:
        _refuse_identifying_details(value, label)
    # A name in one box and a date of birth in the other identify a child too.
    both = f"{STUCK_LABEL}\u201d and \u201c{HELP_LABEL}"
    _refuse_identifying_details(f"{stuck}\n{help_wanted}", both)
    return Narrative(what_is_stuck=stuck, help_wanted=help_wanted)


def _refuse_identifying_details(text: str, label: str) -> None:
    """Refuses text that seems to identify a child, naming its box, never quoting it."""
    problem = identifying_details_problem(text, label)
    if problem:
        raise Rejected(problem)


def _email(value: str, whose: str) -> str:
    if len(value) > MAX_EMAIL_CHARS or not _EMAIL.match(value):
        raise Rejected(f"{whose} email address does not look right: please check it.")
    return value


def parse_about(s: Submission, options: FormOptions, draft: ReferralDraft) -> AboutReferrer:
    f = s.fields
    agency = _required(f, "agency", "Please enter your agency.")
    role = _required(f, "role", "Please enter your role.")
    lead = _yes_no(f.get("is_lead_professional", ""), "are you the Lead Professional?")
    agreed = _yes_no(f.get("manager_agreed", ""), "has your manager agreed?")
    name = email = ""  # a manager who has not agreed is not recorded
    if agreed:
        name = _required(f, "manager_name", "Please enter your manager's name, as they agreed.")
        email = _email(
            _required(f, "manager_email", "Please enter your manager's email."), "Your manager's"
        )
    if max(len(agency), len(role), len(name)) > MAX_NAME_CHARS:
        raise Rejected(f"Please keep names, agencies and roles to {MAX_NAME_CHARS} characters.")
    return AboutReferrer(agency, role, lead, agreed, name, email)


def parse_invitees(s: Submission, options: FormOptions, draft: ReferralDraft) -> InviteesAnswer:
    """New rows only; the dialog adds them to (or removes from) the list it already has."""
    f = s.fields
    listed = len(draft.invitees or [])
    if f.get("op") == "remove":
        index = whole_number(f.get("index", ""), high=MAX_INVITEES - 1)
        if index is None:
            raise Rejected("I could not tell whom to remove. Please try again.")
        return InviteesAnswer([], done=False, remove_index=index)
    added: list[Invitee] = []
    for number in range(1, BLANK_INVITEE_ROWS + 1):
        name, agency, email = (
            f.get(f"{part}_{number}", "") for part in ("name", "agency", "email")
        )
        if not (name or agency or email):
            continue
        # The row as its card calls it ("Practitioner 3"); what is in it is never repeated
        # (the refusal is sent into the chat and logged).
        row = f"Practitioner {listed + number}"
        missing = [
            what
            for what, value in (("name", name), ("agency", agency), ("work email", email))
            if not value
        ]
        if missing:
            raise Rejected(
                f"{row} has no {_either(missing)}. Each practitioner needs a name, an agency "
                "and a work email: please add it, or empty that row."
            )
        if max(len(name), len(agency)) > MAX_NAME_CHARS:
            raise Rejected(
                f"{row}: please keep the name and the agency to {MAX_NAME_CHARS} characters each."
            )
        added.append(Invitee(name, agency, _email(email, f"{row}'s work")))
    if listed + len(added) > MAX_INVITEES:
        raise Rejected(
            f"A session can have at most {MAX_INVITEES} people invited, and {listed} are on the "
            "list already. Remove someone first, or empty the new rows."
        )
    return InviteesAnswer(added, done=f.get("op") != "add")


def _either(words: list[str]) -> str:
    """The missing parts in words: "name", "name or work email", "name, agency or work email"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def parse_timing(s: Submission, options: FormOptions, draft: ReferralDraft) -> Timing:
    availability = _required(s.fields, "availability", "Please tell us when you are available.")
    if len(availability) > MAX_AVAILABILITY_CHARS:
        raise Rejected(f"Please keep availability to {MAX_AVAILABILITY_CHARS} characters.")
    _refuse_identifying_details(availability, AVAILABILITY_LABEL)
    urgency = _choice(Urgency, s.fields.get("urgency", ""), "Please choose how soon.")
    return Timing(availability, urgency)


_CHANGEABLE = {Verb.KIND, Verb.MODEL, Verb.NARRATIVE, Verb.ABOUT, Verb.INVITEES, Verb.TIMING}


def parse_review(s: Submission, options: FormOptions, draft: ReferralDraft) -> ReviewAnswer:
    change = s.fields.get("change", "") or s.text.lower()
    if change == "submit":
        return ReviewAnswer(None)
    try:
        section = Verb(change)
    except ValueError:
        section = None
    if section not in _CHANGEABLE:
        raise Rejected("Please press Submit referral, or Change beside the part to change.")
    return ReviewAnswer(section)


def parse_further(s: Submission, questions: tuple[FormQuestion, ...]) -> dict[str, str]:
    """The answers to `questions` (one step's), typed and checked like the step's own."""
    answers: dict[str, str] = {}
    for question in questions:
        value = s.fields.get(question.key, "")
        if not value:
            if question.required:
                raise Rejected(f"Please answer: {question.asked}")
        elif question.kind == "yes_no":
            value = "yes" if _yes_no(value, question.asked) else "no"
        else:
            if len(value) > question.max_chars:
                raise Rejected(
                    f"{question.label_for_admins} is {len(value)} characters; please keep it to "
                    f"{question.max_chars}."
                )
            _refuse_identifying_details(value, question.label_for_admins)
        answers[question.key] = value
    return answers


def parse_step(verb: Verb, s: Submission, options: FormOptions, draft: ReferralDraft) -> StepAnswer:
    answer = PARSERS[verb](s, options, draft)
    return StepAnswer(answer, parse_further(s, options.questions_of(verb)))


# Each step's parser reads the submission against the options and the draft so far.
PARSERS: dict[Verb, Callable[[Submission, FormOptions, ReferralDraft], Any]] = {
    Verb.RISK: parse_risk,
    Verb.KIND: parse_kind,
    Verb.MODEL: parse_model,
    Verb.STRATEGY_ONE: parse_strategy_one,
    Verb.NARRATIVE: parse_narrative,
    Verb.ABOUT: parse_about,
    Verb.INVITEES: parse_invitees,
    Verb.TIMING: parse_timing,
    Verb.REVIEW: parse_review,
}
