"""The feedback card's buttons: Send my feedback (`feedback_answer`), and the card's refresh
(`feedback_show`), which shows each person their own state: the questions, or thanks.

Anyone in the session's meeting chat whose press reaches the bot may answer, once per round
(guests from other organisations included; someone Teams never said had joined becomes a
participant). From a 1:1 chat only the session's participants may. Only the person who
pressed sees the answer to a press: nobody sees anyone else's feedback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.core.pii import identifying_details_problem
from bot.core.protocols import Question, QuestionKind
from bot.core.storable import storable, unstorable_message, whole_number
from bot.feedback.model import Round
from bot.feedback.store import FeedbackStore, Recorded
from bot.feedback.views import (
    AGENCY_KEY,
    AGENCY_LABEL,
    MAX_AGENCY,
    MAX_WORDS,
    NO,
    YES,
    Answer,
    FeedbackForm,
    FeedbackSession,
)
from bot.sessions.views import Holder
from bot.teams.identity import person_id_of, tenant_of
from bot.teams.invoke import card_response, message_response
from bot.teams.turn import CardAction, CardPress, InvokeReply, Turn, is_personal
from cards.feedback import feedback_card, feedback_done_card
from cards.verbs import FeedbackVerb

log = logging.getLogger(__name__)

ALREADY = "You have already given your feedback for this session. Thank you."
NOT_HERE = "Sorry, I could not use that button: it is not for a session I can find here."
NOT_YET = "That question is not open yet."
NOT_YOURS = (
    "Sorry, this feedback is for the people who took part in the session. If you did, "
    "please answer on the card in the meeting chat."
)


class BadAnswer(ValueError):
    """The answers were not filled in properly; the message says what to fix."""


@dataclass(frozen=True)
class Pressed:
    """Which session and round a press is for, checked against where it came from."""

    session: FeedbackSession
    round: Round
    person: Holder
    in_meeting_chat: bool

    @property
    def form(self) -> FeedbackForm:
        return self.session.form(self.round)


@dataclass
class FeedbackHandler:
    store: FeedbackStore

    def card_actions(self) -> dict[str, CardAction]:
        actions: dict[FeedbackVerb, Callable[[Turn, CardPress], Awaitable[InvokeReply]]] = {
            FeedbackVerb.ANSWER: self.answer,
            FeedbackVerb.SHOW: self.show,
        }
        return {verb.value: action for verb, action in actions.items()}

    async def show(self, context: Turn, press: CardPress) -> InvokeReply:
        """The refresh: the questions, or thanks if this person has answered."""
        pressed = await self._pressed(context, press.data)
        if isinstance(pressed, str):
            return message_response(pressed)
        own = _own_id(context)
        if await self.store.has_answered(pressed.session.id, pressed.person.id, pressed.round):
            return card_response(feedback_done_card(pressed.form, own))
        return card_response(feedback_card(pressed.form, own))

    async def answer(self, context: Turn, press: CardPress) -> InvokeReply:
        pressed = await self._pressed(context, press.data)
        if isinstance(pressed, str):
            return message_response(pressed)
        own = _own_id(context)
        try:
            answer = answer_of(pressed.form, press.data)
        except BadAnswer as problem:
            # A message only: the card keeps what they typed, and nothing they typed is
            # repeated into a chat.
            return message_response(str(problem))
        recorded = await self.store.record(
            pressed.session,
            pressed.person,
            pressed.round,
            answer,
            may_join=pressed.in_meeting_chat,
        )
        if recorded is Recorded.NOT_THEIRS:
            return message_response(NOT_YOURS)
        if recorded is Recorded.ALREADY:
            return card_response(feedback_done_card(pressed.form, own, ALREADY))
        log.info("session %d: a %s answer recorded", pressed.session.id, pressed.round.value)
        return card_response(feedback_done_card(pressed.form, own))

    async def _pressed(self, context: Turn, data: dict[str, Any]) -> Pressed | str:
        """The session and round the button names, if the press may use it; else the
        polite refusal. A button copied elsewhere, from another tenant, or made up, reads
        nothing and changes nothing."""
        session_id = whole_number(data.get("session"), low=1)
        try:
            round_ = Round(str(data.get("round", "")))
        except ValueError:
            round_ = None
        if session_id is None or round_ is None:
            log.warning("feedback button with unusable data")
            return NOT_HERE
        session = await self.store.session(session_id)
        if session is None or session.tenant_id != tenant_of(context) or not session.over:
            return NOT_HERE
        person = Holder(person_id_of(context), context.activity.from_property.name or "")
        here = str(context.activity.conversation.id)
        in_meeting_chat = not is_personal(context) and here == session.conversation_id
        if not in_meeting_chat:
            if not is_personal(context):
                return NOT_HERE
            if not await self.store.took_part(session.id, person.id):
                return NOT_YOURS
        if round_ is Round.FOLLOW_UP and not session.follow_up_asked:
            return NOT_YET
        return Pressed(session, round_, person, in_meeting_chat)


def _own_id(context: Turn) -> list[str]:
    """The person's own Teams id: the card they are given refreshes for them."""
    sender = str(context.activity.from_property.id or "")
    return [sender] if sender else []


def answer_of(form: FeedbackForm, data: dict[str, Any]) -> Answer:
    """The answers from the card's inputs, checked; BadAnswer says what to fix."""
    headline = form.headline
    score = _score(data.get(headline.key))
    if score is None:
        raise BadAnswer(f"Please answer \u2018{headline.text}\u2019: choose 1 to 5.")
    answers: dict[str, int | str] = {}
    for question in form.questions:
        value = data.get(question.key)
        if value in (None, ""):
            continue  # the model's own questions may be left out
        answers[question.key] = _choice(question, value)
    words = None
    if form.words is not None:  # a no-notes session keeps no words, whatever is sent
        key, label = form.words
        words = _text(data.get(key), label, MAX_WORDS) or None
    agency = _text(data.get(AGENCY_KEY), AGENCY_LABEL, MAX_AGENCY) or None
    return Answer(score, answers, words, agency)


def _score(value: Any) -> int | None:
    return whole_number(value, low=1, high=5) if isinstance(value, str | int) else None


def _choice(question: Question, value: Any) -> int | str:
    if question.kind is QuestionKind.YES_NO:
        answer = str(value).strip().lower()
        if answer not in (YES, NO):
            raise BadAnswer(f"Please answer \u2018{question.text}\u2019 with yes or no.")
        return answer
    score = _score(value)
    if score is None:
        raise BadAnswer(f"Please answer \u2018{question.text}\u2019 from 1 to 5.")
    return score


def _text(value: Any, label: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadAnswer(f"Please retype your answer in \u2018{label}\u2019.")
    text = value.strip()
    if not storable(text):
        raise BadAnswer(unstorable_message(label))
    if len(text) > limit:
        raise BadAnswer(f"Please keep \u2018{label}\u2019 to {limit} characters.")
    problem = identifying_details_problem(text, label) if text else None
    if problem:
        raise BadAnswer(problem.replace("the referral must not", "your feedback must not"))
    return text
