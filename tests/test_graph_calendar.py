"""The Graph calendar adapter: the real msgraph-sdk against a loopback server that answers
like Graph. Only the credential is swapped (a fixed token: MSAL cannot reach loopback)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.scheduling.calendar_port import Booked, CalendarError, FreeBusy, NewMeeting
from bot.scheduling.graph import GraphCalendar, GraphConfig, graph_calendar, graph_client
from tests.support.graph import TOKEN, BusyItem, Failure, FakeGraph, FixedTokenCredential

ORGANISER = "rp-organiser@contoso.example"
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def credential() -> FixedTokenCredential:
    return FixedTokenCredential()


@pytest.fixture
async def calendar(
    graph: FakeGraph, credential: FixedTokenCredential
) -> AsyncIterator[GraphCalendar]:
    made = GraphCalendar.with_credential(credential, ORGANISER, endpoint=graph.endpoint)
    yield made
    await made.close()


def meeting(transaction_id: str = "referral-41-session-1") -> NewMeeting:
    start = datetime(2026, 6, 15, 14, 0, tzinfo=LONDON)  # 13:00 UTC (summer time)
    return NewMeeting(
        transaction_id=transaction_id,
        subject="Think Space: reflective practice session",
        body_html="<p>Your session. Bring nothing but the case.</p>",
        start=start,
        end=start + timedelta(minutes=90),
        time_zone="Europe/London",
        attendees=[("Sam Social Worker", "sam@contoso.example"), ("", "fac@contoso.example")],
    )


# Happy paths.


@pytest.fixture
def local_time_far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Runs the test with the process in New Zealand time, so reading Graph's offset-less
    times as local time (rather than UTC) shows."""
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_far_from_utc")
async def test_free_busy_reads_busy_intervals_as_utc(
    graph: FakeGraph, calendar: GraphCalendar, credential: FixedTokenCredential
) -> None:
    hour = timedelta(hours=1)
    graph.busy["sam@contoso.example"] = [
        BusyItem(MONDAY, MONDAY + hour, "busy"),
        BusyItem(MONDAY + 2 * hour, MONDAY + 3 * hour, "tentative"),
        BusyItem(MONDAY + 4 * hour, MONDAY + 5 * hour, "free"),
        BusyItem(MONDAY + 5 * hour, MONDAY + 6 * hour, "workingElsewhere"),
        BusyItem(MONDAY + timedelta(days=2), MONDAY + timedelta(days=2) + hour, "busy"),
    ]
    graph.busy["fac@contoso.example"] = [BusyItem(MONDAY, MONDAY + 8 * hour, "oof")]
    graph.unknown_schedules.add("gone@elsewhere.example")

    # Asked in London time: the request must still say UTC.
    start = MONDAY.astimezone(LONDON)
    answer = await calendar.free_busy(
        ["Sam@contoso.example", "fac@contoso.example", "gone@elsewhere.example"],
        start,
        start + timedelta(days=1),
    )

    assert answer == [
        FreeBusy(
            "Sam@contoso.example",
            [
                (MONDAY, MONDAY + hour),
                (MONDAY + 2 * hour, MONDAY + 3 * hour),
                (MONDAY + 5 * hour, MONDAY + 6 * hour),
            ],
        ),
        FreeBusy("fac@contoso.example", [(MONDAY, MONDAY + 8 * hour)]),
    ]
    for person in answer:
        for begin, finish in person.busy:
            assert begin.utcoffset() == timedelta(0) and finish.utcoffset() == timedelta(0)
    (sent,) = graph.calls("POST", "/calendar/getSchedule")
    assert sent.path == f"/v1.0/users/{ORGANISER}/calendar/getSchedule"
    assert sent.authorization == f"Bearer {TOKEN}"
    params = {k.lower(): v for k, v in sent.body.items()}
    assert params["starttime"] == {"dateTime": "2026-03-02T09:00:00", "timeZone": "UTC"}
    assert params["endtime"] == {"dateTime": "2026-03-03T09:00:00", "timeZone": "UTC"}
    assert params["availabilityviewinterval"] == 30
    assert len(params["schedules"]) == 3
    assert credential.scopes == [("https://127.0.0.1/.default",)]


async def test_book_sends_the_documented_event_and_meeting_chat_finds_its_chat(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    booked = await calendar.book(meeting())
    assert graph.calls("GET", "/onlineMeetings") == []  # a failure there must not hide the id
    chat = await calendar.meeting_chat(booked.join_url)

    (created,) = graph.calls("POST", "/events")
    assert created.path == f"/v1.0/users/{ORGANISER}/events"
    assert created.authorization == f"Bearer {TOKEN}"
    body = created.body
    assert body["subject"] == "Think Space: reflective practice session"
    assert body["body"] == {
        "contentType": "html",
        "content": "<p>Your session. Bring nothing but the case.</p>",
    }
    assert body["start"] == {"dateTime": "2026-06-15T14:00:00", "timeZone": "Europe/London"}
    assert body["end"] == {"dateTime": "2026-06-15T15:30:00", "timeZone": "Europe/London"}
    assert body["isOnlineMeeting"] is True
    assert body["onlineMeetingProvider"] == "teamsForBusiness"
    assert body["transactionId"] == "referral-41-session-1"
    assert [(a["emailAddress"], a["type"]) for a in body["attendees"]] == [
        ({"address": "sam@contoso.example", "name": "Sam Social Worker"}, "required"),
        ({"address": "fac@contoso.example"}, "required"),
    ]

    (event,) = graph.events.values()
    join_url = event["onlineMeeting"]["joinUrl"]
    (lookup,) = graph.calls("GET", "/onlineMeetings")
    assert lookup.path == f"/v1.0/users/{ORGANISER}/onlineMeetings"
    assert lookup.query == {"$filter": f"JoinWebUrl eq '{join_url}'"}
    # Graph wants the join URL URL-encoded in the filter: its own %3A becomes %253A.
    assert lookup.raw_query.startswith("$filter=JoinWebUrl%20eq%20") and "%253A" in lookup.raw_query
    assert lookup.authorization == f"Bearer {TOKEN}"
    assert booked == Booked(
        event_id=event["id"],
        join_url=join_url,
        chat_id=None,
        start=datetime(2026, 6, 15, 13, 0, tzinfo=UTC),  # as Graph has it, in UTC
    )
    assert chat == graph.online_meetings[join_url]["chatInfo"]["threadId"]
    assert chat is not None and chat.startswith("19:meeting_")


async def test_meeting_chat_is_none_while_graph_cannot_find_the_meeting(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    graph.meetings_visible = False
    booked = await calendar.book(meeting())
    assert await calendar.meeting_chat(booked.join_url) is None
    assert booked.join_url and booked.event_id in graph.events
    graph.meetings_visible = True  # replication caught up: asking again finds it
    assert await calendar.meeting_chat(booked.join_url) is not None


async def test_move_patches_times_and_keeps_the_teams_link_in_the_body(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    booked = await calendar.book(meeting())
    later = datetime(2026, 6, 16, 10, 0, tzinfo=LONDON)

    await calendar.move(booked.event_id, later, later + timedelta(hours=1), "Moved: <Sam> is ill")

    (read,) = graph.calls("GET", "/events/")
    assert read.path == f"/v1.0/users/{ORGANISER}/events/{booked.event_id}"
    assert read.query == {"$select": "body"}
    (patch,) = graph.calls("PATCH")
    assert patch.path == f"/v1.0/users/{ORGANISER}/events/{booked.event_id}"
    assert patch.body["start"] == {"dateTime": "2026-06-16T09:00:00", "timeZone": "UTC"}
    assert patch.body["end"] == {"dateTime": "2026-06-16T10:00:00", "timeZone": "UTC"}
    content = patch.body["body"]["content"]
    assert content.startswith("<p>Moved: &lt;Sam&gt; is ill</p>")
    assert booked.join_url in content
    event = graph.events[booked.event_id]
    assert event["isOnlineMeeting"] is True and event["onlineMeeting"]["joinUrl"]


async def test_move_without_a_note_leaves_the_body_alone(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    booked = await calendar.book(meeting())

    await calendar.move(booked.event_id, MONDAY, MONDAY + timedelta(hours=1), "")

    assert graph.calls("GET", "/events/") == []
    (patch,) = graph.calls("PATCH")
    assert set(patch.body) - {"@odata.type"} == {"start", "end"}


async def test_cancel_posts_the_comment(graph: FakeGraph, calendar: GraphCalendar) -> None:
    booked = await calendar.book(meeting())

    await calendar.cancel(booked.event_id, "Cancelled: the referral was withdrawn")

    (cancel,) = graph.calls("POST", "/cancel")
    assert cancel.path == f"/v1.0/users/{ORGANISER}/events/{booked.event_id}/cancel"
    assert {k.lower(): v for k, v in cancel.body.items()} == {
        "comment": "Cancelled: the referral was withdrawn"
    }
    assert graph.cancelled == {booked.event_id: "Cancelled: the referral was withdrawn"}
    assert booked.event_id not in graph.events


async def test_install_app_posts_the_binding_then_finds_it_there(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    chat = "19:meeting_NDRiZjRiMmUt@thread.v2"

    assert await calendar.install_app(chat, "2b524e28-95ce-4c9b-9773-4a5bd6ec1770") is True
    assert await calendar.install_app(chat, "2b524e28-95ce-4c9b-9773-4a5bd6ec1770") is False

    first, second = graph.calls("POST", "/installedApps")
    assert first.path == f"/v1.0/chats/{chat}/installedApps"
    assert first.body == {
        "teamsApp@odata.bind": f"{graph.endpoint}/appCatalogs/teamsApps/"
        "2b524e28-95ce-4c9b-9773-4a5bd6ec1770"
    }
    assert first.authorization == f"Bearer {TOKEN}"
    assert graph.installed[chat] == {"2b524e28-95ce-4c9b-9773-4a5bd6ec1770"}


async def test_install_app_consents_to_the_manifest_rsc_permissions(
    graph: FakeGraph, credential: FixedTokenCredential
) -> None:
    calendar = GraphCalendar.with_credential(
        credential,
        ORGANISER,
        endpoint=graph.endpoint,
        consented_permissions=[
            "OnlineMeeting.ReadBasic.Chat",
            "OnlineMeetingParticipant.Read.Chat",
        ],
    )
    try:
        assert await calendar.install_app("19:meeting_x@thread.v2", "app-1") is True
    finally:
        await calendar.close()

    (sent,) = graph.calls("POST", "/installedApps")
    permissions = sent.body["consentedPermissionSet"]["resourceSpecificPermissions"]
    assert [(p["permissionValue"], p["permissionType"]) for p in permissions] == [
        ("OnlineMeeting.ReadBasic.Chat", "application"),
        ("OnlineMeetingParticipant.Read.Chat", "application"),
    ]
    assert credential.closed


# Throttling and outages: msgraph-core's RetryHandler waits as Retry-After says.


async def test_throttled_booking_waits_retry_after_and_makes_one_event(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    graph.fail_for("/events", Failure(429, {"Retry-After": "1"}))

    booked = await calendar.book(meeting())

    first, second = graph.calls("POST", "/events")
    assert 0.95 <= second.at - first.at < 2.5  # Retry-After, not the 3 s+ default backoff
    assert second.headers.get("Retry-Attempt") == "1"
    assert list(graph.events) == [booked.event_id]


async def test_unavailable_graph_is_retried_after_retry_after(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    graph.busy["sam@contoso.example"] = [BusyItem(MONDAY, MONDAY + timedelta(hours=1))]
    graph.fail_next(Failure(503, {"Retry-After": "1"}))

    answer = await calendar.free_busy(["sam@contoso.example"], MONDAY, MONDAY + timedelta(days=1))

    assert answer == [FreeBusy("sam@contoso.example", [(MONDAY, MONDAY + timedelta(hours=1))])]
    first, second = graph.calls("POST", "/getSchedule")
    assert 0.95 <= second.at - first.at < 2.5


async def test_throttling_that_outlasts_the_retries_says_when_to_come_back(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    # The RetryHandler's defaults: three retries after the first try.
    graph.fail_next(*[Failure(429, {"Retry-After": "1"}) for _ in range(4)])

    with pytest.raises(CalendarError) as raised:
        await calendar.cancel("AAMkAGI2TG93AAA9==", "note")

    assert len(graph.calls("POST", "/cancel")) == 4
    assert raised.value.status == 429 and raised.value.retry_after == 1
    assert raised.value.code == "ApplicationThrottled"
    assert "try again after 1 s" in raised.value.message


async def test_a_long_retry_after_is_not_waited_for_but_reported(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    # The RetryHandler gives up at once on a delay of 180 s or more.
    graph.fail_next(Failure(429, {"Retry-After": "600"}))

    with pytest.raises(CalendarError) as raised:
        await calendar.install_app("19:meeting_x@thread.v2", "app-1")

    assert len(graph.calls("POST", "/installedApps")) == 1
    assert raised.value.status == 429 and raised.value.retry_after == 600


# Errors an admin must act on.


async def test_forbidden_booking_names_the_permission_and_policy(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    graph.fail_for("/events", Failure(403))

    with pytest.raises(CalendarError) as raised:
        await calendar.book(meeting())

    assert raised.value.status == 403
    assert raised.value.code == "ErrorAccessDenied"
    assert "Calendars.ReadWrite" in raised.value.message
    assert "application access policy" in raised.value.message
    assert ORGANISER in raised.value.message
    assert graph.events == {}


async def test_forbidden_meeting_lookup_names_the_online_meetings_policy(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    graph.fail_for(
        "/onlineMeetings",
        Failure(
            403,
            body={
                "error": {
                    "code": "Forbidden",
                    "message": "No application access policy found for this app.",
                }
            },
        ),
    )

    booked = await calendar.book(meeting())
    with pytest.raises(CalendarError) as raised:
        await calendar.meeting_chat(booked.join_url)

    assert raised.value.status == 403
    assert "OnlineMeetings.Read.All" in raised.value.message
    assert "Grant-CsApplicationAccessPolicy" in raised.value.message
    assert "No application access policy found" in raised.value.message


async def test_forbidden_install_names_the_installation_permission(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    graph.fail_for("/installedApps", Failure(403))

    with pytest.raises(CalendarError) as raised:
        await calendar.install_app("19:meeting_x@thread.v2", "app-1")

    assert raised.value.status == 403
    assert "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All" in raised.value.message


async def test_cancelling_a_deleted_event_is_fine(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    await calendar.cancel("AAMkAGI2TG93AAA9==", "Cancelled")

    (cancel,) = graph.calls("POST", "/cancel")
    assert cancel.path.endswith("/events/AAMkAGI2TG93AAA9==/cancel")


async def test_moving_a_deleted_event_says_it_was_deleted(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    with pytest.raises(CalendarError) as raised:
        await calendar.move("AAMkAGI2TG93AAA9==", MONDAY, MONDAY + timedelta(hours=1), "Moved")

    assert raised.value.status == 404
    assert raised.value.code == "ErrorItemNotFound"
    assert "deleted in Outlook" in raised.value.message
    assert graph.calls("PATCH") == []


async def test_a_rejected_token_is_a_calendar_error(graph: FakeGraph) -> None:
    calendar = GraphCalendar.with_credential(
        FixedTokenCredential("expired"), ORGANISER, endpoint=graph.endpoint
    )
    try:
        with pytest.raises(CalendarError) as raised:
            await calendar.cancel("AAMkAGI2TG93AAA9==", "Cancelled")
    finally:
        await calendar.close()

    assert raised.value.status == 401
    assert raised.value.code == "InvalidAuthenticationToken"
    assert graph.requests[0].authorization == "Bearer expired"


async def test_unreachable_graph_is_a_calendar_error(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    await graph.close()

    with pytest.raises(CalendarError) as raised:
        await calendar.free_busy(["sam@contoso.example"], MONDAY, MONDAY + timedelta(days=1))

    assert raised.value.status == 0 and raised.value.code == "Unreachable"


# Crash between "event created" and "stored": the retry books the same event.


async def test_booking_again_with_the_same_transaction_id_makes_no_second_meeting(
    graph: FakeGraph, calendar: GraphCalendar
) -> None:
    first = await calendar.book(meeting("referral-7-session-2"))
    # ... the bot dies before storing `first`, restarts and books again ...
    again = await calendar.book(meeting("referral-7-session-2"))

    assert len(graph.calls("POST", "/events")) == 2
    assert len(graph.events) == 1
    assert again == first


# Construction.


async def test_close_hangs_up(graph: FakeGraph, credential: FixedTokenCredential) -> None:
    calendar = GraphCalendar.with_credential(credential, ORGANISER, endpoint=graph.endpoint)
    await calendar.free_busy(["sam@contoso.example"], MONDAY, MONDAY + timedelta(hours=1))
    assert graph.open_connections == 1  # kept alive for the next call

    await calendar.close()

    for _ in range(50):  # the server notices the hang-up on its next loop turn
        if graph.open_connections == 0:
            break
        await asyncio.sleep(0.01)
    assert graph.open_connections == 0
    assert credential.closed


def test_sign_in_needs_exactly_one_credential() -> None:
    base = GraphConfig(tenant_id="t", client_id="c", organiser=ORGANISER)
    with pytest.raises(ValueError, match="none"):
        graph_calendar(base)
    both = GraphConfig(
        tenant_id="t", client_id="c", client_secret="s", certificate_path="/x.pem", organiser="o"
    )
    with pytest.raises(ValueError, match="client_secret, certificate_path"):
        graph_calendar(both)


async def test_the_factory_builds_a_client_for_the_configured_endpoint(graph: FakeGraph) -> None:
    config = GraphConfig(
        tenant_id="00000000-0000-0000-0000-000000000001",
        client_id="00000000-0000-0000-0000-000000000002",
        client_secret="not-used",
        organiser=ORGANISER,
        endpoint=graph.endpoint,
    )
    calendar = graph_calendar(config)  # builds only: nothing is sent until a call
    await calendar.close()
    assert calendar.endpoint == graph.endpoint

    identity = graph_calendar(
        GraphConfig(tenant_id="", client_id="", use_managed_identity=True, organiser=ORGANISER)
    )
    await identity.close()
    assert identity.endpoint == "https://graph.microsoft.com/v1.0"
    assert graph.requests == []


def test_tokens_go_only_over_https_or_to_loopback(credential: FixedTokenCredential) -> None:
    with pytest.raises(ValueError, match="https"):
        graph_client(credential, "http://graph.contoso.example/v1.0")
    client = graph_client(credential, "https://graph.microsoft.us/v1.0")
    assert client.request_adapter.base_url == "https://graph.microsoft.us/v1.0"
