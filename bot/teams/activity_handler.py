"""The Teams activity handler: routes commands and card buttons, runs the referral dialog."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from botbuilder.core import ConversationState, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.dialogs import DialogContext, DialogSet
from botbuilder.schema import (
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
    ChannelAccount,
)
from botbuilder.schema.teams import MeetingParticipantsEventDetails, MeetingStartEventDetails

from bot.core.settings import ModelName
from bot.referrals.model import MODEL_LABELS, STATUS_LABELS
from bot.referrals.store import ReferralStore, ReferralSummary
from bot.sessions.meeting import MeetingHandler
from bot.sessions.store import Holder
from bot.teams.commands import argument_command_of, command_of
from bot.teams.identity import person_id_of
from bot.teams.meeting_links import is_meeting_chat
from bot.teams.meeting_roles import meeting_id_of
from bot.teams.send import card_activity
from bot.triage.answers import AnswerHandler
from bot.triage.desk import DeskHandler
from cards.binder import render
from cards.verbs import SessionVerb, Verb
from dialogs.help import help_card
from dialogs.referral_dialog import ReferralDialog

Route = Callable[[TurnContext, DialogContext], Awaitable[None]]
SESSION_VERBS = frozenset(verb.value for verb in SessionVerb)
SHARED_CHAT_HELP = (
    "Sorry, I did not understand that. Here I keep time for reflective sessions: type "
    "**start session** to set one up, or **questions** for the reflective questions. "
    "Referrals are made in a one-to-one chat with me."
)
PRIVATE_ONLY = (
    "Referrals are made in a one-to-one chat with me, to keep case details out of shared "
    "chats. Open a chat with me and type **refer**."
)


class ReflectiveBot(TeamsActivityHandler):
    def __init__(
        self,
        conversation_state: ConversationState,
        referral_dialog: ReferralDialog,
        store: ReferralStore,
        partnership: str,
        offered_models: list[ModelName],
        desk: DeskHandler,
        answers: AnswerHandler,
        meeting: MeetingHandler,
    ) -> None:
        self._conversation_state = conversation_state
        self._dialogs = DialogSet(conversation_state.create_property("dialog_state"))
        self._dialogs.add(referral_dialog)
        self._referral_dialog = referral_dialog
        self._store = store
        self._partnership = partnership
        self._offered_models = offered_models
        self._desk = desk
        self._answers = answers
        self._meeting = meeting
        # Commands and card buttons, by exact name (see bot.teams.commands).
        self._routes: dict[Verb, Route] = {
            Verb.START_REFERRAL: self._start_referral,
            Verb.MY_REFERRALS: self._show_my_referrals,
            Verb.HELP: self._show_help,
            Verb.CANCEL: self._nothing_to_cancel,
            Verb.RESTART: self._start_referral,
            Verb.ANSWER_QUESTION: self._answer_question,
            Verb.REGISTER_TRIAGE: self._register_triage,
            Verb.DIGEST: self._post_digest,
            Verb.START_SESSION: self._start_session,
            Verb.SESSION_QUESTIONS: self._session_questions,
        }

    async def on_turn(self, turn_context: TurnContext) -> None:
        await super().on_turn(turn_context)
        await self._conversation_state.save_changes(turn_context)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        with_argument = argument_command_of(turn_context.activity)
        if with_argument is not None and with_argument[0] is Verb.AUDIT:
            await self._desk.show_audit(turn_context, with_argument[1])
            return
        dc = await self._dialogs.create_context(turn_context)
        command = command_of(turn_context.activity)
        if dc.active_dialog is not None:
            if command in (Verb.MY_REFERRALS, Verb.ANSWER_QUESTION):
                # Answered alongside the referral in progress, which then carries on.
                await self._routes[command](turn_context, dc)
                await dc.reprompt_dialog()
            elif command is Verb.START_REFERRAL:
                await turn_context.send_activity(
                    "You are part-way through a referral: here is where you were. "
                    "Type **restart** to start again."
                )
                await dc.reprompt_dialog()
            else:
                await dc.continue_dialog()
            return
        route = self._routes.get(command) if command else None
        if route is None:
            await self._not_understood(turn_context, dc)
        else:
            await route(turn_context, dc)

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        # In a 1:1 chat, installing the bot adds the bot itself; in the Playground the user too.
        if _is_personal(turn_context):
            await turn_context.send_activity(card_activity(self._welcome_card()))
            return
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        bot_added = any(member.id == bot_id for member in members_added)
        conversation_id = str(turn_context.activity.conversation.id)
        if bot_added and (meeting_id_of(turn_context) or is_meeting_chat(conversation_id)):
            await self._meeting.post_opening(turn_context)

    async def on_teams_meeting_start_event(
        self, meeting: MeetingStartEventDetails, turn_context: TurnContext
    ) -> None:
        await self._meeting.on_meeting_start(turn_context)

    async def on_teams_meeting_participants_join_event(
        self, meeting: MeetingParticipantsEventDetails, turn_context: TurnContext
    ) -> None:
        # botbuilder hands over the activity's value as it came: a dict, not the model.
        if isinstance(meeting, dict):
            meeting = MeetingParticipantsEventDetails.deserialize(meeting)
        people = [
            Holder(str(m.user.aad_object_id or m.user.id), m.user.name or "")
            for m in (meeting.conversations or [])
            if m.user is not None and (m.user.aad_object_id or m.user.id)
        ]
        await self._meeting.note_joined(turn_context, people)

    async def on_adaptive_card_invoke(
        self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:
        # Session cards and the triage card use Action.Execute; each family has its handler.
        action = invoke_value.action if isinstance(invoke_value.action, dict) else {}
        if str(action.get("verb", "")) in SESSION_VERBS:
            return await self._meeting.on_action(turn_context, invoke_value)
        return await self._desk.on_action(turn_context, invoke_value)

    # --- routes ------------------------------------------------------------------------

    async def _start_referral(self, turn_context: TurnContext, dc: DialogContext) -> None:
        if not _is_personal(turn_context):
            await turn_context.send_activity(PRIVATE_ONLY)
            return
        await dc.begin_dialog(self._referral_dialog.id, self._referral_dialog.fresh_options())

    async def _show_my_referrals(self, turn_context: TurnContext, dc: DialogContext) -> None:
        if not _is_personal(turn_context):
            await turn_context.send_activity(PRIVATE_ONLY)
            return
        referrals = await self._store.list_for_referrer(person_id_of(turn_context))
        await turn_context.send_activity(card_activity(my_referrals_card(referrals)))

    async def _answer_question(self, turn_context: TurnContext, dc: DialogContext) -> None:
        await self._answers.on_answer(turn_context)

    async def _register_triage(self, turn_context: TurnContext, dc: DialogContext) -> None:
        await self._desk.register(turn_context)

    async def _post_digest(self, turn_context: TurnContext, dc: DialogContext) -> None:
        await self._desk.post_digest(turn_context)

    async def _start_session(self, turn_context: TurnContext, dc: DialogContext) -> None:
        await self._meeting.start(turn_context)

    async def _session_questions(self, turn_context: TurnContext, dc: DialogContext) -> None:
        await self._meeting.show_questions(turn_context)

    async def _show_help(self, turn_context: TurnContext, dc: DialogContext) -> None:
        await turn_context.send_activity(card_activity(help_card()))

    async def _nothing_to_cancel(self, turn_context: TurnContext, dc: DialogContext) -> None:
        await turn_context.send_activity(
            "There is nothing to cancel. Type **refer** to make a referral."
        )

    async def _not_understood(self, turn_context: TurnContext, dc: DialogContext) -> None:
        if turn_context.activity.value is not None:
            # A button from a card whose conversation has ended (an old form, say).
            await turn_context.send_activity(
                "That card has expired. Type **refer** to start a new referral."
            )
            return
        if not _is_personal(turn_context):
            # A meeting or group chat: what the bot does here, not the referral menu.
            await turn_context.send_activity(SHARED_CHAT_HELP)
            return
        await turn_context.send_activity("Sorry, I did not understand that. Here is what I can do.")
        await turn_context.send_activity(card_activity(self._welcome_card()))

    def _welcome_card(self) -> dict:
        return welcome_card(self._partnership, self._offered_models)


def welcome_card(partnership: str, offered_models: list[ModelName]) -> dict:
    models = ", ".join(MODEL_LABELS[model] for model in offered_models)
    return render("welcome", {"partnership": partnership, "models": models})


def my_referrals_card(referrals: list[ReferralSummary]) -> dict:
    return render(
        "my_referrals",
        {
            "is_empty": not referrals,
            "referrals": [
                {
                    "reference": r.reference,
                    "model": MODEL_LABELS.get(ModelName(r.model), r.model),
                    "status": STATUS_LABELS[r.status],
                    "created": _date(r.created_at),
                }
                for r in referrals
            ],
        },
    )


def _date(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"


def _is_personal(turn_context: TurnContext) -> bool:
    # Strict: case details only ever go to a chat Teams calls personal.
    return turn_context.activity.conversation.conversation_type == "personal"
