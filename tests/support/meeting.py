"""A Teams meeting chat with a facilitator, a case presenter and others, talking to the real bot."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from sqlalchemy import select, text

from bot.core.database import session_factory
from bot.core.models import MeetingSession
from tests.conftest import RunningBot, make_settings
from tests.support.card_schema import card_errors
from tests.support.client import TeamsUser, card_text, cards_in, nodes, texts_in
from tests.support.clock import FakeClock
from tests.support.connector import FakeConnector
from tests.support.databases import engine_for, everything_stored

MEETING_CHAT = "19:meeting_reflective@thread.v2"
MEETING_ID = "MCMxOTptZWV0aW5nX3JlZmxlY3RpdmVAdGhyZWFkLnYy"
# Tuesday 24 November 2026, 13:00 in London (GMT).
AFTERNOON = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"
STAGE = re.compile(r"Stage \d+ of \d+")


@dataclass
class Meeting:
    bot: RunningBot
    connector: FakeConnector
    clock: FakeClock
    http: aiohttp.ClientSession
    facilitator: TeamsUser
    presenter: TeamsUser
    consultant: TeamsUser
    organiser: TeamsUser
    people: dict[str, TeamsUser] = field(default_factory=dict)

    def person(self, name: str, role: str | None = "Attendee") -> TeamsUser:
        user = TeamsUser(
            self.bot.url,
            self.connector,
            self.http,
            name=name,
            conversation_type="groupChat",
            conversation_id=MEETING_CHAT,
            meeting_id=MEETING_ID,
        )
        if role is not None:
            self.connector.meeting_roles[(MEETING_ID, user.aad_id)] = role
        self.people[name] = user
        return user

    async def press(self, user: TeamsUser, verb: str, **data: Any) -> dict[str, Any]:
        """Presses a session button (Action.Execute); returns the invoke response body."""
        body = await user.invoke(verb, data)
        assert user.last_status == 200, body
        if body.get("type") == CARD:
            assert card_errors(body["value"]) == []
        return body

    async def control(self, user: TeamsUser, verb: str, card: dict[str, Any] | None = None) -> Any:
        """Presses a control on the stage card as the chat now shows it (or on `card`)."""
        await self.bot.settle()
        data = button_data(card or self.stage_card(), verb)
        answer = await self.press(user, verb, **data)
        await self.bot.settle()
        return answer

    async def set_up(self, model: str, **inputs: Any) -> dict[str, Any]:
        answer = await self.press(self.facilitator, "session_set_up", model=model, **inputs)
        await self.bot.settle()
        return answer

    def stage_card(self) -> dict[str, Any]:
        """The live stage card as the chat now shows it (its latest post, as last updated)."""
        return live_stage_card(self.connector, MEETING_CHAT)

    def stage_posts(self) -> int:
        return sum(bool(STAGE.search(card_text(card))) for card in cards_in(self.chat_posts()))

    def chat_posts(self) -> list[dict[str, Any]]:
        return self.connector.sent_to(MEETING_CHAT)

    def texts(self) -> list[str]:
        return texts_in(self.chat_posts())

    def posted_cards(self, heading: str) -> list[dict[str, Any]]:
        return [card for card in cards_in(self.chat_posts()) if heading in card_text(card)]

    async def advance(self, **delta: float) -> None:
        """Moves the clock on and lets the timer and the outbox do what is due."""
        self.clock.advance(**delta)
        await self.bot.settle()

    async def everything_stored(self) -> str:
        """Every stored value, encrypted ones decrypted: to look for what must not be kept."""
        return await everything_stored(self.bot.settings.database_url)

    async def count(self, table: str) -> int:
        engine = engine_for(self.bot.settings.database_url)
        try:
            async with engine.connect() as connection:
                return int(await connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
        finally:
            await engine.dispose()

    async def session_row(self) -> MeetingSession:
        engine = engine_for(self.bot.settings.database_url)
        try:
            async with session_factory(engine)() as session:
                row = await session.scalar(
                    select(MeetingSession).order_by(MeetingSession.id.desc()).limit(1)
                )
                assert row is not None
                return row
        finally:
            await engine.dispose()


def live_stage_card(connector: FakeConnector, chat: str) -> dict[str, Any]:
    """The stage card posted last in `chat`, as its latest update shows it: the live one
    (the copies posted before it are collapsed to one line)."""
    posted = [
        activity
        for activity in connector.sent_to(chat)
        if any(STAGE.search(card_text(card)) for card in cards_in([activity]))
    ]
    assert posted, "no stage card in the chat"
    latest = posted[-1]
    updates = [u for u in connector.updates_to(chat) if u.get("id") == latest["id"]]
    return cards_in([updates[-1] if updates else latest])[0]


def verbs_on(card: dict[str, Any]) -> list[str]:
    return [n["verb"] for n in nodes(card) if n.get("type") == "Action.Execute" and "verb" in n]


def button_data(card: dict[str, Any], verb: str) -> dict[str, Any]:
    for node in nodes(card):
        if node.get("type") == "Action.Execute" and node.get("verb") == verb:
            return dict(node.get("data") or {})
    raise AssertionError(f"no {verb} button on the card: {verbs_on(card)}")


def shown(body: dict[str, Any]) -> str:
    return card_text(body["value"]) if body.get("type") == CARD else str(body.get("value"))


@asynccontextmanager
async def meeting_scene(
    database_url: str,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    clock: FakeClock | None = None,
    **overrides: Any,
) -> AsyncIterator[Meeting]:
    clock = clock or FakeClock(AFTERNOON)
    settings = make_settings(database_url, **overrides)
    bot = RunningBot(settings, clock)
    await bot.start()
    try:
        scene = Meeting(bot, connector, clock, http, *([None] * 4))  # type: ignore[arg-type]
        scene.facilitator = scene.person("Jo Facilitator", "Attendee")
        scene.presenter = scene.person("Pat Presenter", "Attendee")
        scene.consultant = scene.person("Chris Consultant", "Attendee")
        scene.organiser = scene.person("Olu Organiser", "Organizer")
        yield scene
    finally:
        await bot.stop()
