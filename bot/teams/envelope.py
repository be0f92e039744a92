"""The activity envelope, read and checked before anything else touches it.

`POST /api/messages` reads the body before any token is checked, so the body is hostile until
proven otherwise. Parsing is bounded (nesting depth, item count, number length, no NaN or
Infinity, no lone surrogates; aiohttp's client_max_size bounds the bytes), and every field
botbuilder deserializes is checked against the type its model gives, so that
`Activity.deserialize` and the turn never meet a value they would choke on. A bad envelope is
answered 400 with one warning line that names the field, never its content: a body may hold
case details.
"""

from __future__ import annotations

import json
import logging
import math
import re
from itertools import accumulate
from typing import Any, NoReturn
from urllib.parse import urlsplit

from aiohttp import web
from botbuilder.schema import Activity
from botbuilder.schema.teams import TeamsChannelData
from msrest.exceptions import DeserializationError
from msrest.serialization import Deserializer

log = logging.getLogger(__name__)

# An Action.Execute's data sits about six deep; json.loads would recurse to any depth.
MAX_DEPTH = 64
# JavaScript writes no number longer than about 25 characters; Python refuses integers of
# over 4,300 digits with a ValueError, so a long one must be refused before int() sees it.
MAX_NUMBER_CHARS = 64
# List items and object members, counted by their commas. Teams caps a message near 28 KB;
# 256 KiB of "1," would cost msrest's deserializer over a second of the event loop.
MAX_ITEMS = 5_000

# botbuilder's models by the names their `_attribute_map`s give as types: what
# `Activity.deserialize` reads, and how, is what `_check` checks.
_MODELS: dict[str, Any] = {
    **Activity._infer_class_models(),
    **TeamsChannelData._infer_class_models(),
}
# Teams' meeting events, whose `value` botbuilder's TeamsActivityHandler reads as these models.
_EVENT_VALUES = {
    "application/vnd.microsoft.meetingStart": "MeetingStartEventDetails",
    "application/vnd.microsoft.meetingEnd": "MeetingEndEventDetails",
    "application/vnd.microsoft.meetingParticipantJoin": "MeetingParticipantsEventDetails",
    "application/vnd.microsoft.meetingParticipantLeave": "MeetingParticipantsEventDetails",
}
_SCALARS: dict[str, tuple[type, str]] = {
    "str": (str, "a string"),
    "bool": (bool, "true or false"),
    "int": (int, "a whole number"),
}
# The activity's fields that carry what a person typed.
_TYPED = ("text", "value")
_BRACKET_STEPS = {"[": 1, "{": 1, "]": -1, "}": -1}
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


class BadEnvelope(ValueError):
    """The body is not an activity we accept; the message names a field, never a value."""


async def activity_of(request: web.Request) -> Activity:
    """The request's activity, checked; 415 or 400 (and one warning line) otherwise."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send application/json")
    try:
        return read_activity(await request.read())
    except BadEnvelope as refused:
        log.warning("refused an activity envelope: %s", refused)
        raise web.HTTPBadRequest(text=f"not an activity: {refused}") from None


def read_activity(body: bytes) -> Activity:
    envelope = _parse(body)
    if not isinstance(envelope, dict):
        raise BadEnvelope("the body is not a JSON object")
    _check(envelope, "Activity", "")
    if not envelope.get("type"):
        raise BadEnvelope("type is missing")
    conversation = envelope.get("conversation")
    if not conversation or not conversation.get("id"):
        raise BadEnvelope("conversation.id is missing")
    _read_teams_tenant(conversation)
    _check_teams_parts(envelope)
    if not _is_web_address(envelope.get("serviceUrl")):
        # Replies go there: without one botbuilder falls back to the public Bot Connector.
        raise BadEnvelope("serviceUrl is missing or not an http(s) address")
    try:
        activity: Activity = Activity().deserialize(envelope)
    except DeserializationError:
        raise BadEnvelope("botbuilder could not read the activity") from None
    return activity


def _check_teams_parts(envelope: dict[str, Any]) -> None:
    """channelData, and a meeting event's value, as TeamsActivityHandler will read them: it
    deserializes both without a check, so a list or a string there failed the turn."""
    channel_data = envelope.get("channelData")
    if channel_data is not None:
        if not isinstance(channel_data, dict):
            _refuse("channelData", "an object")
        _check(channel_data, "TeamsChannelData", "channelData")
    if envelope.get("type") == "event" and envelope.get("name") in _EVENT_VALUES:
        value = envelope.get("value")
        if not isinstance(value, dict):
            _refuse("value", "an object")
        _check(value, _EVENT_VALUES[envelope["name"]], "value")


def _read_teams_tenant(conversation: dict[str, Any]) -> None:
    """Teams writes `conversation.tenantId`; botbuilder 4.17.1 reads only `tenantID`, so
    without this the conversation's tenant never reaches the tenant gate."""
    tenant = conversation.get("tenantId")
    if tenant is None:
        return
    if not isinstance(tenant, str):
        _refuse("conversation.tenantId", "a string")
    other = conversation.get("tenantID")
    if other is not None and str(other).lower() != tenant.lower():
        raise BadEnvelope("conversation names two tenants")
    conversation["tenantID"] = tenant


def _parse(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadEnvelope("the body is not UTF-8") from None
    structure = _outside_strings(text)
    if structure.count(",") >= MAX_ITEMS:
        raise BadEnvelope(f"the body has over {MAX_ITEMS} items")
    if _depth(structure) > MAX_DEPTH:
        raise BadEnvelope(f"the body nests deeper than {MAX_DEPTH}")
    try:
        parsed = json.loads(
            text, parse_int=_integer, parse_float=_real, parse_constant=_not_a_number
        )
    except json.JSONDecodeError:
        raise BadEnvelope("the body is not JSON") from None
    _no_lone_surrogates(parsed)
    return parsed


def _no_lone_surrogates(parsed: Any) -> None:
    """A "\ud800" escape parses to a lone surrogate, which no UTF-8 encoder (the database
    driver's, the log's) accepts; an escaped pair arrives joined, and passes.

    What people typed (`text`, and a card's inputs in `value`) is let through: the feature
    that reads it refuses it politely, naming the box (bot.core.storable), and keeps the
    rest of what was entered. Anywhere else (names, ids) it is refused here.
    """
    if isinstance(parsed, dict):
        parsed = {key: item for key, item in parsed.items() if key not in _TYPED}
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadEnvelope("the body has a lone surrogate") from None


def _outside_strings(text: str) -> str:
    """The JSON text without its strings: brackets, commas, colons, numbers and literals.

    Exact for valid JSON; on invalid JSON it is exact up to where json.loads would stop, so
    what it shows bounds what json.loads would do.
    """
    # Escapes first (an escaped backslash before an escaped quote), then the strings.
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    return "".join(unescaped.split('"')[::2])


def _depth(structure: str) -> int:
    """How deep the JSON nests, counted without recursion (json.loads recurses)."""
    brackets = _NOT_A_BRACKET.sub("", structure)
    return max(accumulate(_BRACKET_STEPS[bracket] for bracket in brackets), default=0)


def _integer(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise BadEnvelope(f"a number is longer than {MAX_NUMBER_CHARS} characters")
    return int(literal)


def _real(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise BadEnvelope(f"a number is longer than {MAX_NUMBER_CHARS} characters")
    number = float(literal)
    if not math.isfinite(number):  # 1e400
        raise BadEnvelope("a number is out of range")
    return number


def _not_a_number(literal: str) -> NoReturn:
    raise BadEnvelope("NaN and Infinity are not JSON")


def _check(value: Any, data_type: str, where: str) -> None:
    """Checks `value` against an msrest type: "str", "[ChannelAccount]", "iso-8601" ..."""
    if value is None:
        return  # msrest reads null as absent
    if data_type.startswith("["):
        if not isinstance(value, list):
            _refuse(where, "a list")
        for item in value:
            _check_item(item, data_type[1:-1], where)
    elif data_type.startswith("{"):
        if not isinstance(value, dict):
            _refuse(where, "an object")
        for item in value.values():
            _check_item(item, data_type[1:-1], where)
    elif data_type == "object":
        return  # any JSON (channelData, value): _parse has bounded it
    elif data_type == "iso-8601":
        if not isinstance(value, str):
            _refuse(where, "a date")
        try:
            Deserializer.deserialize_iso(value)
        except DeserializationError:
            _refuse(where, "a date")
    elif data_type in _SCALARS:
        expected, described = _SCALARS[data_type]
        if type(value) is not expected:  # exactly: JSON true is no whole number here
            _refuse(where, described)
    else:  # one of botbuilder's models: every other type in Activity's graph is above
        if not isinstance(value, dict):
            _refuse(where, "an object")
        for attribute in _MODELS[data_type]._attribute_map.values():
            key = attribute["key"]
            _check(value.get(key), attribute["type"], f"{where}.{key}" if where else key)


def _check_item(item: Any, data_type: str, where: str) -> None:
    # botbuilder iterates lists (members_added ...) and reads each member's fields.
    if item is None:
        raise BadEnvelope(f"{where} has a null item")
    _check(item, data_type, f"{where}[]")


def _refuse(where: str, expected: str) -> NoReturn:
    raise BadEnvelope(f"{where} is not {expected}")


def _is_web_address(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        address = urlsplit(value)
    except ValueError:
        return False
    return address.scheme in ("http", "https") and bool(address.netloc)
