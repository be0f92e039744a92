"""The referral dialog: one waterfall, one card per step, every step skippable when filled.

The draft (`ReferralDraft`) travels as the waterfall's options and lives in dialog state, so
a referrer who leaves and comes back, even after a restart, carries on where they were.
A step is shown when its slot is empty or when the review card asked to change it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypeVar

from botbuilder.core import TurnContext
from botbuilder.dialogs import (
    DialogContext,
    DialogTurnResult,
    WaterfallDialog,
    WaterfallStepContext,
)

from bot.referrals.model import (
    AboutReferrer,
    ModelChoice,
    Narrative,
    ReferralDraft,
    ReferralStatus,
    RethinkStrategy,
    Timing,
)
from bot.referrals.store import ReferralStore, Referrer
from bot.teams.identity import person_id_of, tenant_of
from bot.teams.send import card_activity
from bot.teams.settle import settle
from cards.help import help_card
from cards.referrals import (
    CONFIRMED_KEY,
    DRAFT_KEY,
    FORM_STEPS,
    FormOptions,
    cancel_question_card,
    confirmation_card,
    model_help,
    signpost_card,
)
from cards.verbs import Verb
from dialogs.form_prompt import (
    QUESTIONS,
    FormPrompt,
    FormRequest,
    cards_of_step,
    pressed_card,
    remember_question,
    settle_cards,
    step_cards,
)
from dialogs.interruptible import CancelChoice, InterruptibleDialog
from dialogs.settled import closing_record
from dialogs.submissions import (
    InviteesAnswer,
    KindAnswer,
    ModelAnswer,
    ReviewAnswer,
    RiskAnswer,
    StepAnswer,
    StrategyOneAnswer,
    StrategyOneChoice,
)

log = logging.getLogger(__name__)

ALREADY_SENT = (
    "This referral has already been sent: its reference is **{reference}**. "
    "Type **my referrals** to see where it stands."
)
T = TypeVar("T")

# "Which session" (Verb.MODEL) is helped by the offered models' own sentences (model_help).
STEP_HELP = {
    Verb.RISK: "If a child is at immediate risk of harm, this bot is not the route: follow your "
    "local child protection procedures. Otherwise answer No to go on.",
    Verb.KIND: "Refer a child or family, a theme across cases, a difficulty in the professional "
    "network, or a debrief after a significant event.",
    Verb.STRATEGY_ONE: "Strategy 1 is a one-to-one conversation with the Lead Professional. "
    "I can note it, or you can choose strategy 2 or 3.",
    Verb.NARRATIVE: "Say briefly what feels stuck and what you hope the session will give you. "
    "Use initials or a case reference: never a full name, date of birth or address.",
    Verb.ABOUT: "Tell us your agency and role, whether you are the Lead Professional, and "
    "whether your manager agrees to the referral.",
    Verb.INVITEES: "Add the practitioners to invite: name, agency and work email. Press Add more "
    "people for more rows, and Continue when the list is complete.",
    Verb.TIMING: "Tell us when the network is usually free and how soon a session is needed.",
    Verb.REVIEW: "Check each part. Press Change to edit a part, or Submit referral to send it.",
}


@dataclass(frozen=True)
class Signpost:
    """Where to send someone whose child is at immediate risk (configurable)."""

    text: str
    url: str


class ReferralDialog(InterruptibleDialog):
    def __init__(self, store: ReferralStore, options: FormOptions, signpost: Signpost) -> None:
        super().__init__(ReferralDialog.__name__)
        self._store = store
        self._models = options.models
        self._signpost = signpost
        self.add_dialog(FormPrompt(options))
        steps = [
            self._risk,
            self._kind,
            self._model,
            self._strategy_one,
            self._narrative,
            self._about,
            self._invitees,
            self._timing,
            self._review,
            self._submit,
        ]
        self.add_dialog(WaterfallDialog(WaterfallDialog.__name__, steps))
        self.initial_dialog_id = WaterfallDialog.__name__

    # --- InterruptibleDialog -----------------------------------------------------------

    def owns_button(self, inner_dc: DialogContext) -> bool:
        value = inner_dc.context.activity.value
        pressed = value.get(DRAFT_KEY) if isinstance(value, dict) else None
        request = _current_request(inner_dc)
        return pressed is None or request is None or pressed == request.draft.draft_id

    def fresh_options(self) -> ReferralDraft:
        return ReferralDraft()

    def cancel_choice(self, inner_dc: DialogContext, asked: bool) -> CancelChoice:
        """Past the first step, a cancel asks first; its question's buttons, or `cancel`
        typed again straight after it, answer."""
        value = inner_dc.context.activity.value
        confirmed = value.get(CONFIRMED_KEY) if isinstance(value, dict) else None
        if confirmed == "no":
            return CancelChoice.KEEP_GOING
        request = _current_request(inner_dc)
        if request is None or not request.draft.risk_checked:
            return CancelChoice.CANCEL
        if confirmed == "yes" and not self._from_an_earlier_step(inner_dc):
            return CancelChoice.CANCEL
        return CancelChoice.CANCEL if asked else CancelChoice.ASK

    def _from_an_earlier_step(self, inner_dc: DialogContext) -> bool:
        """A confirming button on a card of an earlier step (one that could not be settled):
        it was not pressed about where the referrer is now, so it asks again."""
        pressed = pressed_card(inner_dc.context)
        return pressed is not None and pressed not in step_cards(inner_dc.active_dialog.state)

    async def ask_to_cancel(self, inner_dc: DialogContext) -> None:
        request = _current_request(inner_dc)
        assert request is not None  # cancel_choice asks only at a step
        card = cancel_question_card(request.verb, request.draft)
        sent = await inner_dc.context.send_activity(card_activity(card))
        state = inner_dc.active_dialog.state
        remember_question(state, sent, "Not cancelled: you carried on with the referral.")

    async def on_kept_going(self, inner_dc: DialogContext) -> None:
        # The question turns into that answer; the step's card is just above it. When the
        # question cannot be replaced (no replyToId), the step's card is shown again instead.
        request = _current_request(inner_dc)
        question = pressed_card(inner_dc.context)
        if request is not None and question is not None:
            record = closing_record(request.verb, "Not cancelled: you carried on.")
            if await settle(inner_dc.context, record, question):
                state = inner_dc.active_dialog.state
                state[QUESTIONS] = [q for q in state.get(QUESTIONS, []) if q[0] != question]
                return
        await inner_dc.reprompt_dialog()

    async def on_cancelled(self, inner_dc: DialogContext) -> None:
        context = inner_dc.context
        request = _current_request(inner_dc)
        if request is not None:
            record = closing_record(request.verb, "Cancelled: what you entered was deleted.")
            await settle_cards(
                context, cards_of_step(inner_dc.active_dialog.state, context), record
            )
        await context.send_activity(
            "Referral cancelled. Nothing was stored. Type **refer** to start a new one."
        )

    async def send_help(self, inner_dc: DialogContext) -> None:
        request = _current_request(inner_dc)
        context = None
        if request is not None:
            number, title = FORM_STEPS[request.verb]
            if request.verb is Verb.MODEL:
                step_help = model_help(self._models)
            else:
                step_help = STEP_HELP[request.verb]
            context = f"You are at step {number} ({title}). {step_help}"
        await inner_dc.context.send_activity(card_activity(help_card(context)))

    # --- steps -------------------------------------------------------------------------

    async def _ask(self, step: WaterfallStepContext, verb: Verb, filled: bool) -> DialogTurnResult:
        draft: ReferralDraft = step.options
        if filled and draft.editing != verb:
            return await step.next(None)
        return await step.begin_dialog(FormPrompt.__name__, FormRequest(verb, draft))

    async def _risk(self, step: WaterfallStepContext) -> DialogTurnResult:
        return await self._ask(step, Verb.RISK, step.options.risk_checked)

    async def _kind(self, step: WaterfallStepContext) -> DialogTurnResult:
        draft: ReferralDraft = step.options
        if (risk := _take(step, RiskAnswer)) is not None:
            if risk.at_risk:
                log.info("referral stopped at the risk question; nothing stored")
                card = signpost_card(self._signpost.text, self._signpost.url)
                await step.context.send_activity(card_activity(card))
                return await step.end_dialog(None)
            draft.risk_checked = True
        return await self._ask(step, Verb.KIND, draft.kind is not None)

    async def _model(self, step: WaterfallStepContext) -> DialogTurnResult:
        draft: ReferralDraft = step.options
        if (kind := _take(step, KindAnswer)) is not None:
            draft.kind, draft.theme = kind.kind, kind.theme
            _done_editing(draft, Verb.KIND)
        return await self._ask(step, Verb.MODEL, draft.model is not None)

    async def _strategy_one(self, step: WaterfallStepContext) -> DialogTurnResult:
        draft: ReferralDraft = step.options
        if (model := _take(step, ModelAnswer)) is not None:
            draft.model, draft.rethink_strategy = model.model, model.strategy
            draft.note_only = False
            _done_editing(draft, Verb.MODEL)
        if draft.rethink_strategy is not RethinkStrategy.ONE_TO_ONE or draft.note_only:
            return await step.next(None)
        return await step.begin_dialog(FormPrompt.__name__, FormRequest(Verb.STRATEGY_ONE, draft))

    async def _narrative(self, step: WaterfallStepContext) -> DialogTurnResult:
        draft: ReferralDraft = step.options
        if (strategy_one := _take(step, StrategyOneAnswer)) is not None:
            if strategy_one.choice is StrategyOneChoice.STOP:
                await step.context.send_activity(
                    "Stopped. Nothing was stored. Good luck with the conversation; type **refer** "
                    f"if you need a {self._models.label(draft.model or '')} later."
                )
                return await step.end_dialog(None)
            if strategy_one.choice is StrategyOneChoice.REVIEW and draft.replaced_model:
                # Back to the review as it was before its Change of session.
                kept = draft.replaced_model
                draft.model, draft.rethink_strategy = kept.model, kept.strategy
                draft.note_only, draft.replaced_model = kept.note_only, None
                return await step.replace_dialog(WaterfallDialog.__name__, draft)
            if strategy_one.choice in (StrategyOneChoice.CHANGE, StrategyOneChoice.REVIEW):
                # (Back to the review with no session kept, from a draft saved before there
                # was one: the session is chosen again.)
                draft.model = draft.rethink_strategy = None
                return await step.replace_dialog(WaterfallDialog.__name__, draft)
            draft.note_only = True
        return await self._ask(step, Verb.NARRATIVE, draft.narrative is not None)

    async def _about(self, step: WaterfallStepContext) -> DialogTurnResult:
        draft: ReferralDraft = step.options
        if (narrative := _take(step, Narrative)) is not None:
            draft.narrative = narrative
            _done_editing(draft, Verb.NARRATIVE)
        return await self._ask(step, Verb.ABOUT, draft.about is not None)

    async def _invitees(self, step: WaterfallStepContext) -> DialogTurnResult:
        draft: ReferralDraft = step.options
        if (about := _take(step, AboutReferrer)) is not None:
            draft.about = about
            _done_editing(draft, Verb.ABOUT)
        if draft.note_only:
            return await step.next(None)
        return await self._ask(step, Verb.INVITEES, draft.invitees_done)

    async def _timing(self, step: WaterfallStepContext) -> DialogTurnResult:
        draft: ReferralDraft = step.options
        if (answer := _take(step, InviteesAnswer)) is not None:
            invitees = list(draft.invitees or [])
            if answer.remove_index is not None and answer.remove_index < len(invitees):
                del invitees[answer.remove_index]
            # (More than MAX_INVITEES is refused by the step, before its card settles.)
            draft.invitees = invitees + answer.added
            if not answer.done or answer.remove_index is not None:
                draft.invitees_done = False
                return await step.replace_dialog(WaterfallDialog.__name__, draft)
            draft.invitees_done = True
            _done_editing(draft, Verb.INVITEES)
        if draft.note_only:
            return await step.next(None)
        return await self._ask(step, Verb.TIMING, draft.timing is not None)

    async def _review(self, step: WaterfallStepContext) -> DialogTurnResult:
        draft: ReferralDraft = step.options
        if (timing := _take(step, Timing)) is not None:
            draft.timing = timing
            _done_editing(draft, Verb.TIMING)
        draft.replaced_model = None  # any Change of session is done with
        return await step.begin_dialog(FormPrompt.__name__, FormRequest(Verb.REVIEW, draft))

    async def _submit(self, step: WaterfallStepContext) -> DialogTurnResult:
        draft: ReferralDraft = step.options
        review: StepAnswer = step.result
        answer = _take(step, ReviewAnswer)
        assert answer is not None  # the review step always asks
        if answer.change is not None:
            draft.editing = answer.change
            if answer.change is Verb.INVITEES:
                draft.invitees_done = False
            if answer.change is Verb.MODEL and draft.model:
                # Kept until the review is reached again: a Stop at strategy 1 can go back.
                draft.replaced_model = ModelChoice(
                    draft.model, draft.rethink_strategy, draft.note_only
                )
            return await step.replace_dialog(WaterfallDialog.__name__, draft)
        status = ReferralStatus.NOTED_ONE_TO_ONE if draft.note_only else ReferralStatus.SUBMITTED
        reference = await self._store.submit(
            draft, _referrer(step.context), _conversation_reference(step.context), status
        )
        log.info("referral %s stored (%s)", reference, status)
        sent = closing_record(Verb.REVIEW, f"Sent: its reference is {reference}.")
        if not await self._store.claim_confirmation(reference):
            # Another Submit of this draft (a second press) has shown the card already.
            await step.context.send_activity(ALREADY_SENT.format(reference=reference))
            await settle_cards(step.context, list(review.unsettled), sent)
            return await step.end_dialog(reference)
        card = confirmation_card(reference, draft, status, self._models)
        try:
            await step.context.send_activity(card_activity(card))
        except BaseException:
            await self._store.release_confirmation(reference)
            raise
        await settle_cards(step.context, list(review.unsettled), sent)
        return await step.end_dialog(reference)


def _take(step: WaterfallStepContext, kind: type[T]) -> T | None:
    """The previous step's answer if it is the kind this step stores; None when skipped.

    Its further questions' answers go into the draft with it (a blank one clears the answer).
    """
    result = step.result
    if not (isinstance(result, StepAnswer) and isinstance(result.answer, kind)):
        return None
    draft: ReferralDraft = step.options
    draft.answers = {key: value for key, value in (draft.answers | result.further).items() if value}
    return result.answer


def _done_editing(draft: ReferralDraft, verb: Verb) -> None:
    if draft.editing == verb:
        draft.editing = None


def _current_request(inner_dc: DialogContext) -> FormRequest | None:
    # The form prompt sits on top of the waterfall in this component's own stack.
    active = inner_dc.active_dialog
    request = active.state.get("request") if active is not None else None
    return request if isinstance(request, FormRequest) else None


def _referrer(context: TurnContext) -> Referrer:
    return Referrer(
        id=person_id_of(context),
        name=context.activity.from_property.name or "",
        tenant_id=tenant_of(context),
    )


def _conversation_reference(context: TurnContext) -> dict[str, Any]:
    reference = TurnContext.get_conversation_reference(context.activity)
    serialised: dict[str, Any] = reference.serialize()
    return serialised
