"""The referrer's answer to a triage question, from the card in their 1:1 chat."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.core.pii import identifying_details_problem
from bot.core.storable import storable, unstorable_message, whole_number, without_unstorable
from bot.teams.identity import actor_of, person_id_of
from bot.teams.turn import Turn, send_card, submitted_value
from bot.triage.store import TriageStore
from cards.common import input_label
from cards.triage import question_card

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 1000


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
            asked = question_card(reference, question_id, question)
            problem = unstorable_message(input_label(asked, "answer"))
        if problem:
            # The answer is shown back so nothing typed is lost; it never left this 1:1 chat.
            shown = without_unstorable(answer[:MAX_ANSWER_CHARS])
            card = question_card(reference, question_id, question, answer=shown, problem=problem)
            await send_card(context, card)
            return
        view = await self.store.answer(question_id, person, actor_of(context), answer)
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
    return identifying_details_problem(answer)
