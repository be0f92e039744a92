"""The Teams activity handler: routes commands and card buttons by exact name, from the
tables the features give (bot.teams.routes), and runs the referral dialog."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from botbuilder.core import ConversationState, InvokeResponse, TurnContext
from botbuilder.core.activity_handler import _InvokeResponseException
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.dialogs import Dialog, DialogContext, DialogSet
from botbuilder.schema import (
    Activity,
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
    ChannelAccount,
)
from botbuilder.schema.teams import (
    FileConsentCardResponse,
    MeetingEndEventDetails,
    MeetingParticipantsEventDetails,
    MeetingStartEventDetails,
)

from bot.teams.commands import argument_command_of, command_of
from bot.teams.files import FileConsentAnswer
from bot.teams.invoke import message_response
from bot.teams.meeting_links import is_meeting_chat
from bot.teams.meeting_roles import meeting_id_of
from bot.teams.routes import Feature, Participant
from bot.teams.small_talk import SmallTalk, small_talk_of
from bot.teams.turn import card_press_of, is_personal, send_card
from cards.verbs import Verb

SHARED_CHAT_HELP = (
    "Sorry, I did not understand that. Here I keep time for reflective sessions: type "
    "**start session** to set one up, or **questions** for the reflective questions. "
    "Referrals are made in a one-to-one chat with me."
)
PRIVATE_ONLY = (
    "Referrals are made in a one-to-one chat with me, to keep case details out of shared "
    "chats. Open a chat with me and type **refer**."
)
# In a 1:1 chat, outside a referral: a greeting, a thank-you, anything else.
GREETING = "Hello! Here is what I can do."
THANKS = (
    "You are welcome. Type **refer** to make a referral, **my referrals** to see where yours "
    "are, or **help** for more."
)
NOT_UNDERSTOOD = "Sorry, I did not understand that. Here is what I can do."
# Answered alongside a referral in progress, which then carries on.
ALONGSIDE_THE_FORM = frozenset({Verb.MY_REFERRALS, Verb.ANSWER_QUESTION})


class ReflectiveBot(TeamsActivityHandler):
    def __init__(
        self,
        *,
        conversation_state: ConversationState,
        referral_dialog: Dialog,
        fresh_referral: Callable[[], Any],
        routes: Feature,
        welcome_card: Callable[[], dict[str, Any]],
        help_card: Callable[[], dict[str, Any]],
    ) -> None:
        self._conversation_state = conversation_state
        self._dialogs = DialogSet(conversation_state.create_property("dialog_state"))
        self._dialogs.add(referral_dialog)
        self._referral_dialog = referral_dialog
        self._fresh_referral = fresh_referral
        self._routes = routes
        self._welcome_card = welcome_card
        self._help_card = help_card

    async def on_turn(self, turn_context: TurnContext) -> None:
        await super().on_turn(turn_context)
        await self._conversation_state.save_changes(turn_context)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        with_argument = argument_command_of(turn_context.activity)
        if with_argument is not None and with_argument[0] in self._routes.argument_commands:
            verb, argument = with_argument
            await self._routes.argument_commands[verb](turn_context, argument)
            return
        dc = await self._dialogs.create_context(turn_context)
        command = command_of(turn_context.activity)
        if dc.active_dialog is not None:
            if command in ALONGSIDE_THE_FORM:
                await self._run(command, turn_context, dc)
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
        await self._run(command, turn_context, dc)

    async def _run(
        self, command: Verb | None, turn_context: TurnContext, dc: DialogContext
    ) -> None:
        if command in (Verb.START_REFERRAL, Verb.RESTART):
            await self._start_referral(turn_context, dc)
        elif command is Verb.HELP:
            # In a chat a feature owns (the triage desk) its own help; else the 1:1 menu.
            if is_personal(turn_context) or not await self._routes.help_here(turn_context, ""):
                await send_card(turn_context, self._help_card())
        elif command is Verb.CANCEL:
            await turn_context.send_activity(
                "There is nothing to cancel. Type **refer** to make a referral."
            )
        elif command is not None and command in self._routes.commands:
            await self._routes.commands[command](turn_context)
        else:
            await self._not_understood(turn_context)

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        # In a 1:1 chat, installing the bot adds the bot itself; in the Playground the user too.
        if is_personal(turn_context):
            await send_card(turn_context, self._welcome_card())
            return
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        bot_added = any(member.id == bot_id for member in members_added)
        conversation_id = str(turn_context.activity.conversation.id)
        in_meeting = meeting_id_of(turn_context) or is_meeting_chat(conversation_id)
        if bot_added and in_meeting and self._routes.meeting is not None:
            await self._routes.meeting.post_opening(turn_context)

    async def on_teams_meeting_start_event(
        self, meeting: MeetingStartEventDetails, turn_context: TurnContext
    ) -> None:
        if self._routes.meeting is not None:
            await self._routes.meeting.on_meeting_start(turn_context)

    async def on_teams_meeting_end_event(
        self, meeting: MeetingEndEventDetails, turn_context: TurnContext
    ) -> None:
        if isinstance(meeting, dict):  # as for the join event: the value as it came
            meeting = MeetingEndEventDetails.deserialize(meeting)
        if self._routes.meeting is not None:
            await self._routes.meeting.on_meeting_end(turn_context, _moment(meeting.end_time))

    async def on_teams_meeting_participants_join_event(
        self, meeting: MeetingParticipantsEventDetails, turn_context: TurnContext
    ) -> None:
        # botbuilder hands over the activity's value as it came: a dict, not the model.
        if isinstance(meeting, dict):
            meeting = MeetingParticipantsEventDetails.deserialize(meeting)
        people = [
            Participant(str(m.user.aad_object_id or m.user.id), m.user.name or "")
            for m in (meeting.conversations or [])
            if m.user is not None and (m.user.aad_object_id or m.user.id)
        ]
        if self._routes.meeting is not None:
            await self._routes.meeting.note_joined(turn_context, people)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        # A file consent answer that is not an object: botbuilder would fail it with a 501.
        activity = turn_context.activity
        if activity.name == "fileConsent/invoke" and not isinstance(activity.value, dict):
            return InvokeResponse(status=int(HTTPStatus.BAD_REQUEST))
        response: InvokeResponse = await super().on_invoke_activity(turn_context)
        return response

    async def on_teams_file_consent_accept(
        self, turn_context: TurnContext, file_consent_card_response: FileConsentCardResponse
    ) -> None:
        await self._file_consent(turn_context, file_consent_card_response)

    async def on_teams_file_consent_decline(
        self, turn_context: TurnContext, file_consent_card_response: FileConsentCardResponse
    ) -> None:
        await self._file_consent(turn_context, file_consent_card_response)

    async def _file_consent(
        self, turn_context: TurnContext, response: FileConsentCardResponse
    ) -> None:
        # botbuilder answers the invoke 200 once this returns; a failure is said in the chat.
        if self._routes.file_consent is None:
            await turn_context.send_activity("Sorry, I have no file waiting for that answer.")
            return
        await self._routes.file_consent.on_file_consent(
            turn_context, FileConsentAnswer.of(response)
        )

    async def on_adaptive_card_invoke(
        self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:
        press = card_press_of(invoke_value)
        action = self._routes.card_actions.get(press.verb)
        if action is None:
            return message_response("Sorry, I did not recognise that button. Please try again.")
        return await action(turn_context, press)

    def _get_adaptive_card_invoke_value(self, activity: Activity) -> AdaptiveCardInvokeValue:
        # botbuilder calls .get on the action without checking it is an object: an action
        # of 5 failed the turn (501).
        value = activity.value
        if isinstance(value, dict) and not isinstance(value.get("action"), dict | None):
            response = self._create_adaptive_card_invoke_error_response(
                HTTPStatus.BAD_REQUEST, "BadRequest", "The action is not an object"
            )
            raise _InvokeResponseException(HTTPStatus.BAD_REQUEST, response)
        return super()._get_adaptive_card_invoke_value(activity)

    def _create_adaptive_card_invoke_error_response(
        self, status_code: HTTPStatus, code: str, message: str
    ) -> AdaptiveCardInvokeResponse:
        # 4.17.1 puts an Exception object in the body, which cannot be serialized: every
        # malformed Action.Execute (no value, no action, an Action.Submit) answered 500.
        return AdaptiveCardInvokeResponse(
            status_code=int(status_code),
            type="application/vnd.microsoft.error",
            value={"code": code, "message": message},
        )

    async def _start_referral(self, turn_context: TurnContext, dc: DialogContext) -> None:
        if not is_personal(turn_context):
            await turn_context.send_activity(PRIVATE_ONLY)
            return
        await dc.begin_dialog(self._referral_dialog.id, self._fresh_referral())

    async def _not_understood(self, turn_context: TurnContext) -> None:
        if turn_context.activity.value is not None:
            # A button from a card whose conversation has ended (an old form, say).
            await turn_context.send_activity(
                "That card has expired. Type **refer** to start a new referral."
            )
            return
        if not is_personal(turn_context):
            # A meeting or group chat: what the bot does here, not the referral menu.
            if await self._routes.help_here(turn_context, "Sorry, I did not understand that."):
                return
            await turn_context.send_activity(SHARED_CHAT_HELP)
            return
        talk = small_talk_of(turn_context.activity.text)
        if talk is SmallTalk.THANKS:
            await turn_context.send_activity(THANKS)
            return
        opening = GREETING if talk is SmallTalk.GREETING else NOT_UNDERSTOOD
        await turn_context.send_activity(opening)
        await send_card(turn_context, self._welcome_card())


def _moment(text: str | None) -> datetime | None:
    """A time Teams gives as text ("2026-11-24T13:30:00Z"), aware; None if it is not one."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
