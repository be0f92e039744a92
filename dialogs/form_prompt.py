"""Shows one step of the referral form as a card and waits for a valid answer.

A bad answer never ends the step. When the step's own card sent it, the reply is a short
message saying what to fix and in which box, and the card is not sent again: a card the bot
sends would keep the refused text (a child's name, a date of birth) in the chat's history.
Anything else (typed text where a card is needed, a button from an older card) gets the step's
card again, drawn from the draft.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from botbuilder.core import TurnContext
from botbuilder.dialogs import Dialog, DialogContext, DialogInstance, DialogTurnResult
from botbuilder.schema import ActivityTypes

from bot.core.storable import first_unstorable, unstorable_message
from bot.referrals.model import ReferralDraft
from bot.teams.send import card_activity
from cards.common import input_label
from cards.referrals import FormOptions, form_card, with_written_answers
from cards.verbs import Verb
from dialogs.submissions import Rejected, parse_step, read_submission

log = logging.getLogger(__name__)

# Steps that also take a typed answer ("yes", "submit"), not only a card submit.
_TEXT_STEPS = {Verb.RISK, Verb.REVIEW}


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
        dialog_context.active_dialog.state["request"] = options
        await self._send(dialog_context.context, options)
        return Dialog.end_of_turn

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        context = dialog_context.context
        request: FormRequest = dialog_context.active_dialog.state["request"]
        if context.activity.type != ActivityTypes.message:
            return Dialog.end_of_turn
        try:
            submission = read_submission(context.activity.value, context.activity.text)
            if submission.verb is None and request.verb not in _TEXT_STEPS:
                raise Rejected(
                    "Please use the card above. You can also type cancel, help or restart."
                )
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
            await self._send(context, request, rejected.message)
            return Dialog.end_of_turn
        try:
            fields = with_written_answers(
                request.verb, request.draft, self._options, submission.fields
            )
            self._refuse_unstorable(request, fields)
            answer = parse_step(request.verb, replace(submission, fields=fields), self._options)
        except Rejected as rejected:
            # Only the message: the card pressed keeps what was typed in it.
            log.info("referral step %s: answer refused", request.verb)
            await context.send_activity(rejected.message)
            return Dialog.end_of_turn
        return await dialog_context.end_dialog(answer)

    def _refuse_unstorable(self, request: FormRequest, fields: dict[str, str]) -> None:
        """Names the box holding what cannot be stored."""
        unstorable = first_unstorable(fields)
        if unstorable is None:
            return
        card = form_card(request.verb, request.draft, self._options)
        raise Rejected(unstorable_message(input_label(card, unstorable)))

    async def reprompt_dialog(self, context: TurnContext, instance: DialogInstance) -> None:
        await self._send(context, instance.state["request"])

    async def _send(
        self, context: TurnContext, request: FormRequest, error: str | None = None
    ) -> None:
        card = form_card(request.verb, request.draft, self._options, error)
        await context.send_activity(card_activity(card))
