"""Traces leave the bot, and nothing personal is in them.

The bot runs as a real process (so `app.main` configures telemetry) and exports to a loopback
collector (tests/support/otlp_collector.py). A referral goes through it with planted markers
in every free-text box, in the names, emails and Entra object ids of everyone involved, in the
conversation ids and the tenant id; it is triaged, times are found and a Teams meeting booked
through a loopback Graph (the real msgraph-sdk, whose kiota layer traces full URLs of its
own). Then the process is stopped with SIGTERM, which flushes the exporter, and the spans are
checked: the turns, Bot Connector and Graph calls, outbox deliveries and scheduler jobs are
there; no marker is in any span name, attribute, event or resource, nor in the log.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest

from bot.core.telemetry import SCOPE
from tests.support.client import TeamsUser, card_text, cards_in, nodes
from tests.support.connector import Failure, FakeConnector
from tests.support.databases import TEST_KEY
from tests.support.graph import TOKEN, FakeGraph
from tests.support.identity_endpoint import Issue, LoopbackIdentityEndpoint
from tests.support.otlp_collector import CollectedSpan, Collector
from tests.support.process import BotProcess
from tests.support.referral_steps import KIND, MODEL_STT, NO_RISK, SUBMIT
from tests.support.triage import CARD, version_of

TENANT = "7e3a9c1d-5b2f-4e8a-9d6c-3f1e00a7c0de"
PRACTITIONER = {
    "name": "Quilla Tracemarker",
    "aad": "9f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e51",
    "user_id": "29:tracemarker-user-id",
    "conversation": "a:tracemarker-conversation",
    "email": "quilla.tracemarker@nhs.example",
}
ADMIN = {
    "name": "Alys Tracemarker-Admin",
    "aad": "a7d3c5e1-2b4f-4a6c-9e8d-7f6e5d4c3b21",
}
DESK = "19:tracemarker-desk@thread.tacv2"
FACILITATOR = {
    "name": "Fen Tracemarker-Facilitator",
    "aad_object_id": "f4e3d2c1-b0a9-4877-a665-544332211f0e",
    "email": "fen.tracemarker@example.org",
}
MANAGER = ("Mira Tracemarker-Manager", "mira.tracemarker@nhs.example")
INVITEE = ("Ivo Tracemarker-Invitee", "ivo.tracemarker@oak.example")
ORGANISER = "0c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"  # the organiser mailbox's Entra object id
APP_CATALOG_ID = "8f7e2c1a-0000-4000-8000-00000000c0de"
ERROR_TEXT = "tracemarker-said-in-an-error"  # in a Bot Connector error body
ACTIVITIES = "/v3/conversations/{id}/activities"
IDENTITY_ID = str(uuid.uuid4())  # the user-assigned identity the bot signs in to Graph as


def marker(box: str) -> str:
    return f"tracemarker-{box}-7f3a"


NARRATIVE = {
    "verb": "narrative",
    "what_is_stuck": f"Child A: {marker('stuck')}",
    "help_wanted": f"Space to think: {marker('help')}",
}
ABOUT = {
    "verb": "about",
    "agency": "Health Visiting",
    "role": f"Health visitor {marker('role')}",
    "is_lead_professional": "no",
    "manager_agreed": "yes",
    "manager_name": MANAGER[0],
    "manager_email": MANAGER[1],
}
INVITEES = {
    "verb": "invitees",
    "op": "done",
    "name_1": INVITEE[0],
    "agency_1": f"Oak School {marker('agency')}",
    "email_1": INVITEE[1],
}
TIMING = {"verb": "timing", "availability": f"Tuesdays {marker('availability')}", "urgency": "soon"}

PERSONAL = [
    TENANT,
    DESK,
    *PRACTITIONER.values(),
    *ADMIN.values(),
    *FACILITATOR.values(),
    *MANAGER,
    *INVITEE,
    ORGANISER,
    *(marker(box) for box in ("stuck", "help", "role", "agency", "availability")),
]


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def until(condition: Callable[[], bool], what: str, log: Path, within: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, f"{what}: not within {within} s\n{tail(log)}"
        await asyncio.sleep(0.1)


def desk_cards(connector: FakeConnector, reference: str) -> list[dict[str, Any]]:
    return [
        card
        for card in cards_in(connector.sent_to(DESK) + connector.updates_to(DESK))
        if f"Referral {reference}" in card_text(card)
    ]


async def press(user: TeamsUser, verb: str, reference: str, version: int, **inputs: Any) -> Any:
    body = await user.invoke(verb, {"reference": reference, "version": version, **inputs})
    assert user.last_status == 200, body
    return body


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    made = Collector()
    await made.start()
    yield made
    await made.close()


@pytest.fixture
def identity() -> Iterator[LoopbackIdentityEndpoint]:
    """The host's managed identity endpoint: the bot signs in to Graph through it."""
    endpoint = LoopbackIdentityEndpoint({IDENTITY_ID})
    endpoint.start()
    yield endpoint
    endpoint.stop()


def environment(sqlite_url: str, connector: FakeConnector, **more: str) -> dict[str, str]:
    return {
        "DATABASE_URL": sqlite_url,
        "ENCRYPTION_KEYS": TEST_KEY,
        "MODE": "development",
        "MICROSOFT_APP_ID": "",
        "ADMIN_IDS": ADMIN["aad"],
        "FACILITATORS": json.dumps([FACILITATOR]),
        "GRAPH_ORGANISER": "",
        "SCHEDULER_INTERVAL_SECONDS": "0.5",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # milliseconds
        **more,
    }


def practitioner(
    bot: BotProcess, connector: FakeConnector, http: aiohttp.ClientSession
) -> TeamsUser:
    user = TeamsUser(
        bot.url,
        connector,
        http,
        name=PRACTITIONER["name"],
        tenant=TENANT,
        aad_id=PRACTITIONER["aad"],
        conversation_id=PRACTITIONER["conversation"],
    )
    user.user_id = PRACTITIONER["user_id"]
    # What Teams tells the bot about them when it asks (their email).
    connector.profiles[user.user_id] = {
        "name": PRACTITIONER["name"],
        "email": PRACTITIONER["email"],
        "userPrincipalName": PRACTITIONER["email"],
        "aadObjectId": PRACTITIONER["aad"],
    }
    return user


def admin(bot: BotProcess, connector: FakeConnector, http: aiohttp.ClientSession) -> TeamsUser:
    return TeamsUser(
        bot.url,
        connector,
        http,
        name=ADMIN["name"],
        tenant=TENANT,
        aad_id=ADMIN["aad"],
        conversation_type="channel",
        conversation_id=DESK,
    )


async def refer(user: TeamsUser) -> str:
    await user.say("refer")
    for step in (NO_RISK, KIND, MODEL_STT, NARRATIVE, ABOUT, INVITEES, TIMING):
        await user.press(step)
    sent = await user.press(SUBMIT)
    found = re.search(r"RP-\d{4}-\d{4}", "\n".join(card_text(c) for c in cards_in(sent)))
    assert found is not None, sent
    return found.group(0)


def leaks(texts: dict[str, str], secrets: list[str]) -> dict[str, list[str]]:
    """Which secrets each text holds (case-insensitive), also once or twice URL-decoded."""
    readable = {
        where: "\n".join((text, unquote(text), unquote(unquote(text)))).lower()
        for where, text in texts.items()
    }
    found = {
        where: [secret for secret in secrets if secret.lower() in text]
        for where, text in readable.items()
    }
    return {where: held for where, held in found.items() if held}


def one(spans: list[CollectedSpan], what: str) -> CollectedSpan:
    assert spans, f"no {what} span"
    return spans[0]


async def test_traces_arrive_and_hold_nothing_personal(
    sqlite_url: str,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    connector: FakeConnector,
    graph: FakeGraph,
    collector: Collector,
    identity: LoopbackIdentityEndpoint,
) -> None:
    graph_host = "https://127.0.0.1"  # the token's resource: the Graph endpoint's host
    identity.issue(graph_host, Issue(TOKEN))
    log = tmp_path / "bot.log"
    bot = BotProcess(
        environment(
            sqlite_url,
            connector,
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
            GRAPH_ORGANISER=ORGANISER,
            GRAPH_USE_MANAGED_IDENTITY="true",
            GRAPH_CLIENT_ID=IDENTITY_ID,
            GRAPH_ENDPOINT=graph.endpoint,
            TEAMS_APP_CATALOG_ID=APP_CATALOG_ID,
            IDENTITY_ENDPOINT=identity.url,
            IDENTITY_HEADER=identity.secret,
        ),
        log,
    )
    await bot.start(http)
    try:
        desk = admin(bot, connector, http)
        await desk.say("<at>Reflective practice</at> register triage here")
        user = practitioner(bot, connector, http)
        reference = await refer(user)

        # The outbox posts the triage card; accepting it finds times through Graph ...
        await until(lambda: bool(desk_cards(connector, reference)), "the triage card", log)
        version = version_of(desk_cards(connector, reference)[-1])
        accepted = await press(
            desk,
            "triage_accept",
            reference,
            version,
            model="space_to_think",
            facilitator=FACILITATOR["aad_object_id"],
        )
        assert accepted["type"] == CARD, accepted
        await until(lambda: bool(graph.calls("POST", "/calendar/getSchedule")), "free/busy", log)

        # ... and booking the first time offered makes the meeting, finds its chat, and
        # installs the app there.
        async def times_offered() -> tuple[int, str] | None:
            version = version_of(desk_cards(connector, reference)[-1])
            form = await press(desk, "triage_schedule_form", reference, version)
            slots = [n for n in nodes(form["value"]) if n.get("id") == "slot"]
            return (version, slots[0]["choices"][0]["value"]) if slots else None

        offered = None
        for _ in range(100):
            offered = await times_offered()
            if offered is not None:
                break
            await asyncio.sleep(0.2)
        assert offered is not None, tail(log)
        version, first = offered
        await press(desk, "triage_schedule", reference, version, slot=first)
        await until(lambda: bool(graph.installations), "the app installed in the meeting", log)

        # A turn that fails on a Bot Connector error whose text quotes something.
        connector.failures_for[PRACTITIONER["conversation"]].append(
            Failure(400, body={"error": {"code": "BadArgument", "message": ERROR_TEXT}})
        )
        await user.say("help")

        # A turn inside a trace someone else started (W3C traceparent).
        caller_trace, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
        async with http.post(
            f"{bot.url}api/messages",
            json=user.activity(text="help"),
            headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
        ) as answer:
            assert answer.status == 201
        await asyncio.sleep(1.0)  # a scheduler tick or two more
    finally:
        bot.stop()  # SIGTERM: the exporter sends what it holds

    spans = collector.spans
    assert spans, tail(log)
    # Nothing personal anywhere: names, attributes, events, resources; nor in the log.
    graph_ids = [
        *graph.events,
        *graph.online_meetings,
        *(meeting["chatInfo"]["threadId"] for meeting in graph.online_meetings.values()),
    ]
    assert graph_ids
    secrets = [*PERSONAL, *graph_ids, reference, ERROR_TEXT, TOKEN]
    assert leaks({"telemetry": collector.everything()}, secrets) == {}
    assert leaks({"log": log.read_text()}, [*PERSONAL, *graph_ids]) == {}

    # Only this app's tracer: kiota's spans, with Graph's full URLs, are not exported.
    assert {span.scope for span in spans} == {SCOPE}
    assert {span.resource.get("service.name") for span in spans} == {"reflective-practice-bot"}

    message = one(collector.named("turn message"), "message turn")
    assert message.kind == "server"
    assert message.attributes["bot.activity.type"] == "message"
    assert message.attributes["bot.channel"] == "msteams"
    assert message.attributes["http.response.status_code"] == 201
    pressed = [
        s
        for s in collector.named("turn invoke adaptiveCard/action")
        if s.attributes.get("bot.card.verb") == "triage_accept"
    ]
    assert one(pressed, "accept turn").attributes["http.response.status_code"] == 200
    submitted = [s for s in collector.named("turn message") if s.attributes.get("bot.card.verb")]
    assert {s.attributes["bot.card.verb"] for s in submitted} >= {"narrative", "review"}

    in_caller_trace = [s for s in spans if s.trace_id == caller_trace]
    child = one([s for s in in_caller_trace if s.kind == "server"], "traceparent turn")
    assert child.parent_span_id == caller_span and child.name == "turn message"
    assert any(s.parent_span_id == child.span_id for s in in_caller_trace)  # its reply

    posted = one(collector.named(f"connector POST {ACTIVITIES}"), "post")
    assert posted.kind == "client"
    assert posted.attributes["url.template"] == "/v3/conversations/{id}/activities"
    assert posted.attributes["url.full"] == f"{connector.url.rstrip('/')}{ACTIVITIES}"
    assert posted.attributes["http.response.status_code"] == 200

    # The refused reply: failed, by the exception's type; its text (ERROR_TEXT) is nowhere.
    answered_400 = [s for s in spans if s.attributes.get("http.response.status_code") == 400]
    refused = one([s for s in answered_400 if s.kind == "client"], "refused reply")
    assert refused.attributes["error.type"] == "bot.teams.connector.ConnectorError"
    assert refused.status == 2  # ERROR
    assert all(s.status_message == "" for s in spans)

    card = one(
        [
            s
            for s in collector.named("outbox triage_card")
            if s.attributes["outbox.outcome"] == "sent"
        ],
        "triage card delivery",
    )
    assert card.attributes["outbox.kind"] == "triage_card"
    assert card.attributes["outbox.attempt"] == 1
    job = one(collector.named("outbox"), "outbox job")
    assert job.kind == "internal"
    assert collector.named("calendar") and collector.named("reminders")

    schedule = one(
        collector.named("graph POST /v1.0/users/{id}/calendar/getSchedule"), "getSchedule"
    )
    assert schedule.kind == "client" and schedule.attributes["http.response.status_code"] == 200
    assert collector.named("graph POST /v1.0/users/{id}/events")
    assert collector.named("graph GET /v1.0/users/{id}/onlineMeetings")
    assert collector.named("graph POST /v1.0/chats/{id}/installedApps")


async def test_with_a_connection_string_traces_go_to_application_insights_and_hold_nothing_personal(
    sqlite_url: str,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    connector: FakeConnector,
    collector: Collector,
) -> None:
    """Application Insights' exporter, given a loopback ingestion endpoint, gets the same
    spans; it wins over OTLP when both are set."""
    log = tmp_path / "bot.log"
    bot = BotProcess(
        environment(
            sqlite_url,
            connector,
            APPLICATIONINSIGHTS_CONNECTION_STRING=(
                f"InstrumentationKey={uuid.uuid4()};IngestionEndpoint={collector.url}"
            ),
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
            # The exporter's own reports to Microsoft (statsbeat, its settings service): not
            # from a test, which reaches loopback only.
            APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true",
            APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED="true",
            TMPDIR=str(tmp_path),  # where it would keep what it could not send
        ),
        log,
    )
    await bot.start(http)
    try:
        desk = admin(bot, connector, http)
        await desk.say("<at>Reflective practice</at> register triage here")
        reference = await refer(practitioner(bot, connector, http))
        await until(lambda: bool(desk_cards(connector, reference)), "the triage card", log)
    finally:
        bot.stop()

    assert [path for path, _ in collector.received if path != "/v2.1/track"] == []
    names = {
        item["data"]["baseData"].get("name")
        for item in collector.envelopes
        if item.get("data", {}).get("baseType") in ("RequestData", "RemoteDependencyData")
    }
    assert {"turn message", "outbox triage_card", "outbox"} <= names, names
    assert "POST /v3/conversations/{id}/activities" in names, names  # a Bot Connector call
    secrets = [*PERSONAL, reference]
    assert leaks({"telemetry": collector.everything()}, secrets) == {}
    assert leaks({"log": log.read_text()}, PERSONAL) == {}
