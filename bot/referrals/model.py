"""What a referral is: its choices, and the draft that the referral dialog fills in."""

from __future__ import annotations

import re
import uuid
from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal

from cards.verbs import Verb


class ReferralKind(StrEnum):
    CHILD_FAMILY = "child_family"
    THEME = "theme"
    NETWORK_CHALLENGE = "network_challenge"
    DEBRIEF = "debrief"


class Theme(StrEnum):
    REPEAT_REFERRALS = "repeat_referrals"
    LARGE_SIBLING_GROUP = "large_sibling_group"
    LONG_INVOLVEMENT = "long_involvement"
    MULTIGENERATIONAL = "multigenerational"
    OTHER = "other"


class RethinkStrategy(StrEnum):
    ONE_TO_ONE = "1"
    PROFESSIONALS_MEETING = "2"
    INDEPENDENT_FACILITATOR = "3"


class Urgency(StrEnum):
    ROUTINE = "routine"
    SOON = "soon"
    URGENT = "urgent"


class ReferralStatus(StrEnum):
    SUBMITTED = "submitted"
    MORE_INFO_REQUESTED = "more_info_requested"
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    COMPLETED = "completed"
    NOTED_ONE_TO_ONE = "noted_one_to_one"


class BookingState(StrEnum):
    """Where its Outlook meeting has got to (bot.scheduling.bookings); None: booked by hand."""

    BOOKING = "booking"  # asked for; the calendar job is creating or moving the event
    BOOKED = "booked"
    CANCELLING = "cancelling"
    FAILED = "failed"  # booking_problem says why


KIND_LABELS = {
    ReferralKind.CHILD_FAMILY: "A child or family",
    ReferralKind.THEME: "A theme",
    ReferralKind.NETWORK_CHALLENGE: "A challenge or communication difficulty in the network",
    ReferralKind.DEBRIEF: "A debrief after a significant event",
}
THEME_LABELS = {
    Theme.REPEAT_REFERRALS: "Repeat re-referrals",
    Theme.LARGE_SIBLING_GROUP: "Large sibling group",
    Theme.LONG_INVOLVEMENT: "Long involvement",
    Theme.MULTIGENERATIONAL: "Multigenerational concerns",
    Theme.OTHER: "Other",
}
STRATEGY_LABELS = {
    RethinkStrategy.ONE_TO_ONE: "Strategy 1: a one-to-one conversation with the Lead Professional",
    RethinkStrategy.PROFESSIONALS_MEETING: (
        "Strategy 2: a professionals-only Re-think, facilitated by the Lead Professional or "
        "their manager"
    ),
    RethinkStrategy.INDEPENDENT_FACILITATOR: "Strategy 3: ask for an independent facilitator",
}
URGENCY_LABELS = {
    Urgency.ROUTINE: "Routine (within a month)",
    Urgency.SOON: "Soon (within two weeks)",
    Urgency.URGENT: "Urgent (this week)",
}
STATUS_LABELS = {
    ReferralStatus.SUBMITTED: "Submitted, waiting for triage",
    ReferralStatus.MORE_INFO_REQUESTED: "More information requested",
    ReferralStatus.ACCEPTED: "Accepted",
    ReferralStatus.SCHEDULED: "Session scheduled",
    ReferralStatus.DECLINED: "Declined",
    ReferralStatus.WITHDRAWN: "Withdrawn",
    ReferralStatus.COMPLETED: "Session held",
    ReferralStatus.NOTED_ONE_TO_ONE: "Noted: one-to-one conversation with the Lead Professional",
}


@dataclass
class Invitee:
    name: str
    agency: str
    email: str


@dataclass
class AboutReferrer:
    agency: str
    role: str
    is_lead_professional: bool
    manager_agreed: bool
    manager_name: str = ""
    manager_email: str = ""


@dataclass
class Narrative:
    what_is_stuck: str
    help_wanted: str


@dataclass
class Timing:
    availability: str
    urgency: Urgency


QuestionKind = Literal["text", "yes_no"]
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class FormQuestion:
    """A further question on one step of the referral form, declared once as data.

    The step's card shows it after the step's own inputs (cards/templates/further_questions.json),
    its answer is checked with the step's, stored with the referral (ReferralRow.further_answers,
    under `label_for_admins`, so a later rewording leaves earlier referrals as they were asked)
    and shown to admins on the triage card.
    """

    key: str  # the card input's id and the stored answer's key: never reuse a retired one
    step: Verb  # a step with its own section on the review card (cards.referrals.QUESTION_STEPS)
    asked: str  # the question as the referrer reads it
    label_for_admins: str  # its name on the review and triage cards
    kind: QuestionKind = "text"
    max_chars: int = 200  # text only: longer answers are refused politely
    required: bool = False

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise ValueError(f"question key {self.key!r}: use lower_case letters, digits and _")
        if not 0 < self.max_chars <= 4000:  # 4000: what one card field may carry at all
            raise ValueError(f"question {self.key}: max_chars must be between 1 and 4000")

    def shown(self, answer: str) -> str:
        """The stored answer as a person reads it."""
        if self.kind == "yes_no":
            return "Yes" if answer == "yes" else "No"
        return answer


# The further questions of the form, in the order they are shown. Adding one is one entry here
# (README, "Add a question to the referral form"); nothing else changes.
FURTHER_QUESTIONS: tuple[FormQuestion, ...] = ()


def answered(
    questions: tuple[FormQuestion, ...], answers: dict[str, str], step: Verb | None = None
) -> list[tuple[FormQuestion, str]]:
    """The questions (of `step`, or of every step) that have an answer, with it as shown."""
    return [
        (question, question.shown(answers[question.key]))
        for question in questions
        if question.key in answers and (step is None or question.step is step)
    ]


@dataclass
class ModelChoice:
    """A session chosen earlier, kept while the review's "Change" of it is under way, so that
    the referrer can go back to the review with it (rather than lose a finished referral)."""

    model: str
    strategy: RethinkStrategy | None
    note_only: bool


@dataclass
class ReferralDraft:
    """The slots of a referral. The dialog skips a slot that is already filled.

    This class is stored in dialog state (pickled with its import path): keep it here.
    """

    # Identifies this draft: stale cards carry another id, and a second Submit of the same
    # draft finds the referral the first one stored instead of storing another.
    draft_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    risk_checked: bool = False
    kind: ReferralKind | None = None
    theme: Theme | None = None
    model: str | None = None  # a protocol's id (bot.core.protocols.ModelCatalogue)
    rethink_strategy: RethinkStrategy | None = None
    narrative: Narrative | None = None
    about: AboutReferrer | None = None
    invitees: list[Invitee] | None = None
    timing: Timing | None = None
    invitees_done: bool = False
    # Strategy 1 of Re-think: the referrer only wants the one-to-one conversation noted.
    note_only: bool = False
    # The section the review card asked to change: its step is shown again though filled.
    editing: str | None = None
    # Answers to the further questions (FormQuestion), by key: "yes"/"no" or the text given.
    answers: dict[str, str] = field(default_factory=dict)
    # The session chosen before the review asked to change it (see ModelChoice).
    replaced_model: ModelChoice | None = None

    def has_writing(self) -> bool:
        """Whether the referrer has written anything beyond the first three steps' choices:
        losing it then needs their word (a Stop or Cancel asks first)."""
        return any((self.narrative, self.about, self.invitees, self.timing, self.answers))

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A draft pickled before a field was added lacks it: it gets the field's default, so a
        # half-finished referral carries on after an upgrade.
        for slot in fields(self):
            if slot.name in state:
                continue
            if slot.default is not MISSING:
                state[slot.name] = slot.default
            elif slot.default_factory is not MISSING:
                state[slot.name] = slot.default_factory()
        self.__dict__.update(state)
