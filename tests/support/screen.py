"""The session on a screen, from outside: the room display's link, and its event stream read
as a browser's EventSource would (tests.test_session_screen; the browser tests use these too)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.core.changes import PostgresChanges
from tests.conftest import RunningBot
from tests.support.client import card_text, cards_in
from tests.support.meeting import MEETING_CHAT, Meeting, button_data, shown

LINK = re.compile(r"https?://\S+/live/\S+")


@asynccontextmanager
async def second_instance(meeting: Meeting) -> AsyncIterator[RunningBot]:
    """Another instance of the app on the meeting's PostgreSQL database, once it is listening
    for the changes the first one announces."""
    other = RunningBot(meeting.bot.settings, meeting.clock)
    await other.start()
    try:
        changes = other.runtime.changes
        assert isinstance(changes, PostgresChanges)
        await asyncio.wait_for(changes.listening.wait(), 5)
        yield other
    finally:
        await other.stop()


async def room_link(meeting: Meeting, who: Any = None) -> str:
    """The room display's link the facilitator (or `who`) is given, on the app's own address."""
    card = meeting.stage_card()
    answer = await meeting.press(
        who or meeting.facilitator,
        "session_room_link",
        **button_data(card, "session_room_link"),
    )
    found = LINK.search(shown(answer))
    assert found, shown(answer)
    return meeting.bot.url.rstrip("/") + urlsplit(found.group(0)).path


class EventStream:
    """One open `text/event-stream`: its events, as parsed JSON, one at a time."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout: float = 5.0) -> tuple[str, dict[str, Any]]:
        """The next event's type ("message" by default) and data; comments are skipped."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> tuple[str, dict[str, Any]]:
        kind, data = "message", ""
        while True:
            raw = await self.response.content.readline()
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode().rstrip("\n")
            if line == "":
                if data:
                    return kind, json.loads(data)
                kind = "message"
                continue
            if line.startswith(":") or line.startswith("retry:"):
                continue
            field, _, value = line.partition(": ")
            if field == "event":
                kind = value
            elif field == "data":
                data += value

    async def state(self, timeout: float = 5.0) -> dict[str, Any]:
        kind, data = await self.next(timeout)
        assert kind == "message", (kind, data)
        return data


async def begin_with_roles(meeting: Meeting) -> None:
    """A Space to Think session begun with its roles taken, so names are there to leak."""
    await meeting.facilitator.say("<at>Reflective practice</at> start session")
    await meeting.set_up("space_to_think")
    await meeting.press(meeting.presenter, "session_take_role", session=1, role="case_presenter")
    await meeting.press(meeting.consultant, "session_take_role", session=1, role="consultants")
    await meeting.bot.settle()
    roles = cards_in(meeting.connector.updates_to(MEETING_CHAT))[-1]
    assert "Pat Presenter" in card_text(roles)
    await meeting.press(meeting.facilitator, "session_begin", **button_data(roles, "session_begin"))
    await meeting.bot.settle()
