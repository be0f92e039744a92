"""The activity envelope is checked before anything reads it (issue 12, defect 4).

Over real HTTP against the running app, with no token configured: what anyone on the
internet can reach before a token is looked at. Each body below used to be answered 500 with
a traceback, or to run a turn that failed; now it gets 400 and one short warning line.

One app serves the whole module, on SQLite only: an envelope is refused before the database
is touched, so the second engine would show nothing more.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from botbuilder.schema import Activity
from botbuilder.schema.teams import TeamsChannelData
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.teams.envelope import MAX_DEPTH, MAX_ITEMS
from tests.conftest import RunningBot, make_settings
from tests.support.client import TeamsUser, texts_in
from tests.support.connector import FakeConnector
from tests.support.databases import MigratedTemplates

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Stands for case details: it must never reach the log.
CASE_DETAIL = "Jamie, aged 7, disclosed at school"
EXAMPLES = 200


@dataclass
class Served:
    bot: RunningBot
    connector: FakeConnector
    http: aiohttp.ClientSession
    user: TeamsUser

    def activity(self, **fields: Any) -> dict[str, Any]:
        """A valid Teams message (a fresh id each time, so none is dropped as a repeat)."""
        return self.user.activity(**{"text": CASE_DETAIL, **fields})

    async def post(self, body: str) -> int:
        async with self.http.post(
            f"{self.bot.url}api/messages",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        ) as response:
            await response.read()
            return response.status


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(
    templates: MigratedTemplates, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Served]:
    connector = FakeConnector()
    await connector.start()
    async with (
        templates.sqlite(tmp_path_factory.mktemp("envelope")) as url,
        aiohttp.ClientSession() as http,
    ):
        bot = RunningBot(make_settings(url))
        await bot.start()
        try:
            yield Served(bot, connector, http, TeamsUser(bot.url, connector, http))
        finally:
            await bot.stop()
            await connector.close()


def with_raw(activity: dict[str, Any], key: str, json_text: str) -> str:
    """The activity as JSON, with `key` set to JSON text json.dumps could not write."""
    return json.dumps({**activity, key: "PLACEHOLDER"}).replace('"PLACEHOLDER"', json_text)


def assert_refused_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """One warning line from the envelope check: no traceback, no error, no content."""
    warnings = [r for r in caplog.records if r.name == "bot.teams.envelope"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].levelno == logging.WARNING
    assert len(warnings[0].getMessage()) < 120
    assert all(r.exc_info is None for r in caplog.records), caplog.text
    assert all(r.levelno < logging.ERROR for r in caplog.records), caplog.text
    assert CASE_DETAIL not in caplog.text


async def assert_refused(served: Served, body: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    caplog.set_level(logging.INFO)
    calls_before = len(served.connector.requests)

    status = await served.post(body)

    assert status == 400
    assert_refused_quietly(caplog)
    # No turn ran: a turn answers (or apologises) through the connector, and logs its failure.
    assert len(served.connector.requests) == calls_before
    assert not [r for r in caplog.records if r.name.startswith("bot.teams.errors")]


# --- the cases named in the issue ---------------------------------------------------------


async def test_json_nested_100000_deep_is_refused(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    await assert_refused(served, with_raw(served.activity(), "value", nested), caplog)


async def test_a_number_of_over_4300_digits_is_refused(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    await assert_refused(served, with_raw(served.activity(), "value", "9" * 4_301), caplog)


async def test_a_conversation_that_is_a_string_is_refused(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    await assert_refused(served, json.dumps(served.activity(conversation="a:1")), caplog)


async def test_a_timestamp_that_is_not_a_date_is_refused(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    await assert_refused(served, json.dumps(served.activity(timestamp="last Tuesday")), caplog)


async def test_an_activity_without_a_conversation_is_refused_and_runs_no_turn(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    activity = served.activity()
    del activity["conversation"]
    await assert_refused(served, json.dumps(activity), caplog)


async def test_a_lone_surrogate_outside_what_people_type_is_refused(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """A name or an id with one could be stored nowhere (neither database, nor encryption,
    takes it); in `text` and `value` it reaches the features, which name the box."""
    activity = served.activity(text="hello")
    body = json.dumps(activity).replace('"name": "', '"name": "\\ud800', 1)
    assert "\\ud800" in body
    await assert_refused(served, body, caplog)


async def test_two_tenants_in_one_conversation_are_refused(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    activity = served.activity()
    activity["conversation"]["tenantID"] = "00000000-0000-0000-0000-0000000000bb"
    await assert_refused(served, json.dumps(activity), caplog)


async def test_what_the_agents_playground_sends_is_still_answered(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """The control for the refusals above: a full envelope, every optional field set as the
    Playground and Teams set them, runs its turn and is answered."""
    caplog.set_level(logging.INFO)
    activity = served.activity(
        text="hello",
        timestamp="2026-11-24T13:00:00.1234567Z",  # .NET's seven decimals
        localTimestamp="2026-11-24T13:00:00.123+00:00",
        localTimezone="Europe/London",
        textFormat="plain",
        attachments=[],
        entities=[
            {"type": "clientInfo", "locale": "en-GB", "country": "GB", "platform": "Web"},
            {"type": "mention", "mentioned": {"id": "28:bot", "name": "Reflective practice"}},
        ],
        replyToId=None,
        value=None,
    )
    activity["from"]["role"] = "user"
    activity["recipient"]["role"] = "bot"
    activity["conversation"]["isGroup"] = False

    replies = await served.user.post(activity)

    assert served.user.last_status == 201
    assert "Hello! Here is what I can do." in texts_in(replies)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


# --- any envelope: never a 5xx, 400 for a bad one, no traceback ---------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
# botbuilder's own description of each field, by msrest type: "str", "[Entity]", "iso-8601" ...
MODELS = {**Activity._infer_class_models(), **TeamsChannelData._infer_class_models()}
ACTIVITY_FIELDS = {spec["key"]: spec["type"] for spec in Activity._attribute_map.values()}
# The six fields take half the draws; every field of the activity, the other half.
NAMED_FIELDS = ["conversation", "from", "recipient", "timestamp", "entities", "attachments"]


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def not_a(*kinds: type) -> st.SearchStrategy[Any]:
    """Any JSON value that is not null and not of these kinds (exactly: true is no int)."""
    return JSON_VALUES.filter(lambda value: value is not None and type(value) not in kinds)


def wrong_for(data_type: str) -> st.SearchStrategy[Any]:
    """A value msrest's `data_type` does not describe."""
    if data_type == "object":  # any JSON is right, up to a depth and a number of items
        too_deep = st.integers(MAX_DEPTH + 1, 300).map(nested)
        return too_deep | st.integers(MAX_ITEMS, 2 * MAX_ITEMS).map(lambda items: [0] * items)
    if data_type == "iso-8601":  # no date is written without digits
        return not_a(str) | st.text(st.characters(exclude_categories=["Nd"]))
    if data_type in ("str", "bool", "int"):
        return not_a({"str": str, "bool": bool, "int": int}[data_type])
    inner = data_type[1:-1]
    if data_type.startswith("["):
        return not_a(list) | st.lists(st.none() | wrong_for(inner), min_size=1, max_size=3)
    if data_type.startswith("{"):
        return not_a(dict) | st.dictionaries(st.text(max_size=8), wrong_for(inner), min_size=1)
    fields = {spec["key"]: spec["type"] for spec in MODELS[data_type]._attribute_map.values()}
    return not_a(dict) | st.sampled_from(sorted(fields)).flatmap(
        lambda key: wrong_for(fields[key]).map(lambda value: {key: value})
    )


ABSENT = object()


@dataclass(frozen=True)
class Case:
    """How one example changes a valid activity, and whether the result is still valid."""

    kind: str
    changes: dict[str, Any]
    valid: bool
    whole_body: Any = ABSENT  # sent instead of the activity

    def body(self, activity: dict[str, Any]) -> str:
        if self.whole_body is not ABSENT:
            return json.dumps(self.whole_body)
        changed = {**activity, **self.changes}
        return json.dumps({key: value for key, value in changed.items() if value is not ABSENT})


field_names = st.sampled_from(NAMED_FIELDS) | st.sampled_from(sorted(ACTIVITY_FIELDS))
CASES = st.one_of(
    field_names.flatmap(
        lambda key: wrong_for(ACTIVITY_FIELDS[key]).map(
            lambda value: Case(f"wrong {key}", {key: value}, valid=False)
        )
    ),
    st.sampled_from(["type", "conversation", "serviceUrl"]).map(
        lambda key: Case(f"no {key}", {key: ABSENT}, valid=False)
    ),
    # A top-level value never has "serviceUrl" (keys are drawn up to 8 characters long).
    JSON_VALUES.map(lambda value: Case("random body", {}, valid=False, whole_body=value)),
    # Fields botbuilder does not know are ignored; a message's value may be any JSON.
    st.dictionaries(
        st.text(max_size=8).filter(lambda key: key not in ACTIVITY_FIELDS), JSON_VALUES
    ).map(lambda extra: Case("unknown fields", extra, valid=True)),
    JSON_VALUES.map(lambda value: Case("free value", {"value": value}, valid=True)),
    # channelData is read as Teams' channel data (TeamsActivityHandler deserializes it).
    wrong_for("TeamsChannelData").map(
        lambda value: Case("wrong channelData", {"channelData": value}, valid=False)
    ),
)


async def test_no_envelope_gets_a_5xx_or_a_traceback(
    served: Served, caplog: pytest.LogCaptureFixture, record_property: Any
) -> None:
    caplog.set_level(logging.INFO)
    loop = asyncio.get_running_loop()
    ran: list[str] = []

    async def check(case: Case) -> None:
        caplog.clear()
        status = await served.post(case.body(served.activity()))
        assert status < 500, case
        assert all(r.exc_info is None for r in caplog.records), caplog.text
        assert all(r.levelno < logging.ERROR for r in caplog.records), caplog.text
        assert CASE_DETAIL not in caplog.text
        if case.valid:
            assert status == 201, case
        else:
            assert status == 400, case
            assert_refused_quietly(caplog)

    # Hypothesis drives from a thread; every example runs on this loop, against one app.
    @settings(max_examples=EXAMPLES, deadline=None, database=None)
    @given(case=CASES)
    def one_example(case: Case) -> None:
        ran.append(case.kind.split()[0])
        asyncio.run_coroutine_threadsafe(check(case), loop).result()

    await asyncio.to_thread(one_example)
    print(f"\n{len(ran)} envelopes posted: {dict(Counter(ran))}")
    record_property("examples", len(ran))
    assert len(ran) >= EXAMPLES


@pytest.mark.parametrize(
    ("fields"),
    [
        {"type": "conversationUpdate", "channelData": []},
        {"type": "conversationUpdate", "channelData": {"team": "x"}},
        {"type": "conversationUpdate", "channelData": {"meeting": "x"}},
        {"type": "event", "name": "application/vnd.microsoft.meetingEnd", "value": "x"},
        {
            "type": "event",
            "name": "application/vnd.microsoft.meetingParticipantJoin",
            "value": {"members": "x"},
        },
    ],
    ids=["channel-data-list", "team-text", "meeting-text", "end-text", "join-members-text"],
)
async def test_teams_parts_of_the_wrong_shape_are_refused(
    served: Served, caplog: pytest.LogCaptureFixture, fields: dict[str, Any]
) -> None:
    """TeamsActivityHandler reads channelData and a meeting event's value without a check:
    each of these failed its turn with a traceback (answered 201)."""
    await assert_refused(served, json.dumps(served.activity(**fields)), caplog)
