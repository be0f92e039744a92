"""The referrer's answer to a triage question, from the card in their 1:1 chat."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.core.pii import identifying_details_problem
from bot.core.storable import storable, unstorable_message, whole_number
from bot.teams.identity import actor_of, person_id_of
from bot.teams.settle import settle
from bot.teams.turn import Turn, submitted_value
from bot.triage.store import TriageStore
from cards.triage import answered_question_card

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 1000
ANSWER_LABEL = "Your answer"  # as the question card labels its box


@dataclass
class AnswerHandler:
    store: TriageStore
    wake: Callable[[], None]

    async def on_answer(self, context: Turn) -> None:
        value = submitted_value(context)
        question_id = whole_number(value.get("question"), low=1)
        if question_id is None:
            log.warning("an answer arrived without a usable question id")
            await context.send_activity("Sorry, I could not tell which question that answers.")
            return
        person = person_id_of(context)
        found = await self.store.question(question_id, person)
        if found is None:
            # Not this person's question: say nothing about whose it is.
            await context.send_activity("Sorry, I could not match that to one of your referrals.")
            return
        reference, question = found
        typed = value.get("answer")
        answer = typed.strip() if isinstance(typed, str) else ""
        problem = _problem_with(answer)
        if problem is None and not storable(answer):
            problem = unstorable_message(ANSWER_LABEL)
        if problem:
            # Only the message: the card keeps what was typed. A card sent back with the
            # answer in it would keep a refused child's name in the chat's history.
            await context.send_activity(problem)
            return
        view = await self.store.answer(question_id, person, actor_of(context), answer)
        # Answered (now or before): the card becomes a record of the question, without the
        # answer box or the button, so it cannot be sent twice.
        answered_at = self.store.clock.now() if view is not None else None
        calendar = self.store.calendar
        await settle(context, answered_question_card(reference, question, answered_at, calendar))
        if view is None:
            await context.send_activity(
                f"You have already answered that question about {reference}. Thank you."
            )
            return
        self.wake()
        await context.send_activity(
            f"Thank you. Your answer has gone to business support with referral {reference}. "
            "I will tell you here when they decide."
        )


def _problem_with(answer: str) -> str | None:
    if not answer:
        return "Please write your answer before sending it."
    if len(answer) > MAX_ANSWER_CHARS:
        return f"Please keep your answer to {MAX_ANSWER_CHARS} characters."
    return identifying_details_problem(answer, ANSWER_LABEL)
