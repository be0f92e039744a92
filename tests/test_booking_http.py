"""Finding times and booking Teams meetings through Graph, from the triage card.

The real bot and the real msgraph-sdk client talk to a loopback Graph (tests.support.graph)
and a loopback Bot Connector; only Graph's token is fixed (MSAL cannot reach loopback).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from tests.support.client import card_text, cards_in, nodes
from tests.support.connector import FakeConnector
from tests.support.graph import BusyItem, Failure, FakeGraph, FixedTokenCredential
from tests.support.referral_steps import NARRATIVE
from tests.support.triage import (
    FACILITATOR,
    MESSAGE,
    Scene,
    accept,
    press,
    shown,
    triage_scene,
    verbs_on,
    version_of,
)

ORGANISER = "5b0a3c2e-7d41-4f6a-9e83-0c1d2e3f4a5b"  # the organiser mailbox's Entra object id
APP_ID = "8f7e2c1a-0000-4000-8000-00000000c0de"  # the app's id in the org catalog
PAT = "pat@oak.example"  # the invitee the referral steps name
JO = FACILITATOR["email"]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def for_it(card: dict[str, Any]) -> str:
    """The technical text on the card: hidden, each behind a "Details for your IT team"
    toggle (business support sees what to do; IT sees what Graph said)."""
    toggles = [n for n in nodes(card) if n.get("type") == "Action.ToggleVisibility"]
    assert toggles and all(t["title"] == "Details for your IT team" for t in toggles)
    targets = {target for toggle in toggles for target in toggle["targetElements"]}
    hidden = [n for n in nodes(card) if n.get("id") in targets]
    assert len(hidden) == len(targets) and all(n["isVisible"] is False for n in hidden)
    return "\n".join(n["text"] for n in hidden)


def seen(card: dict[str, Any]) -> str:
    """The card's text as shown before any toggle is pressed."""
    return card_text(_without_hidden(card))


def _without_hidden(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_hidden(v) for k, v in node.items() if not _hidden(v)}
    if isinstance(node, list):
        return [_without_hidden(item) for item in node if not _hidden(item)]
    return node


def _hidden(node: Any) -> bool:
    return isinstance(node, dict) and node.get("isVisible") is False


def slot_values(card: dict[str, Any]) -> list[str]:
    """The values of the time choices on a Schedule panel, in order."""
    (choices,) = [n for n in nodes(card) if n.get("id") == "slot"]
    return [choice["value"] for choice in choices["choices"]]


@dataclass
class Booking:
    scene: Scene
    graph: FakeGraph
    opened_in: list[str]  # meeting chats where Teams told the bot it was installed

    async def accepted(self) -> str:
        """A referral accepted for Jo; with Graph, the search for times starts at once."""
        reference = await self.scene.refer()
        await accept(self.scene.admin, reference, version_of(self.desk(reference)))
        await self.scene.bot.settle()
        return reference

    async def booked_at_first_time(self) -> tuple[str, str]:
        """A referral accepted and booked at the first time offered, and its event's id."""
        reference = await self.accepted()
        await self.book(reference, slot="0")
        (event_id,) = self.graph.events
        return reference, event_id

    def desk(self, reference: str) -> dict[str, Any]:
        return self.scene.desk_card(reference)

    async def book(self, reference: str, **inputs: Any) -> dict[str, Any]:
        version = version_of(self.desk(reference))
        form = await press(self.scene.admin, "triage_schedule_form", reference, version)
        assert "Book" in [a["title"] for a in form["value"]["actions"]]
        if str(inputs.get("slot", "")).isdigit():  # the n-th time offered, as Teams sends it
            inputs["slot"] = slot_values(form["value"])[int(inputs["slot"])]
        done = await press(self.scene.admin, "triage_schedule", reference, version, **inputs)
        await self.scene.bot.settle()
        return done

    def to_person(self, conversation: str) -> list[str]:
        return [card_text(card) for card in cards_in(self.scene.connector.sent_to(conversation))]

    def referrer_cards(self) -> list[str]:
        return self.to_person(self.scene.practitioner.conversation_id)

    def facilitator_cards(self) -> list[str]:
        chats = dict.fromkeys(c["id"] for c in self.scene.connector.created)
        return [text for chat in chats for text in self.to_person(chat)]


@pytest.fixture
async def booking(
    database_url: str,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    graph: FakeGraph,
) -> AsyncIterator[Booking]:
    async with triage_scene(
        database_url,
        connector,
        http,
        graph_organiser=ORGANISER,
        graph_client_secret="not used: the credential below gives the token",
        graph_endpoint=graph.endpoint,
        graph_credential=FixedTokenCredential(),
        teams_app_catalog_id=APP_ID,
    ) as scene:
        await scene.register_desk()
        opened: list[str] = []

        async def teams_tells_the_bot(chat: str) -> None:
            # What Teams does once Graph has installed the app: a conversationUpdate in the
            # meeting's chat, with the bot among the members added.
            await scene.in_chat("Organiser", chat).install()
            opened.append(chat)

        graph.on_install = teams_tells_the_bot
        yield Booking(scene, graph, opened)


def busy_jo_tuesday_pat_wednesday_morning(graph: FakeGraph) -> None:
    # Mon 23 Nov 2026 10:00 UTC is "now"; times are searched from a day later.
    graph.busy[JO] = [BusyItem(utc(2026, 11, 24, 0), utc(2026, 11, 25, 0))]
    graph.busy[PAT] = [BusyItem(utc(2026, 11, 25, 9), utc(2026, 11, 25, 12))]


async def test_after_accept_the_card_offers_times_and_booking_makes_one_teams_meeting(
    booking: Booking,
) -> None:
    graph, scene = booking.graph, booking.scene
    busy_jo_tuesday_pat_wednesday_morning(graph)
    reference = await booking.accepted()

    # getSchedule asked for Jo and Pat through the organiser mailbox, in UTC.
    asked = graph.calls("POST", "/calendar/getSchedule")
    assert len(asked) == 1 and ORGANISER in asked[0].path
    body = {k.lower(): v for k, v in asked[0].body.items()}
    assert sorted(body["schedules"]) == sorted([JO, PAT])
    assert body["starttime"]["timeZone"] == "UTC"

    # Best first, one per day: Wednesday noon (Pat free by then), Thursday and Friday 09:30.
    desk = card_text(booking.desk(reference))
    assert "Free times found" in desk
    assert "Wed 25 Nov 12:00-12:45 (2 of 2 free)" in desk
    assert "Thu 26 Nov 09:30-10:15 (2 of 2 free)" in desk
    assert "Fri 27 Nov 09:30-10:15 (2 of 2 free)" in desk
    assert "Tue 24 Nov" not in desk  # Jo, the facilitator, is busy all Tuesday
    assert "triage_find_times" in verbs_on(booking.desk(reference))
    # Jo is shown the same times in her 1:1 chat, to say which suits.
    assert any(f"Times found for {reference}" in text for text in booking.facilitator_cards())

    done = await booking.book(reference, slot="0")
    assert "Booking the Teams meeting" in shown(done)

    # One event on the organiser's calendar, shaped as Graph's documentation has it.
    created = graph.calls("POST", "/events")
    assert len(created) == 1
    event = created[0].body
    assert event["isOnlineMeeting"] is True
    assert event["onlineMeetingProvider"] == "teamsForBusiness"
    assert event["transactionId"] == f"{reference}-v2"
    assert event["start"] == {"dateTime": "2026-11-25T12:00:00", "timeZone": "Europe/London"}
    assert event["end"] == {"dateTime": "2026-11-25T12:45:00", "timeZone": "Europe/London"}
    assert {a["emailAddress"]["address"] for a in event["attendees"]} == {JO, PAT}
    assert {a["type"] for a in event["attendees"]} == {"required"}
    assert reference in event["subject"] and reference in event["body"]["content"]
    # The reference and the purpose only: nothing of the narrative reaches Outlook.
    assert event["body"]["contentType"] == "html"
    for case_detail in ("Child A", "CS-1234", NARRATIVE["help_wanted"]):
        assert case_detail not in str(event)

    # The chat was found by the join URL, and the app installed in it with its chat RSC.
    (meeting,) = graph.online_meetings.values()
    chat = meeting["chatInfo"]["threadId"]
    lookups = graph.calls("GET", "/onlineMeetings")
    assert lookups[0].query["$filter"] == f"JoinWebUrl eq '{meeting['joinWebUrl']}'"
    ((installed_in, install),) = graph.installations
    assert installed_in == chat
    assert install["teamsApp@odata.bind"].endswith(f"/appCatalogs/teamsApps/{APP_ID}")
    consented = install["consentedPermissionSet"]["resourceSpecificPermissions"]
    assert {p["permissionValue"] for p in consented} == {
        "OnlineMeeting.ReadBasic.Chat",
        "OnlineMeetingParticipant.Read.Chat",
    }

    # Installed, Teams told the bot, and the bot posted its opening card in the meeting chat.
    assert booking.opened_in == [chat]
    opening = [card_text(c) for c in cards_in(scene.connector.sent_to(chat))]
    assert len(opening) == 1
    assert f"This meeting is for {reference} (Space to Think)" in opening[0]
    assert "Wednesday 25 November 2026 at 12:00" in opening[0]
    assert "Start session" in opening[0]

    desk = card_text(booking.desk(reference))
    assert (
        "Session scheduled" in desk and "Teams meeting booked in Outlook. I am in its chat." in desk
    )
    assert "Cancel session" in str(booking.desk(reference))
    told = [t for t in booking.referrer_cards() if f"The session for {reference} is booked" in t]
    assert len(told) == 1 and "Wednesday 25 November 2026 at 12:00" in told[0]
    told_jo = [t for t in booking.facilitator_cards() if "is booked" in t]
    assert len(told_jo) == 1 and "I have joined the meeting's chat" in told_jo[0]

    # The job run again (a stale "Try again", as a duplicate delivery would) makes no
    # second meeting, installs nothing more and tells nobody again.
    await press(scene.admin, "triage_retry_booking", reference, version_of(booking.desk(reference)))
    await scene.bot.settle()
    assert len(graph.calls("POST", "/events")) == 1  # the stored event id is used
    assert len(graph.events) == 1 and len(graph.installations) == 1
    assert len([t for t in booking.referrer_cards() if "is booked" in t]) == 1


async def test_the_facilitator_is_reminded_the_working_day_before_and_just_before(
    booking: Booking,
) -> None:
    scene = booking.scene
    reference = await booking.accepted()
    # Monday 30 November at 13:00 London (UTC in winter): the day before is Friday 27th.
    await booking.book(reference, slot="other", day="2026-11-30", time="13:00")

    def reminded(text: str) -> int:
        return sum(text in card for card in booking.facilitator_cards())

    scene.clock.set(utc(2026, 11, 27, 8, 59))
    await scene.bot.settle()
    assert reminded("Reminder: you facilitate") == 0
    scene.clock.set(utc(2026, 11, 27, 9, 0))
    await scene.bot.settle()
    assert reminded(f"Reminder: you facilitate {reference} on Monday 30 November") == 1
    scene.clock.set(utc(2026, 11, 30, 12, 44))
    await scene.bot.settle()
    assert reminded(f"{reference} starts at 13:00") == 0
    scene.clock.set(utc(2026, 11, 30, 12, 45))
    await scene.bot.settle()
    assert reminded(f"{reference} starts at 13:00") == 1
    await scene.bot.settle()
    assert reminded(f"{reference} starts at 13:00") == 1


async def test_throttling_is_waited_out_and_the_meeting_is_made_once(booking: Booking) -> None:
    graph = booking.graph
    reference = await booking.accepted()
    graph.fail_for("/events", Failure(429, {"Retry-After": "1"}))
    await booking.book(reference, slot="0")
    created = graph.calls("POST", "/events")
    assert [r.body["transactionId"] for r in created] == [f"{reference}-v2"] * 2
    assert created[1].at - created[0].at >= 1.0  # msgraph's retry handler honoured it
    assert len(graph.events) == 1
    assert "Teams meeting booked in Outlook" in card_text(booking.desk(reference))


async def test_a_refusal_tells_the_admin_which_permission_and_try_again_books(
    booking: Booking,
) -> None:
    graph, scene = booking.graph, booking.scene
    reference = await booking.accepted()
    graph.fail_for("/events", Failure(403))
    await booking.book(reference, slot="0")
    desk = booking.desk(reference)
    # Business support reads what to do; what Graph said is for IT, behind a toggle.
    assert "The Teams meeting is not booked" in seen(desk) and "Try booking again" in seen(desk)
    assert "Graph" not in seen(desk) and "Calendars.ReadWrite" not in seen(desk)
    assert "Graph refused to create the meeting" in for_it(desk)
    assert "Calendars.ReadWrite" in for_it(desk) and ORGANISER in for_it(desk)
    assert "triage_retry_booking" in verbs_on(desk)
    assert not any("is booked" in t for t in booking.referrer_cards())  # nobody told yet

    # The permission is granted; Try again books with the same transaction id.
    again = await press(scene.admin, "triage_retry_booking", reference, version_of(desk))
    assert "Trying again" in shown(again)
    await scene.bot.settle()
    created = graph.calls("POST", "/events")
    assert (
        len(created) == 2 and created[0].body["transactionId"] == created[1].body["transactionId"]
    )
    assert len(graph.events) == 1
    assert "Teams meeting booked in Outlook" in card_text(booking.desk(reference))
    assert len([t for t in booking.referrer_cards() if "is booked" in t]) == 1


async def test_an_app_already_in_the_chat_counts_as_installed(booking: Booking) -> None:
    graph = booking.graph
    reference = await booking.accepted()
    graph.fail_for("/installedApps", Failure(409))
    await booking.book(reference, slot="0")
    assert graph.installations == []  # Graph said 409: it was there already
    assert "I am in its chat." in card_text(booking.desk(reference))


async def test_a_lost_answer_after_the_event_is_made_retries_without_a_second_meeting(
    booking: Booking,
) -> None:
    """Graph makes the event but its answers are lost (as if the bot crashed before storing
    the id). The job runs again later with the stored transaction id; meanwhile the admin
    has moved the session, and the event Graph hands back is moved to the new time."""
    graph, scene = booking.graph, booking.scene
    reference = await booking.accepted()
    graph.lose_create_answers = 4  # the first try and msgraph's three retries
    await booking.book(reference, slot="0")
    assert len(graph.events) == 1 and len(graph.calls("POST", "/events")) == 4
    assert "Booking the Teams meeting" in card_text(booking.desk(reference))
    assert not any("is booked" in t for t in booking.referrer_cards())

    await booking.book(reference, slot="other", day="2026-12-03", time="10:00")
    scene.clock.advance(seconds=31)
    await scene.bot.settle()
    (event,) = graph.events.values()  # still one meeting
    assert {r.body["transactionId"] for r in graph.calls("POST", "/events")} == {f"{reference}-v2"}
    assert event["start"] == {"dateTime": "2026-12-03T10:00:00", "timeZone": "UTC"}
    desk = card_text(booking.desk(reference))
    assert "Teams meeting booked in Outlook" in desk and "3 Dec 2026 10:00" in desk
    told = [t for t in booking.referrer_cards() if "is booked" in t]
    assert len(told) == 1 and "Thursday 3 December 2026 at 10:00" in told[0]


async def test_rescheduling_moves_the_event_and_cancelling_cancels_it(booking: Booking) -> None:
    graph, scene = booking.graph, booking.scene
    reference, event_id = await booking.booked_at_first_time()

    await booking.book(reference, slot="other", day="2026-12-02", time="14:00")
    (moved,) = graph.calls("PATCH", f"/events/{event_id}")
    assert moved.body["start"] == {"dateTime": "2026-12-02T14:00:00", "timeZone": "UTC"}
    assert "This session has moved to Wednesday 2 December 2026 at 14:00" in str(moved.body)
    assert graph.events[event_id]["isOnlineMeeting"] is True  # the Teams blob was kept
    assert len(graph.calls("POST", "/events")) == 1
    told = [t for t in booking.referrer_cards() if "is booked" in t]
    assert len(told) == 2 and "Wednesday 2 December 2026 at 14:00" in told[-1]

    desk = booking.desk(reference)
    form = await press(scene.admin, "triage_cancel_form", reference, version_of(desk))
    assert "Message to the people invited" in shown(form)
    too_long = await press(
        scene.admin, "triage_cancel", reference, version_of(desk), note="x" * 301
    )
    assert "300 characters" in shown(too_long) and event_id in graph.events
    done = await press(
        scene.admin, "triage_cancel", reference, version_of(desk), note="The family moved."
    )
    assert "Cancelled." in shown(done)
    await scene.bot.settle()
    assert graph.cancelled == {event_id: "The family moved."}
    desk_text = card_text(booking.desk(reference))
    assert "Accepted" in desk_text and "Teams meeting booked" not in desk_text
    assert any(f"The session for {reference} is cancelled" in t for t in booking.referrer_cards())
    assert any(
        f"The session for {reference} is cancelled" in t for t in booking.facilitator_cards()
    )

    # The reminders made for the cancelled session are dropped when they fall due.
    scene.clock.set(utc(2026, 12, 2, 13, 50))
    await scene.bot.settle()
    assert not any("starts at" in t or "Reminder:" in t for t in booking.facilitator_cards())


async def test_an_event_deleted_in_outlook_is_booked_again_on_reschedule(
    booking: Booking,
) -> None:
    graph = booking.graph
    reference = await booking.accepted()
    await booking.book(reference, slot="0")
    (first,) = list(graph.events)
    del graph.events[first]  # someone deleted it in Outlook
    await booking.book(reference, slot="other", day="2026-12-03", time="10:00")
    assert len(graph.calls("POST", "/events")) == 2
    (second,) = list(graph.events)
    assert second != first
    assert "Teams meeting booked in Outlook" in card_text(booking.desk(reference))


async def test_unreadable_calendars_are_not_counted_free_and_bad_choices_are_refused(
    booking: Booking,
) -> None:
    graph, scene = booking.graph, booking.scene
    graph.unknown_schedules.add(PAT)
    reference = await booking.accepted()
    desk = card_text(booking.desk(reference))
    assert "(1 of 1 free)" in desk
    assert "1 calendar could not be read" in desk

    version = version_of(booking.desk(reference))
    missing = await press(scene.admin, "triage_schedule", reference, version, slot="other")
    assert "Please give the date and the time" in shown(missing)
    gone = await press(scene.admin, "triage_schedule", reference, version, slot="7")
    assert "Those times have changed" in shown(gone)
    past = await press(
        scene.admin, "triage_schedule", reference, version, slot="other", day="2026-11-20",
        time="10:00",
    )  # fmt: skip
    assert "That time has passed" in shown(past)
    assert graph.calls("POST", "/events") == []


async def test_a_search_that_graph_refuses_says_why_and_find_times_tries_again(
    booking: Booking,
) -> None:
    graph, scene = booking.graph, booking.scene
    graph.fail_for("/getSchedule", Failure(403))
    reference = await booking.accepted()
    desk = booking.desk(reference)
    assert "I could not look for free times in the calendars. Press Find times" in seen(desk)
    assert "Graph" not in seen(desk)
    assert "Graph refused to read free/busy" in for_it(desk)
    started = time.monotonic()
    again = await press(scene.admin, "triage_find_times", reference, version_of(desk))
    assert "Looking at the calendars" in shown(again)
    assert time.monotonic() - started < 5  # the search runs in the background
    await scene.bot.settle()
    assert "Free times found" in card_text(booking.desk(reference))


async def test_without_graph_the_card_offers_no_find_times(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with triage_scene(database_url, connector, http) as scene:
        await scene.register_desk()
        reference = await scene.refer()
        await accept(scene.admin, reference, version_of(scene.desk_card(reference)))
        await scene.bot.settle()
        card = scene.desk_card(reference)
        assert "triage_find_times" not in verbs_on(card)
        form = await press(scene.admin, "triage_schedule_form", reference, version_of(card))
        assert "Teams meeting join link" in shown(form)
        assert "Book" not in [a["title"] for a in form["value"]["actions"]]


async def test_withdrawing_a_booked_referral_cancels_the_meeting_without_the_internal_note(
    booking: Booking,
) -> None:
    graph, scene = booking.graph, booking.scene
    reference, event_id = await booking.booked_at_first_time()
    version = version_of(booking.desk(reference))
    await press(
        scene.admin,
        "triage_withdraw",
        reference,
        version,
        why="duplicate",
        note="Duplicate of RP-2026-0099",
    )
    await scene.bot.settle()
    assert event_id in graph.cancelled and "RP-2026-0099" not in graph.cancelled[event_id]
    assert f"{reference} has been cancelled" in graph.cancelled[event_id]
    assert "Teams meeting booked" not in card_text(booking.desk(reference))


async def test_a_facilitator_whose_calendar_is_unread_is_flagged_on_the_card(
    booking: Booking,
) -> None:
    booking.graph.unknown_schedules.add(JO)
    reference = await booking.accepted()
    desk = card_text(booking.desk(reference))
    assert "Jo Facilitator's calendar was not checked" in desk
    assert "(1 of 1 free)" in desk  # Pat's calendar still counts


async def test_a_referrer_the_bot_knows_is_asked_about_and_invited(booking: Booking) -> None:
    """Teams gave the bot the referrer's email when they first wrote to it (bot.teams.people)."""
    scene, graph = booking.scene, booking.graph
    referrer = scene.practitioner
    scene.connector.profiles[referrer.user_id] = {
        "name": referrer.name,
        "aadObjectId": referrer.aad_id,
        "email": "sam.referrer@hv.example",
        "userPrincipalName": "sam.referrer@hv.example",
    }
    graph.busy["sam.referrer@hv.example"] = [BusyItem(utc(2026, 11, 25, 0), utc(2026, 11, 26, 0))]
    reference = await booking.accepted()
    (asked,) = graph.calls("POST", "/calendar/getSchedule")
    schedules = {k.lower(): v for k, v in asked.body.items()}["schedules"]
    assert "sam.referrer@hv.example" in schedules
    desk = card_text(booking.desk(reference))
    # Everyone is free on three other days, so Wednesday (the referrer busy) is not offered.
    assert "Wed 25 Nov" not in desk
    assert "Tue 24 Nov 10:30-11:15 (3 of 3 free)" in desk  # a day ahead at least
    assert "Fri 27 Nov 09:30-10:15 (3 of 3 free)" in desk

    await booking.book(reference, slot="0")
    (created,) = graph.calls("POST", "/events")
    invited = {a["emailAddress"]["address"] for a in created.body["attendees"]}
    assert invited == {"sam.referrer@hv.example", JO, PAT}


async def test_a_refused_cancellation_says_why_once_and_try_again_cancels(
    booking: Booking,
) -> None:
    graph, scene = booking.graph, booking.scene
    reference, event_id = await booking.booked_at_first_time()
    graph.fail_for("/cancel", Failure(403))
    await press(scene.admin, "triage_cancel", reference, version_of(booking.desk(reference)))
    for _ in range(3):
        await scene.bot.settle()
    assert len(graph.calls("POST", "/cancel")) == 1  # no loop against Graph
    desk = booking.desk(reference)
    assert "I could not cancel the Teams meeting in Outlook" in seen(desk)
    assert "Graph" not in seen(desk)
    assert "Graph refused to cancel the meeting" in for_it(desk)
    assert "triage_retry_booking" in verbs_on(desk)
    assert "Try again" in [a["title"] for a in desk["actions"]]
    again = await press(scene.admin, "triage_retry_booking", reference, version_of(desk))
    assert "Trying again" in shown(again)
    await scene.bot.settle()
    assert event_id in graph.cancelled
    assert "could not cancel" not in card_text(booking.desk(reference))


async def test_booking_by_hand_over_a_graph_meeting_replaces_it_and_tells_people(
    booking: Booking,
) -> None:
    graph = booking.graph
    reference, event_id = await booking.booked_at_first_time()
    hand_link = (
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_SGFuZEJvb2tlZA%40thread.v2/0"
        "?context=%7b%22Tid%22%3a%22aa%22%7d"
    )
    await booking.book(reference, slot="other", day="2026-12-04", time="11:00", link=hand_link)
    assert "replaced by another one" in graph.cancelled[event_id]
    told = [t for t in booking.referrer_cards() if "is booked" in t]
    assert len(told) == 2 and "Friday 4 December 2026 at 11:00" in told[-1]
    desk = card_text(booking.desk(reference))
    assert "4 Dec 2026 11:00" in desk and "Teams meeting booked in Outlook" not in desk


async def test_stale_and_odd_presses_change_nothing_and_crash_nothing(booking: Booking) -> None:
    graph, scene = booking.graph, booking.scene
    reference = await booking.accepted()
    version = version_of(booking.desk(reference))
    form = await press(scene.admin, "triage_schedule_form", reference, version)
    first_offer = slot_values(form["value"])[0]

    # Another search finds other times (Jo is now busy then): the old choice is refused.
    graph.busy[JO] = [BusyItem(utc(2026, 11, 24, 0), utc(2026, 11, 28, 0))]
    await press(scene.admin, "triage_find_times", reference, version)
    await scene.bot.settle()
    stale = await press(scene.admin, "triage_schedule", reference, version, slot=first_offer)
    assert "Those times have changed since" in shown(stale)
    odd = await press(scene.admin, "triage_schedule", reference, version, slot="\u00b2")
    assert "Those times have changed since" in shown(odd)
    assert graph.calls("POST", "/events") == []

    await booking.book(reference, slot="0")
    version = version_of(booking.desk(reference))
    await press(scene.admin, "triage_cancel", reference, version)
    twice = await press(scene.admin, "triage_cancel", reference, version)
    assert "This referral has moved on" in shown(twice)
    await scene.bot.settle()
    assert len(graph.calls("POST", "/cancel")) == 1


async def test_a_cancellation_note_that_names_a_child_is_refused(booking: Booking) -> None:
    scene = booking.scene
    reference = await booking.accepted()
    await booking.book(reference, slot="0")
    version = version_of(booking.desk(reference))
    refused = await press(
        scene.admin, "triage_cancel", reference, version, note="Child DOB 03/04/2019 moved away"
    )
    # A message naming the box: the panel stays as the admin left it, the note not sent back.
    assert refused["type"] == MESSAGE
    assert refused["value"].startswith(
        "In \u201cMessage to the people invited\u201d this looks like it includes a date of birth"
    )
    assert "03/04/2019" not in refused["value"]
    assert version_of(booking.desk(reference)) == version  # nothing changed
    assert booking.graph.cancelled == {}


async def test_an_install_refused_still_books_and_tells_people(booking: Booking) -> None:
    graph = booking.graph
    reference = await booking.accepted()
    graph.fail_for("/installedApps", Failure(403))
    await booking.book(reference, slot="0")
    desk = seen(booking.desk(reference))
    assert "Teams meeting booked in Outlook." in desk
    assert "I could not join the meeting's chat: add me to the meeting yourself" in desk
    assert "TeamsAppInstallation" not in desk
    assert "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All" in for_it(
        booking.desk(reference)
    )
    assert len([t for t in booking.referrer_cards() if "is booked" in t]) == 1
    told_jo = [t for t in booking.facilitator_cards() if "is booked" in t]
    assert "Add me to the meeting" in told_jo[0]


async def test_a_session_moved_away_and_back_reminds_once(booking: Booking) -> None:
    scene = booking.scene
    reference = await booking.accepted()
    await booking.book(reference, slot="other", day="2026-12-01", time="13:00")
    await booking.book(reference, slot="other", day="2026-12-02", time="13:00")
    await booking.book(reference, slot="other", day="2026-12-01", time="13:00")
    scene.clock.set(utc(2026, 12, 1, 12, 46))
    await scene.bot.settle()
    soon = [t for t in booking.facilitator_cards() if f"{reference} starts at 13:00" in t]
    assert len(soon) == 1


async def test_withdrawing_a_scheduled_referral_tells_the_facilitator(booking: Booking) -> None:
    scene = booking.scene
    reference = await booking.accepted()
    await booking.book(reference, slot="0")
    version = version_of(booking.desk(reference))
    await press(scene.admin, "triage_withdraw", reference, version, why="withdrawn")
    await scene.bot.settle()
    assert any(
        f"The session for {reference} is cancelled" in t for t in booking.facilitator_cards()
    )
    closed = [t for t in booking.referrer_cards() if "has been closed" in t]
    assert len(closed) == 1
