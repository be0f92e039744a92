"""The CloudAdapter, with botbuilder 4.17.1's expectReplies bug fixed.

4.17.1 hands `ExpectedReplies(...).serialize()` (a dict) to `serializer_helper`, which wants
a msrest Model, so every `deliveryMode: expectReplies` turn answered 500 after it had run
(microsoft/botbuilder-python#2156). The Agents Playground can send that mode.
"""

from __future__ import annotations

from http import HTTPStatus

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import DeliveryModes, ExpectedReplies


class BotAdapter(CloudAdapter):
    def _process_turn_results(self, context: TurnContext) -> InvokeResponse:
        if context.activity.delivery_mode == DeliveryModes.expect_replies:
            return InvokeResponse(
                status=HTTPStatus.OK,
                body=ExpectedReplies(activities=context.buffered_reply_activities),
            )
        return super()._process_turn_results(context)
