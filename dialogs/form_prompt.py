"""Shows one step of the referral form as a card and waits for a valid answer.

A bad answer never ends the step. When the step's own card sent it, the reply is a short
message saying what to fix and in which box, and the card is not sent again: a card the bot
sends would keep the refused text (a child's name, a date of birth) in the chat's history.
Anything else (typed text where a card is needed, a greeting, a button from an older card)
gets the step's card again, drawn from the draft, with a line at its top saying what to do.

Once the step is answered, every card the bot sent for it (and the one pressed) settles: it
is replaced in place by a record of the answer, with no buttons or boxes (dialogs.settled,
bot.teams.settle), so the chat reads as a conversation and an old button cannot be pressed.
A refused answer settles nothing. A Stop that would throw away a written referral asks first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.dialogs import Dialog, DialogContext, DialogInstance, DialogTurnResult
from botbuilder.schema import ActivityTypes, ResourceResponse

from bot.core.storable import first_unstorable, unstorable_message
from bot.referrals.model import ReferralDraft
from bot.teams.send import card_activity
from bot.teams.settle import settle
from bot.teams.small_talk import SmallTalk, small_talk_of
from cards.common import input_label
from cards.referrals import FormOptions, form_card, stop_question_card, with_written_answers
from cards.verbs import Verb
from dialogs.settled import answered_record, closing_record
from dialogs.submissions import (
    Rejected,
    ReviewAnswer,
    StepAnswer,
    StrategyOneAnswer,
    StrategyOneChoice,
    parse_step,
    read_submission,
)

log = logging.getLogger(__name__)

# Steps that also take a typed answer ("yes", "submit"), not only a card submit.
_TEXT_STEPS = {Verb.RISK, Verb.REVIEW}
# The prompt's state: the ids of the cards sent for this step, and of the questions asked at
# it ("Cancel this referral?"), each with what it says once the referrer carried on instead.
STEP_CARDS = "cards"
QUESTIONS = "questions"
_KEPT = "What you have entered so far is kept."
SMALL_TALK = {
    SmallTalk.GREETING: f"Hello again. You are part-way through a referral: here is where "
    f"you were. {_KEPT}",
    SmallTalk.THANKS: f"You are welcome. You are part-way through a referral: here is where "
    f"you were. {_KEPT}",
}


def typed_instead(verb: Verb) -> str:
    """What the step's card says, sent again, when something was typed in the chat instead."""
    how = (
        "Please choose one of the buttons on this card"
        if verb is Verb.STRATEGY_ONE
        else "Please answer on this card and press Continue"
    )
    return (
        f"{how}: I cannot read answers typed in the chat. {_KEPT} "
        "You can also type **help**, or **cancel**."
    )


@dataclass
class FormRequest:
    """The options of one form step; kept in dialog state between turns."""

    verb: Verb
    draft: ReferralDraft


class FormPrompt(Dialog):
    def __init__(self, options: FormOptions) -> None:
        super().__init__(FormPrompt.__name__)
        self._options = options

    async def begin_dialog(
        self, dialog_context: DialogContext, options: object = None
    ) -> DialogTurnResult:
        if not isinstance(options, FormRequest):
            raise TypeError("FormPrompt needs a FormRequest")
        state = dialog_context.active_dialog.state
        state["request"] = options
        await self._send(dialog_context.context, state, options)
        return Dialog.end_of_turn

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        context = dialog_context.context
        state = dialog_context.active_dialog.state
        request: FormRequest = state["request"]
        if context.activity.type != ActivityTypes.message:
            return Dialog.end_of_turn
        try:
            submission = read_submission(context.activity.value, context.activity.text)
            if context.activity.value is None and (talk := small_talk_of(submission.text)):
                raise Rejected(SMALL_TALK[talk])
            if submission.verb is None and request.verb not in _TEXT_STEPS:
                raise Rejected(typed_instead(request.verb))
            if submission.draft_id not in (None, request.draft.draft_id):
                log.info("card from another draft pressed at step %s", request.verb)
                raise Rejected(
                    "That button is on a card from an earlier referral. Your answers to this "
                    "one are kept: carry on here."
                )
            if submission.verb is not None and submission.verb is not request.verb:
                log.info("stale card: %s pressed while at step %s", submission.verb, request.verb)
                raise Rejected(
                    "That button is on an earlier card. Your answers are kept: carry on here."
                )
        except Rejected as rejected:
            # Not this step's card: the card again, from the draft, with the problem on it.
            log.info("referral step %s: not its card's answer", request.verb)
            await self._send(context, state, request, rejected.message)
            return Dialog.end_of_turn
        try:
            fields = with_written_answers(
                request.verb, request.draft, self._options, submission.fields
            )
            self._refuse_unstorable(request, fields)
            answer = parse_step(
                request.verb, replace(submission, fields=fields), self._options, request.draft
            )
        except Rejected as rejected:
            # Only the message: the card pressed keeps what was typed in it.
            log.info("referral step %s: answer refused", request.verb)
            await context.send_activity(rejected.message)
            return Dialog.end_of_turn
        if _throws_away_writing(request, answer):
            card = stop_question_card(request.draft)
            sent = await context.send_activity(card_activity(card))
            remember_question(state, sent, "Not stopped: you carried on with the referral.")
            return Dialog.end_of_turn
        if _is_submit(answer):
            # Settled by the dialog once the referral is stored and its confirmation shown:
            # until then, the review's Submit must stay pressable.
            answer = replace(answer, unsettled=tuple(cards_of_step(state, context)))
        else:
            record = answered_record(request.verb, answer, request.draft, self._options)
            await settle_step(context, state, record)
        return await dialog_context.end_dialog(answer)

    def _refuse_unstorable(self, request: FormRequest, fields: dict[str, str]) -> None:
        """Names the box holding what cannot be stored."""
        unstorable = first_unstorable(fields)
        if unstorable is None:
            return
        card = form_card(request.verb, request.draft, self._options)
        raise Rejected(unstorable_message(input_label(card, unstorable)))

    async def reprompt_dialog(self, context: TurnContext, instance: DialogInstance) -> None:
        await self._send(context, instance.state, instance.state["request"])

    async def _send(
        self,
        context: TurnContext,
        state: dict[str, Any],
        request: FormRequest,
        error: str | None = None,
    ) -> None:
        card = form_card(request.verb, request.draft, self._options, error)
        sent = await context.send_activity(card_activity(card))
        if sent is not None and sent.id:
            state.setdefault(STEP_CARDS, []).append(sent.id)


def _throws_away_writing(request: FormRequest, answer: StepAnswer) -> bool:
    """A Stop at Re-think strategy 1 on a referral already written, not yet confirmed."""
    choice = answer.answer
    return (
        isinstance(choice, StrategyOneAnswer)
        and choice.choice is StrategyOneChoice.STOP
        and not choice.confirmed
        and request.draft.has_writing()
    )


def _is_submit(answer: StepAnswer) -> bool:
    return isinstance(answer.answer, ReviewAnswer) and answer.answer.change is None


def remember_question(
    state: dict[str, Any], sent: ResourceResponse | None, carried_on: str
) -> None:
    """Notes a question card asked at this step, to settle it with the step; `carried_on`
    is what it then says if it was not the card answered ("" to say the step's answer)."""
    if sent is not None and sent.id:
        state.setdefault(QUESTIONS, []).append([sent.id, carried_on])


def pressed_card(context: TurnContext) -> str | None:
    """The id of the card whose button sent this turn (Teams' replyToId), if it was one."""
    activity = context.activity
    return activity.reply_to_id if isinstance(activity.value, dict) else None


def step_cards(state: dict[str, Any]) -> list[str]:
    """The cards sent for this step, and the questions asked at it."""
    return [*state.get(STEP_CARDS, []), *(card for card, _ in state.get(QUESTIONS, []))]


def cards_of_step(state: dict[str, Any], context: TurnContext) -> list[str]:
    """Every card of this step still to settle: those sent, the questions asked, the pressed."""
    ids = step_cards(state)
    pressed = pressed_card(context)
    if pressed and pressed not in ids:
        ids.append(pressed)
    return list(dict.fromkeys(ids))


async def settle_cards(context: TurnContext, ids: list[str], card: dict[str, Any]) -> None:
    for card_id in ids:
        await settle(context, card, card_id)


async def settle_step(context: TurnContext, state: dict[str, Any], record: dict[str, Any]) -> None:
    """Settles the step's cards with `record`; a question not pressed says it was passed by."""
    request: FormRequest = state["request"]
    pressed = pressed_card(context)
    passed = {card: line for card, line in state.get(QUESTIONS, []) if line and card != pressed}
    await settle_cards(
        context, [card for card in cards_of_step(state, context) if card not in passed], record
    )
    for card, line in passed.items():
        await settle(context, closing_record(request.verb, line), card)
    state[STEP_CARDS], state[QUESTIONS] = [], []
