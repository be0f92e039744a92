"""Someone the bot cannot reach in Teams (no app: 403 on opening a 1:1 chat) is shown on the
referral's desk card with what to do, tried again over about a day, then given up quietly."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import unquote

import aiohttp
import pytest
from sqlalchemy import select

from bot.core.database import session_factory
from bot.core.models import OutboxMessage
from bot.core.outbox import Kind
from bot.teams.deliveries import REDRAW_AFTER, UNREACHABLE_RETRIES
from tests.support.client import TeamsUser, card_text, cards_in
from tests.support.connector import FakeConnector
from tests.support.databases import engine_for
from tests.support.triage import (
    FACILITATOR,
    Scene,
    accept,
    press,
    shown,
    triage_scene,
    version_of,
)

APP_ID = "7c1f0d52-3a9e-4b6d-8f21-5e4a9b0c6d13"  # the app's id in the organisation's catalog
INSTALL_LINK = f"https://teams.microsoft.com/l/app/{APP_ID}"
JOIN = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA2ZTk1YjQtYjQ0MS00%40thread.v2/0"
    "?context=%7b%22Tid%22%3a%22aa%22%7d"
)
CANNOT_REACH_JO = "I cannot reach Jo Facilitator, the facilitator, in Teams"
STOPPED_TRYING = "I could not reach Jo Facilitator, the facilitator, in Teams and have stopped"


@pytest.fixture
async def scene(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> AsyncIterator[Scene]:
    async with triage_scene(database_url, connector, http, teams_app_catalog_id=APP_ID) as scene:
        await scene.register_desk()
        yield scene


def chats_opened_for(scene: Scene, person_id: str) -> list[float]:
    """When (the bot's clock, in seconds) the bot asked Teams to open a 1:1 chat with them."""
    return [
        scene.connector.request_times[i]
        for i, (method, path) in enumerate(scene.connector.requests)
        if method == "POST" and unquote(path) == "/v3/conversations"
    ]


async def move_on(scene: Scene, delta: timedelta) -> None:
    scene.clock.advance(seconds=delta.total_seconds())
    await scene.bot.settle()


async def person_messages(scene: Scene) -> list[OutboxMessage]:
    engine = engine_for(scene.bot.settings.database_url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == Kind.PERSON)
                .order_by(OutboxMessage.id)
            )
            return list(rows)
    finally:
        await engine.dispose()


async def schedule_by_hand(scene: Scene, reference: str) -> str:
    body = await press(
        scene.admin,
        "triage_schedule",
        reference,
        version_of(scene.desk_card(reference)),
        day="2026-12-01",
        time="13:00",
        link=JOIN,
    )
    return shown(body)


async def test_a_facilitator_without_the_app_is_shown_tried_again_and_given_up_quietly(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    facilitator = FACILITATOR["aad_object_id"]
    scene.connector.without_app.add(facilitator)
    reference = await scene.refer()
    await accept(scene.admin, reference, version_of(scene.desk_card(reference)))
    await scene.bot.settle()
    assert len(chats_opened_for(scene, facilitator)) == 1  # Teams answered 403

    # The desk card says so once the outbox has noted it, with what to do and the next try.
    await move_on(scene, REDRAW_AFTER)
    card = card_text(scene.desk_card(reference))
    assert CANNOT_REACH_JO in card
    assert "I will try again on 23 Nov 2026 10:05." in card
    assert f"Ask them to add the app in Teams, with this link: [{INSTALL_LINK}]" in card

    # Tried again after each wait, and not before: minutes, then hours.
    waited = REDRAW_AFTER
    for wait in UNREACHABLE_RETRIES:
        tries = len(chats_opened_for(scene, facilitator))
        await move_on(scene, wait - waited - timedelta(seconds=1))
        assert len(chats_opened_for(scene, facilitator)) == tries
        await move_on(scene, timedelta(seconds=1))
        assert len(chats_opened_for(scene, facilitator)) == tries + 1
        waited = timedelta(0)
    opened = chats_opened_for(scene, facilitator)
    gaps = [later - earlier for earlier, later in zip(opened, opened[1:], strict=False)]
    # The test clock adds float seconds: a gap may be off by a rounding error, never more.
    assert gaps == pytest.approx([wait.total_seconds() for wait in UNREACHABLE_RETRIES])

    # Then given up: no more tries, and the card says so.
    await move_on(scene, REDRAW_AFTER)
    await move_on(scene, timedelta(days=3))
    assert len(chats_opened_for(scene, facilitator)) == len(UNREACHABLE_RETRIES) + 1
    (message,) = await person_messages(scene)
    assert message.failed_at is not None and message.sent_at is None
    card = card_text(scene.desk_card(reference))
    assert STOPPED_TRYING in card and CANNOT_REACH_JO not in card
    assert INSTALL_LINK in card

    # The admin who schedules is not told the facilitator is being told.
    told = await schedule_by_hand(scene, reference)
    assert "the facilitator are being told" not in told
    assert "Scheduled. The referrer is being told, with the link." in told
    assert "I cannot reach Jo Facilitator in Teams, so they are not being told" in told

    # The news of the session cannot reach them either, for now.
    await scene.bot.settle()
    await move_on(scene, REDRAW_AFTER)
    assert CANNOT_REACH_JO in card_text(scene.desk_card(reference))

    # Asked, they add the app: the next try reaches them, and the card is clear.
    scene.connector.without_app.discard(facilitator)
    await move_on(scene, UNREACHABLE_RETRIES[0])
    chat = scene.connector.created[-1]
    assert chat["members"] == [{"id": facilitator}]
    assert "Tuesday 1 December 2026 at 13:00" in card_text(
        cards_in(scene.connector.sent_to(chat["id"]))[0]
    )
    await move_on(scene, REDRAW_AFTER)
    assert "reach" not in card_text(scene.desk_card(reference))

    # A warning with ids only, never an error.
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    gave_up = [r.getMessage() for r in caplog.records if "given up: 403" in r.getMessage()]
    assert gave_up == [f"outbox message {message.id} (person) given up: 403"]
    logged = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("bot."))
    assert FACILITATOR["name"] not in logged and FACILITATOR["email"] not in logged


async def test_a_facilitator_who_adds_the_app_is_reached_at_the_next_try(scene: Scene) -> None:
    facilitator = FACILITATOR["aad_object_id"]
    scene.connector.without_app.add(facilitator)
    reference = await scene.refer()
    await accept(scene.admin, reference, version_of(scene.desk_card(reference)))
    await scene.bot.settle()
    await move_on(scene, REDRAW_AFTER)
    assert CANNOT_REACH_JO in card_text(scene.desk_card(reference))

    scene.connector.without_app.discard(facilitator)  # asked, they add the app
    await move_on(scene, UNREACHABLE_RETRIES[0])
    chat = scene.connector.created[-1]
    assert chat["members"] == [{"id": facilitator}]
    told = cards_in(scene.connector.sent_to(chat["id"]))
    assert f"You are facilitating {reference}" in card_text(told[0])

    await move_on(scene, REDRAW_AFTER)
    assert "reach" not in card_text(scene.desk_card(reference))
    told_admin = await schedule_by_hand(scene, reference)
    assert "Scheduled. The referrer and the facilitator are being told" in told_admin


async def test_an_invitee_who_removed_the_app_is_shown_on_the_card(scene: Scene) -> None:
    # Pat (invited by email) talked to the bot once, so it knows her; she has removed the app.
    pat = TeamsUser(scene.bot.url, scene.connector, scene.admin.session, name="Pat Teacher")
    scene.connector.profiles[pat.user_id] = {"aadObjectId": pat.aad_id, "email": "pat@oak.example"}
    await pat.say("help")
    await scene.bot.settle()
    scene.connector.without_app.add(pat.aad_id)

    reference = await scene.refer()
    await accept(scene.admin, reference, version_of(scene.desk_card(reference)))
    await scene.bot.settle()
    await schedule_by_hand(scene, reference)
    await scene.bot.settle()
    await move_on(scene, REDRAW_AFTER)
    card = card_text(scene.desk_card(reference))
    assert "I cannot reach Pat Teacher (Oak School), an invitee, in Teams" in card
    assert CANNOT_REACH_JO not in card  # the facilitator has the app
