"""Our outbound path: the wire form matches msrest's, and 429/503 are retried politely."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from botbuilder.core import CardFactory, MessageFactory
from botbuilder.schema import ChannelAccount, ConversationAccount

from bot.teams.connector import ConnectorError, ConnectorSender, retry_after_seconds
from bot.teams.wire import to_wire
from tests.support.clock import RealTimeClock
from tests.support.connector import Failure, FakeConnector
from tests.support.gallery import all_cards


@pytest.mark.parametrize("name", sorted(all_cards()))
def test_wire_form_matches_msrest(name: str) -> None:
    activity = MessageFactory.attachment(CardFactory.adaptive_card(all_cards()[name]))
    activity.conversation = ConversationAccount(
        id="a:1", conversation_type="personal", tenant_id="t"
    )
    activity.from_property = ChannelAccount(id="28:bot", name="Bot")
    activity.reply_to_id = "r1"
    activity.timestamp = datetime(2026, 11, 23, 15, 0, 1, 250000, tzinfo=UTC)
    assert json.dumps(to_wire(activity), sort_keys=True) == json.dumps(
        activity.serialize(), sort_keys=True
    )


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after_seconds("3", 1.0) == 3.0
    assert retry_after_seconds(None, 1.5) == 1.5
    assert retry_after_seconds("soon", 1.5) == 1.5
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 8 <= retry_after_seconds(in_ten, 1.0) <= 10


async def no_token() -> None:
    return None


async def test_429_is_retried_after_retry_after_and_nothing_is_lost(
    connector: FakeConnector,
) -> None:
    clock = RealTimeClock()
    connector.failures.extend(
        [Failure(429, {"Retry-After": "2"}), Failure(503, {"Retry-After": "1"})]
    )
    async with aiohttp.ClientSession() as http:
        sender = ConnectorSender(http, clock=clock)
        sent_id = await sender.send(
            connector.url, "a:conv/1", {"type": "message", "text": "hi"}, no_token
        )
    assert clock.slept == [2.0, 1.0]
    assert sent_id and [a["text"] for a in connector.activities] == ["hi"]
    # The conversation id is escaped in the path, as the connector expects.
    assert connector.requests[-1] == ("POST", "/v3/conversations/a:conv%2F1/activities")


async def test_403_is_not_retried(connector: FakeConnector) -> None:
    connector.failures.append(Failure(403))
    async with aiohttp.ClientSession() as http:
        sender = ConnectorSender(http)
        with pytest.raises(ConnectorError) as error:
            await sender.send(connector.url, "a:1", {"type": "message"}, no_token)
    assert error.value.status == 403
    assert connector.activities == []


async def test_gives_up_after_max_attempts(connector: FakeConnector) -> None:
    connector.failures.extend([Failure(429)] * 5)
    async with aiohttp.ClientSession() as http:
        sender = ConnectorSender(http, max_attempts=3, clock=RealTimeClock())
        with pytest.raises(ConnectorError):
            await sender.send(connector.url, "a:1", {"type": "message"}, no_token)
    assert len(connector.requests) == 3


async def test_update_puts_to_the_activity(connector: FakeConnector) -> None:
    async with aiohttp.ClientSession() as http:
        sender = ConnectorSender(http)
        await sender.update(
            connector.url, "a:1", "act-9", {"type": "message", "text": "new"}, no_token
        )
    assert connector.updates == [{"type": "message", "text": "new"}]
    assert connector.requests == [("PUT", "/v3/conversations/a:1/activities/act-9")]
