"""Shows one step of the referral form as a card and waits for a valid answer.

A bad answer never ends the step: the card comes back with the problem at the top and the
user's entries still in it. A button from an older card is recognised and politely ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from botbuilder.core import TurnContext
from botbuilder.dialogs import Dialog, DialogContext, DialogInstance, DialogTurnResult
from botbuilder.schema import ActivityTypes

from bot.core.storable import first_unstorable, unstorable_message, without_unstorable
from bot.referrals.model import ReferralDraft
from bot.teams.send import card_activity
from cards.common import input_label
from cards.referrals import FormOptions, form_card
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
            self._refuse_unstorable(request, submission.fields)
            answer = parse_step(request.verb, submission, self._options)
        except Rejected as rejected:
            log.info("referral step %s: answer rejected: %s", request.verb, rejected.message)
            await self._send(context, request, rejected.entered, rejected.message)
            return Dialog.end_of_turn
        return await dialog_context.end_dialog(answer)

    def _refuse_unstorable(self, request: FormRequest, fields: dict[str, str]) -> None:
        """Names the box holding what cannot be stored; everything else entered is kept, and
        that box too, less what could not be stored."""
        unstorable = first_unstorable(fields)
        if unstorable is None:
            return
        entered = {key: without_unstorable(value) for key, value in fields.items()}
        card = form_card(request.verb, request.draft, self._options, entered)
        raise Rejected(unstorable_message(input_label(card, unstorable)), entered)

    async def reprompt_dialog(self, context: TurnContext, instance: DialogInstance) -> None:
        await self._send(context, instance.state["request"])

    async def _send(
        self,
        context: TurnContext,
        request: FormRequest,
        entered: dict[str, str] | None = None,
        error: str | None = None,
    ) -> None:
        card = form_card(request.verb, request.draft, self._options, entered, error)
        await context.send_activity(card_activity(card))
