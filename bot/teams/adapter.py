"""The CloudAdapter, with replies sent by our ConnectorSender and one 4.17.1 bug fixed.

- Replies go through `ConnectorSender` (one shared aiohttp session, 429/Retry-After honoured)
  instead of a msrest ConnectorClient; the turn's connector client still supplies the
  credentials, so authentication is botbuilder's own.
- Updates in place (`update_activity`) go through the same sender, for the same reasons.
- 4.17.1's ActivityHandler serializes an invoke's body (the Universal Actions card) to a
  dict, and CloudAdapter.process then serializes it again as if it were a msrest Model,
  so every `adaptiveCard/action` answered 500. Already-serialized bodies pass through.
- 4.17.1 hands `ExpectedReplies(...).serialize()` (a dict) to `serializer_helper`, which
  wants a msrest Model, so every `deliveryMode: expectReplies` turn answered 500 after it
  had run (microsoft/botbuilder-python#2156). The Agents Playground can send that mode.
- `process_checked` takes the activity bot.teams.envelope has already read and checked; the
  stock `process` would parse the body again, unchecked.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web
from botbuilder.core import Bot, InvokeResponse, TurnContext, serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    DeliveryModes,
    ExpectedReplies,
    ResourceResponse,
)
from botframework.connector.auth import BotFrameworkAuthentication
from msrest.serialization import Model

from bot.teams.connector import ConnectorSender, TokenSource, TokenUnavailable
from bot.teams.proactive_flag import is_proactive
from bot.teams.wire import to_wire

log = logging.getLogger(__name__)

# Activity types the stock adapter handles without calling the connector.
_LOCAL_TYPES = {"delay", ActivityTypes.invoke_response, ActivityTypes.trace}


class BotAdapter(CloudAdapter):
    def __init__(self, authentication: BotFrameworkAuthentication, sender: ConnectorSender) -> None:
        super().__init__(authentication)
        self._sender = sender

    async def process_checked(
        self, activity: Activity, authorization: str, bot: Bot
    ) -> web.Response:
        """CloudAdapter.process's POST path, from the token check on."""
        try:
            invoke_response = await self.process_activity(authorization, activity, bot.on_turn)
        except PermissionError:
            raise web.HTTPUnauthorized from None
        if invoke_response is None:
            return web.Response(status=201)
        return web.json_response(
            data=serializer_helper(invoke_response.body), status=invoke_response.status
        )

    async def send_activities(
        self, context: TurnContext, activities: list[Activity]
    ) -> list[ResourceResponse]:
        responses: list[ResourceResponse] = []
        for activity in activities:
            if activity.type in _LOCAL_TYPES:
                responses.extend(await super().send_activities(context, [activity]))
                continue
            activity.id = None
            client = context.turn_state.get(self.BOT_CONNECTOR_CLIENT_KEY)
            service_url = activity.service_url or client.config.base_url
            sent_id = await self._sender.send(
                service_url,
                activity.conversation.id,
                to_wire(activity),
                _token_source(client),
                # A proactive message is a new post: its "reply to" id is botbuilder's
                # made-up continuation id, which Teams would take for a thread to answer.
                None if is_proactive() else activity.reply_to_id,
            )
            responses.append(ResourceResponse(id=sent_id))
        return responses

    async def update_activity(self, context: TurnContext, activity: Activity) -> ResourceResponse:
        client = context.turn_state.get(self.BOT_CONNECTOR_CLIENT_KEY)
        service_url = activity.service_url or client.config.base_url
        updated_id = await self._sender.update(
            service_url,
            activity.conversation.id,
            activity.id,
            to_wire(activity),
            _token_source(client),
        )
        return ResourceResponse(id=updated_id)

    async def is_member(self, context: TurnContext, conversation_id: str, member_id: str) -> bool:
        """Whether the person is a member of another conversation the bot is in."""
        client = context.turn_state.get(self.BOT_CONNECTOR_CLIENT_KEY)
        service_url = context.activity.service_url or client.config.base_url
        details = await self._sender.member(
            service_url, conversation_id, member_id, _token_source(client)
        )
        return details is not None

    async def member(
        self, context: TurnContext, conversation_id: str, member_id: str
    ) -> dict[str, Any] | None:
        """A member's details in a conversation the bot is in (see ConnectorSender.member)."""
        client = context.turn_state.get(self.BOT_CONNECTOR_CLIENT_KEY)
        service_url = context.activity.service_url or client.config.base_url
        return await self._sender.member(
            service_url, conversation_id, member_id, _token_source(client)
        )

    async def meeting_role(
        self, context: TurnContext, meeting_id: str, participant_id: str, tenant_id: str
    ) -> str | None:
        """The person's role in the meeting this turn comes from (see ConnectorSender)."""
        client = context.turn_state.get(self.BOT_CONNECTOR_CLIENT_KEY)
        service_url = context.activity.service_url or client.config.base_url
        return await self._sender.meeting_role(
            service_url, meeting_id, participant_id, tenant_id, _token_source(client)
        )

    def _process_turn_results(self, context: TurnContext) -> InvokeResponse:
        if context.activity.delivery_mode == DeliveryModes.expect_replies:
            return InvokeResponse(
                status=HTTPStatus.OK,
                body=ExpectedReplies(activities=context.buffered_reply_activities),
            )
        response = super()._process_turn_results(context)
        if response is not None and isinstance(response.body, dict):
            response.body = _AlreadySerialized(response.body)
        return response


class _AlreadySerialized(Model):
    """A JSON body msrest's serializer hands back unchanged (its "additional properties")."""

    _attribute_map = {"additional_properties": {"key": "", "type": "{object}"}}

    def __init__(self, body: dict) -> None:
        super().__init__()
        self.additional_properties = body


def _token_source(client: object) -> TokenSource:
    credentials = getattr(getattr(client, "config", None), "credentials", None)

    async def token() -> str | None:
        if credentials is None or not getattr(credentials, "microsoft_app_id", None):
            return None  # no app id: the local, unauthenticated set-up
        # MSAL caches the token; the call is synchronous and may go to the network.
        try:
            return await asyncio.to_thread(credentials.get_access_token)
        except Exception as error:  # noqa: BLE001 - msal and the identity endpoint raise anything
            # Entra or the host's managed identity gave no token: soon over, so retryable (the
            # outbox tries the message again later) rather than a message given up for good.
            log.warning("no token for the Bot Connector: %s", type(error).__name__)
            raise TokenUnavailable(str(error)) from error

    return token
