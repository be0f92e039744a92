"""What the feedback cards ask, and what the bot knows of a session when someone answers.

One `FeedbackForm` says which questions a round asks (the question every model asks, its
words unless the session keeps no notes, the model's own questions, the organisation): the
card is drawn from it and a press is read against it, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.protocols import (
    CHANGED,
    CHANGED_WORDS,
    FELT,
    FELT_WORDS,
    Feedback,
    Question,
    QuestionKind,
)
from bot.feedback.model import Round

MAX_WORDS = 500
MAX_AGENCY = 120
SCORES = range(1, 6)
YES, NO = "yes", "no"

# The question every model asks, by round: 1 to 5, labelled at both ends.
HEADLINES = {
    Round.AFTER: Question(
        key=FELT,
        text="How did the session feel for you?",
        low="Not good at all",
        high="Very good",
    ),
    Round.FOLLOW_UP: Question(
        key=CHANGED,
        text="How has the session changed your practice?",
        low="Not at all",
        high="A great deal",
    ),
}
WORDS = {
    Round.AFTER: (FELT_WORDS, "Anything you want to say about how it felt?"),
    Round.FOLLOW_UP: (CHANGED_WORDS, "What has changed?"),
}
AGENCY_KEY, AGENCY_LABEL = "agency", "Your organisation"


@dataclass(frozen=True)
class FeedbackSession:
    """A session as the feedback feature sees it: its reference and model, never its case."""

    id: int
    reference: str
    tenant_id: str
    referral_id: int | None
    model: str
    name: str  # the model's name: "Think Space"
    conversation_id: str
    conversation_reference: dict[str, Any]
    no_notes: bool
    feedback: Feedback
    # Ended after it began, and not purged: its feedback may be asked and given.
    over: bool
    # The question months on has been asked of someone: its card exists.
    follow_up_asked: bool

    def form(self, round_: Round) -> FeedbackForm:
        return FeedbackForm(self, round_)


@dataclass(frozen=True)
class FeedbackForm:
    session: FeedbackSession
    round: Round

    @property
    def headline(self) -> Question:
        return HEADLINES[self.round]

    @property
    def words(self) -> tuple[str, str] | None:
        """The words box's key and label; None in a session that keeps no notes."""
        return None if self.session.no_notes else WORDS[self.round]

    @property
    def questions(self) -> list[Question]:
        feedback = self.session.feedback
        return feedback.questions if self.round is Round.AFTER else feedback.follow_up_questions

    @property
    def months(self) -> int:
        return self.session.feedback.follow_up_months


@dataclass(frozen=True)
class Answer:
    """One person's answers, checked: what is stored, without who gave them."""

    score: int
    answers: dict[str, int | str]
    words: str | None
    agency: str | None


def scale_choices(question: Question) -> list[dict[str, str]]:
    """1 to 5, the ends labelled: "1 · Not at all" ... "5 · A great deal"."""
    ends = {1: question.low, 5: question.high}
    return [
        {"title": f"{n} \u00b7 {ends[n]}" if n in ends else str(n), "value": str(n)} for n in SCORES
    ]


def choices_of(question: Question) -> list[dict[str, str]]:
    if question.kind is QuestionKind.YES_NO:
        return [{"title": "Yes", "value": YES}, {"title": "No", "value": NO}]
    return scale_choices(question)
