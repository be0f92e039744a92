"""A triage desk in a channel, admins and a practitioner, all talking to the real bot."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.core.database import session_factory
from bot.core.models import ReferralRow
from tests.conftest import RunningBot, make_settings
from tests.support.card_schema import card_errors
from tests.support.client import TeamsUser, card_text, cards_in
from tests.support.clock import FakeClock
from tests.support.connector import FakeConnector
from tests.support.databases import engine_for
from tests.support.referral_steps import SUBMIT, answer_up_to_review

DESK = "19:triage-desk@thread.tacv2"
ADMIN_GROUP = "19:business-support@thread.tacv2"
ADMIN = "a0000000-0000-0000-0000-000000000001"
SECOND_ADMIN = "a0000000-0000-0000-0000-000000000002"
FACILITATOR = {
    "name": "Jo Facilitator",
    "aad_object_id": "f0000000-0000-0000-0000-000000000001",
    "email": "jo@example.org",
}
MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"


@dataclass
class Scene:
    bot: RunningBot
    connector: FakeConnector
    clock: FakeClock
    admin: TeamsUser
    second_admin: TeamsUser
    outsider: TeamsUser  # in the desk channel, but not an admin
    practitioner: TeamsUser

    async def register_desk(self) -> list[dict[str, Any]]:
        return await self.admin.say("<at>Reflective practice</at> register triage here")

    async def refer(self) -> str:
        await answer_up_to_review(self.practitioner)
        sent = await self.practitioner.press(SUBMIT)
        found = re.search(r"RP-\d{4}-\d{4}", card_text(cards_in(sent)[0]))
        assert found is not None
        await self.bot.settle()
        return found.group(0)

    def in_chat(
        self,
        name: str,
        conversation_id: str,
        aad_id: str | None = None,
        meeting_id: str | None = None,
    ) -> TeamsUser:
        """Someone in a group chat (a meeting's chat when `meeting_id` is given)."""
        return TeamsUser(
            self.bot.url,
            self.connector,
            self.admin.session,
            name=name,
            aad_id=aad_id,
            conversation_type="groupChat",
            conversation_id=conversation_id,
            meeting_id=meeting_id,
        )

    def desk_card(self, reference: str) -> dict[str, Any]:
        """The shared card for the referral as the channel now shows it."""
        posted = [
            card
            for card in cards_in(self.connector.sent_to(DESK) + self.connector.updates_to(DESK))
            if f"Referral {reference}" in card_text(card)
        ]
        assert posted, f"no triage card for {reference} on the desk"
        return posted[-1]

    def posts_on_desk(self, reference: str) -> int:
        return sum(
            f"Referral {reference}" in card_text(card)
            for card in cards_in(self.connector.sent_to(DESK))
        )


async def press(
    user: TeamsUser, verb: str, reference: str, version: int, **inputs: Any
) -> dict[str, Any]:
    """Presses a triage button; returns the invoke response, its card checked against 1.5."""
    body = await user.invoke(verb, {"reference": reference, "version": version, **inputs})
    assert user.last_status == 200, body
    if body.get("type") == CARD:
        assert card_errors(body["value"]) == []
    return body


async def stored_referral(scene: Scene, reference: str) -> ReferralRow:
    """The referral's row as the database holds it now."""
    engine = engine_for(scene.bot.settings.database_url)
    try:
        async with session_factory(engine)() as session:
            row = await session.scalar(
                select(ReferralRow).where(ReferralRow.reference == reference)
            )
            assert row is not None
            return row
    finally:
        await engine.dispose()


async def accept(
    user: TeamsUser, reference: str, version: int, model: str = "space_to_think"
) -> dict[str, Any]:
    """Accepts the referral for the pool's facilitator."""
    return await press(
        user,
        "triage_accept",
        reference,
        version,
        model=model,
        facilitator=FACILITATOR["aad_object_id"],
    )


def shown(body: dict[str, Any]) -> str:
    """What the person who pressed sees: the card's text, or the message."""
    return card_text(body["value"]) if body.get("type") == CARD else str(body.get("value"))


def version_of(card: dict[str, Any]) -> int:
    for node in card.get("actions", []):
        if node.get("type") == "Action.Execute":
            return int(node["data"]["version"])
    raise AssertionError("the card has no triage buttons")


def verbs_on(card: dict[str, Any]) -> list[str]:
    return [a["verb"] for a in card.get("actions", []) if a.get("type") == "Action.Execute"]


@asynccontextmanager
async def triage_scene(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession, **overrides: Any
) -> AsyncIterator[Scene]:
    clock = FakeClock(overrides.pop("start", MONDAY_MORNING))
    connector.clock = clock  # the bot sleeps on this clock: time its requests on it too
    graph_credential = overrides.pop("graph_credential", None)
    form_questions = overrides.pop("form_questions", None)
    settings = make_settings(
        database_url,
        admin_ids=[ADMIN, SECOND_ADMIN],
        admin_group_conversation_id=ADMIN_GROUP,
        facilitators=[FACILITATOR],
        scheduler_interval_seconds=3600,  # tests drive the scheduler with settle()
        **overrides,
    )
    bot = RunningBot(settings, clock, graph_credential, form_questions)
    await bot.start()

    def in_channel(name: str, aad_id: str | None = None) -> TeamsUser:
        return TeamsUser(
            bot.url,
            connector,
            http,
            name=name,
            aad_id=aad_id,
            conversation_type="channel",
            conversation_id=DESK,
        )

    try:
        yield Scene(
            bot,
            connector,
            clock,
            in_channel("Alex Admin", ADMIN),
            in_channel("Sam Second", SECOND_ADMIN),
            in_channel("Olly Outsider"),
            TeamsUser(bot.url, connector, http, name="Pat Practitioner"),
        )
    finally:
        await bot.stop()
