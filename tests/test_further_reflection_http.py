"""Three months on: the further reflection meeting the triage desk is asked to book.

The real bot on a loopback Bot Connector (and, with Graph, the real msgraph-sdk client on a
loopback Graph), SQLite and PostgreSQL, on a test clock. The sessions themselves are written
straight into the database, ended, as a session run in a meeting would leave them: running
a whole Think Space session three months back is slow and not what is tested here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.core.database import session_factory
from bot.core.models import (
    AuditEntry,
    FurtherReflection,
    MeetingSession,
    ReferralRow,
    SessionParticipant,
)
from bot.core.protocols import BUILT_IN, load_protocols
from bot.core.pseudonym import PREFIX
from bot.further_reflection.view import FurtherAction
from tests.conftest import RunningBot
from tests.support.client import TENANT, TeamsUser, card_text, cards_in
from tests.support.connector import FakeConnector
from tests.support.databases import engine_for
from tests.support.graph import Failure, FakeGraph, FixedTokenCredential
from tests.support.triage import (
    CARD,
    DESK,
    FACILITATOR,
    Scene,
    accept,
    triage_scene,
    verbs_on,
    version_of,
)

ORGANISER = "5b0a3c2e-7d41-4f6a-9e83-0c1d2e3f4a5b"
PAT = "pat@oak.example"  # the invitee the referral steps name
REFERRER = "pat.practitioner@council.example"
JOIN = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_further%40thread.v2/0"
# Held on Tuesday 24 November 2026; three months on is Wednesday 24 February 2027, whose
# working day starts at 09:00 in London (GMT then).
HELD = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
ENDED = HELD + timedelta(minutes=90)
DUE = datetime(2027, 2, 24, 9, 0, tzinfo=UTC)
PROTOCOLS = load_protocols([BUILT_IN])


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


async def ended_session(
    scene: Scene,
    reference: str,
    *,
    model: str = "think_space",
    referral: bool = True,
    participants: tuple[tuple[str, str], ...] = (("p-1", "Pat"), ("p-2", "Sam"), ("p-3", "Kim")),
    protocol: dict[str, Any] | None = None,
) -> int:
    """A session of `model` held on HELD and ended, as the sessions feature leaves it."""
    engine = engine_for(scene.bot.settings.database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            referral_id = None
            if referral:
                referral_id = await session.scalar(
                    select(ReferralRow.id).where(ReferralRow.reference == reference)
                )
                assert referral_id is not None
            stored = protocol or PROTOCOLS[model].model_dump(mode="json", by_alias=True)
            chat = f"19:meeting_{reference}@thread.v2"
            row = MeetingSession(
                reference=reference,
                referral_id=referral_id,
                tenant_id=TENANT,
                conversation_id=chat,
                # As the bot stores a meeting chat's reference: where its cards went.
                conversation_reference={
                    "conversation": {"id": chat, "conversationType": "groupChat"},
                    "serviceUrl": scene.connector.url,
                    "bot": {"id": "28:bot", "name": "Reflective practice"},
                    "channelId": "msteams",
                },
                model=model,
                protocol=stored,
                plan=[],
                facilitator_id=FACILITATOR["aad_object_id"],
                facilitator_name=FACILITATOR["name"],
                roles={},
                status="ended",
                version=9,
                time_spent=[],
                created_by_id=FACILITATOR["aad_object_id"],
                created_at=HELD,
                started_at=HELD,
                ended_at=ENDED,
            )
            session.add(row)
            await session.flush()
            for person_id, name in participants:
                session.add(
                    SessionParticipant(
                        session_id=row.id,
                        person_id=person_id,
                        name=name,
                        joined_at=HELD,
                        feedback_status="due",
                    )
                )
            return row.id
    finally:
        await engine.dispose()


async def stored(scene: Scene, session_id: int) -> FurtherReflection | None:
    engine = engine_for(scene.bot.settings.database_url)
    try:
        async with session_factory(engine)() as session:
            return await session.get(FurtherReflection, session_id)
    finally:
        await engine.dispose()


async def count(scene: Scene, what: Any, *where: Any) -> int:
    engine = engine_for(scene.bot.settings.database_url)
    try:
        async with session_factory(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(what).where(*where)))
    finally:
        await engine.dispose()


def title(reference: str) -> str:
    return f"Further reflection for {reference}"


def posts(scene: Scene, reference: str) -> int:
    """How many further reflection cards for `reference` were posted on the desk."""
    sent = cards_in(scene.connector.sent_to(DESK))
    return sum(title(reference) in card_text(card) for card in sent)


def desk_card(scene: Scene, reference: str) -> dict[str, Any]:
    """The further reflection card as the desk shows it now (posted, then updated)."""
    shown = [
        card
        for card in cards_in(scene.connector.sent_to(DESK) + scene.connector.updates_to(DESK))
        if title(reference) in card_text(card)
    ]
    assert shown, f"no further reflection card for {reference} on the desk"
    return shown[-1]


def data_of(card: dict[str, Any]) -> dict[str, Any]:
    for action in card.get("actions", []):
        if action.get("type") == "Action.Execute":
            return dict(action["data"])
    raise AssertionError("the card has no buttons")


async def press(user: TeamsUser, verb: str, card: dict[str, Any], **inputs: Any) -> Any:
    body = await user.invoke(verb, {**data_of(card), **inputs})
    assert user.last_status == 200, body
    return body


def shown(body: dict[str, Any]) -> str:
    return card_text(body["value"]) if body.get("type") == CARD else str(body.get("value"))


async def due_now(scene: Scene) -> None:
    scene.clock.set(DUE)
    await scene.bot.settle()


@pytest.fixture
async def desk(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> AsyncIterator[Scene]:
    """A desk without Graph: the admin books the meeting themselves."""
    async with triage_scene(database_url, connector, http) as scene:
        await scene.register_desk()
        yield scene


@pytest.fixture
async def graph_desk(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession, graph: FakeGraph
) -> AsyncIterator[Scene]:
    """A desk with Graph set up (as tests/test_booking_http.py starts one)."""
    async with triage_scene(
        database_url,
        connector,
        http,
        graph_organiser=ORGANISER,
        graph_client_secret="not used: the credential below gives the token",
        graph_endpoint=graph.endpoint,
        graph_credential=FixedTokenCredential(),
    ) as scene:
        await scene.register_desk()
        yield scene


async def test_the_card_comes_on_the_due_working_day_once_and_only_for_think_space(
    desk: Scene,
) -> None:
    scene = desk
    reference = await scene.refer()
    think_space = await ended_session(scene, reference)
    other = await scene.refer()
    await ended_session(scene, other, model="space_to_think")
    # A session from before the models declared [feedback]: no further reflection.
    before = await scene.refer()
    old = {k: v for k, v in PROTOCOLS["think_space"].model_dump(mode="json").items()}
    del old["feedback"]
    await ended_session(scene, before, protocol=old)

    scene.clock.set(utc(2027, 2, 23, 17, 0))  # the day before
    await scene.bot.settle()
    scene.clock.set(DUE - timedelta(minutes=1))  # the due day, before it starts
    await scene.bot.settle()
    assert posts(scene, reference) == 0 and await stored(scene, think_space) is None

    await due_now(scene)
    card = desk_card(scene, reference)
    text = card_text(card)
    assert f"Further reflection for {reference} (Think Space, held 24 November 2026)" in text
    assert "further reflection meeting three months on" in text
    assert "3 people" in text
    # No case detail on the desk's shared card.
    for case_detail in ("Child A", "CS-1234"):
        assert case_detail not in text
    # Without Graph: booked by hand, or not needed.
    assert verbs_on(card) == ["further_by_hand", "further_not_needed"]
    row = await stored(scene, think_space)
    assert row is not None and row.state == "waiting" and str(row.due_on) == "2027-02-24"

    # Once: another tick, and a second instance on the same database, post nothing more.
    await scene.bot.settle()
    second = RunningBot(scene.bot.settings, scene.clock)
    await second.start()
    try:
        await second.settle()
    finally:
        await second.stop()
    await scene.bot.settle()
    assert posts(scene, reference) == 1
    assert await count(scene, FurtherReflection) == 1
    assert posts(scene, other) == 0 and posts(scene, before) == 0


async def test_booked_by_hand_once_and_only_by_an_admin(desk: Scene) -> None:
    scene = desk
    reference = await scene.refer()
    session_id = await ended_session(scene, reference)
    await due_now(scene)
    card = desk_card(scene, reference)
    filled = {"day": "2027-03-09", "time": "13:00", "link": JOIN}

    refused = await press(scene.outsider, "further_by_hand", card, **filled)
    assert "only the partnership's business support team" in shown(refused)
    assert (await stored(scene, session_id)).state == "waiting"  # type: ignore[union-attr]

    not_a_link = await press(scene.admin, "further_by_hand", card, **{**filled, "link": "x"})
    assert "join link" in shown(not_a_link)
    no_book_without_graph = await press(scene.admin, "further_book", card, **filled)
    assert "Nothing was changed" in shown(no_book_without_graph)

    done = await press(scene.admin, "further_by_hand", card, **filled)
    assert "Noted" in shown(done)
    assert "Booked for Tuesday 9 March 2027 at 13:00" in shown(done)
    again = await press(scene.second_admin, "further_by_hand", card, **filled)
    assert "moved on by Alex Admin" in shown(again) and "Nothing was changed" in shown(again)
    await scene.bot.settle()

    row = await stored(scene, session_id)
    assert row is not None and row.state == "booked" and row.version == 1
    assert row.join_url == JOIN and row.session_at == utc(2027, 3, 9, 13, 0)
    assert row.decided_by_id is not None
    updated = card_text(desk_card(scene, reference))
    assert "Booked for Tuesday 9 March 2027 at 13:00" in updated
    assert "Booked by Alex Admin" in updated
    assert verbs_on(desk_card(scene, reference)) == []
    assert posts(scene, reference) == 1  # redrawn in place
    decided = await count(scene, AuditEntry, AuditEntry.action == FurtherAction.BOOKED_BY_HAND)
    assert decided == 1


async def test_not_needed_closes_it(desk: Scene) -> None:
    scene = desk
    reference = await scene.refer()
    session_id = await ended_session(scene, reference)
    await due_now(scene)
    await press(scene.admin, "further_not_needed", desk_card(scene, reference))
    await scene.bot.settle()
    assert (await stored(scene, session_id)).state == "not_needed"  # type: ignore[union-attr]
    assert "Marked not needed by Alex Admin" in card_text(desk_card(scene, reference))


async def test_with_graph_the_meeting_is_booked_once_for_the_referrer_and_invitees(
    graph_desk: Scene, graph: FakeGraph
) -> None:
    scene = graph_desk
    scene.connector.profiles[scene.practitioner.user_id] = {
        "name": scene.practitioner.name,
        "email": REFERRER,
        "userPrincipalName": REFERRER,
        "aadObjectId": scene.practitioner.aad_id,
    }
    reference = await scene.refer()
    await accept(scene.admin, reference, version_of(scene.desk_card(reference)), "think_space")
    session_id = await ended_session(scene, reference)
    await due_now(scene)
    card = desk_card(scene, reference)
    assert verbs_on(card) == ["further_book", "further_by_hand", "further_not_needed"]
    assert "3 people I know the email of" in card_text(card)

    graph.fail_for("/events", Failure(429, {"Retry-After": "1"}))
    asked = await press(scene.admin, "further_book", card, day="2027-03-09", time="13:00")
    assert "Booking the Teams meeting in Outlook" in shown(asked)
    await scene.bot.settle()

    created = graph.calls("POST", "/events")
    assert len(created) == 2  # throttled once: msgraph's retry handler waited it out
    assert created[0].body["transactionId"] == created[1].body["transactionId"]
    assert len(graph.events) == 1
    event = created[-1].body
    assert event["subject"] == f"Further reflection: {reference}"
    assert event["start"] == {"dateTime": "2027-03-09T13:00:00", "timeZone": "Europe/London"}
    assert event["isOnlineMeeting"] is True
    invited = {a["emailAddress"]["address"] for a in event["attendees"]}
    assert invited == {REFERRER, FACILITATOR["email"], PAT}
    for case_detail in ("Child A", "CS-1234"):
        assert case_detail not in str(event)

    row = await stored(scene, session_id)
    assert row is not None and row.state == "booked"
    assert row.event_id in graph.events and row.join_url and row.transaction_id
    text = card_text(desk_card(scene, reference))
    assert "Booked for Tuesday 9 March 2027 at 13:00" in text
    assert "Booked in Outlook, asked for by Alex Admin" in text
    assert posts(scene, reference) == 1

    # Run again (a retry after a crash, say): nothing more is made.
    await scene.bot.settle()
    assert len(graph.calls("POST", "/events")) == 2


async def test_graph_unavailable_for_a_while_is_tried_again_later(
    graph_desk: Scene, graph: FakeGraph
) -> None:
    scene = graph_desk
    reference = await scene.refer()
    session_id = await ended_session(scene, reference)
    await due_now(scene)
    # More 503s than msgraph's own retries: the calendar outbox tries again, later.
    graph.fail_for("/events", *[Failure(503, {"Retry-After": "0"})] * 4)
    await press(
        scene.admin, "further_book", desk_card(scene, reference), day="2027-03-09", time="13:00"
    )
    await scene.bot.settle()
    assert (await stored(scene, session_id)).state == "booking"  # type: ignore[union-attr]
    scene.clock.set(DUE + timedelta(minutes=5))
    await scene.bot.settle()
    assert (await stored(scene, session_id)).state == "booked"  # type: ignore[union-attr]
    assert len(graph.events) == 1


async def test_a_refusal_says_what_to_do_and_by_hand_still_works(
    graph_desk: Scene, graph: FakeGraph
) -> None:
    scene = graph_desk
    reference = await scene.refer()
    session_id = await ended_session(scene, reference)
    await due_now(scene)
    graph.fail_for("/events", Failure(403))
    card = desk_card(scene, reference)
    await press(scene.admin, "further_book", card, day="2027-03-09", time="13:00")
    await scene.bot.settle()

    row = await stored(scene, session_id)
    assert row is not None and row.state == "failed" and "Graph refused" in (row.problem or "")
    failed = desk_card(scene, reference)
    text = card_text(failed)
    assert "The meeting is not booked: Outlook did not let me book it" in text
    assert "Details for your IT team" in text and "Calendars.ReadWrite" in text
    assert verbs_on(failed) == ["further_book", "further_by_hand", "further_not_needed"]
    assert [a["title"] for a in failed["actions"]][0] == "Try booking again"

    filled = {"day": "2027-03-10", "time": "14:00", "link": JOIN}
    await press(scene.admin, "further_by_hand", failed, **filled)
    await scene.bot.settle()
    row = await stored(scene, session_id)
    assert row is not None and row.state == "booked" and row.problem is None
    assert "Booked for Wednesday 10 March 2027 at 14:00" in card_text(desk_card(scene, reference))


async def test_a_session_without_a_referral_is_named_by_its_own_reference(
    graph_desk: Scene, graph: FakeGraph
) -> None:
    scene = graph_desk
    # Nobody whose email the bot knows took part: booking in Outlook is not offered.
    unknown = await ended_session(scene, "S-2026-0007", referral=False)
    # One who talked to the bot 1:1 (Teams gave their email) is invited, alone.
    known_person = TeamsUser(scene.bot.url, scene.connector, scene.admin.session, name="Kim")
    scene.connector.profiles[known_person.user_id] = {
        "name": "Kim",
        "email": "kim@school.example",
        "userPrincipalName": "kim@school.example",
        "aadObjectId": known_person.aad_id,
    }
    await known_person.say("hello")
    await scene.bot.settle()
    known = await ended_session(
        scene, "S-2026-0008", referral=False, participants=((known_person.aad_id, "Kim"),)
    )
    await due_now(scene)

    by_hand_only = desk_card(scene, "S-2026-0007")
    assert "S-2026-0007 (Think Space, held 24 November 2026)" in card_text(by_hand_only)
    assert verbs_on(by_hand_only) == ["further_by_hand", "further_not_needed"]
    assert "I do not know the email of anyone who took part" in card_text(by_hand_only)
    assert (await stored(scene, unknown)).referral_id is None  # type: ignore[union-attr]

    card = desk_card(scene, "S-2026-0008")
    assert "further_book" in verbs_on(card)
    await press(scene.admin, "further_book", card, day="2027-03-09", time="13:00")
    await scene.bot.settle()
    (event,) = graph.events.values()
    assert {a["emailAddress"]["address"] for a in event["attendees"]} == {"kim@school.example"}
    assert event["subject"] == "Further reflection: S-2026-0008"
    assert (await stored(scene, known)).state == "booked"  # type: ignore[union-attr]


async def test_the_retention_purge_keeps_the_outcome_and_erases_the_rest(desk: Scene) -> None:
    scene = desk
    session_id = await ended_session(scene, "S-2026-0009", referral=False)
    await due_now(scene)
    card = desk_card(scene, "S-2026-0009")
    await press(scene.admin, "further_by_hand", card, day="2027-03-09", time="13:00", link=JOIN)
    await scene.bot.settle()
    row = await stored(scene, session_id)
    assert row is not None and row.card_id and row.join_url and row.decided_by_id

    scene.clock.set(utc(2027, 12, 1, 10, 0))  # a year after the session: its case is purged
    await scene.bot.settle()
    row = await stored(scene, session_id)
    assert row is not None and row.state == "booked" and str(row.due_on) == "2027-02-24"
    assert row.card_id is None and row.join_url is None and row.problem is None
    assert row.decided_by_id is not None and row.decided_by_id.startswith(PREFIX)
