"""A loopback server that answers the way Microsoft Graph v1.0 does, for the calendar calls.

Paths, bodies and errors follow Graph's reference pages: calendar getSchedule, create /
get / update / cancel event, get onlineMeeting by joinWebUrl, add app to chat. It records
every request and lets a test queue failures (429 with Retry-After, 503, 403, ...) for the
next calls or for calls whose path contains a given text.

Like Graph, it appends the Teams "meeting blob" (the join link) to the body of an online
event, turns the meeting off when an update drops that blob, and answers a second create
with an already seen transactionId with the event made the first time.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.test_utils import TestServer
from azure.core.credentials import AccessToken

TOKEN = "loopback-graph-token"


class FixedTokenCredential:
    """An `AsyncTokenCredential` that hands out one fixed token and notes the scopes asked."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> FixedTokenCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.close()


@dataclass
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None  # Graph's {"error": {...}} for the status if None


@dataclass
class Request:
    method: str
    path: str  # decoded, e.g. /v1.0/chats/19:meeting_x@thread.v2/installedApps
    query: dict[str, str]  # decoded, e.g. {"$filter": "JoinWebUrl eq '...'"}
    raw_query: str  # as sent, percent-encoded
    body: Any  # the JSON body, or None
    authorization: str | None
    headers: dict[str, str]
    at: float  # time.monotonic()


@dataclass
class BusyItem:
    start: datetime  # aware
    end: datetime
    status: str = "busy"  # free, tentative, busy, oof, workingElsewhere, unknown


# Graph's error codes and messages for the statuses tests queue.
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad request."),
    401: ("InvalidAuthenticationToken", "Access token is empty."),
    403: ("ErrorAccessDenied", "Access is denied. Check credentials and try again."),
    404: ("ErrorItemNotFound", "The specified object was not found in the store."),
    409: ("Conflict", "Conflict."),
    429: ("ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
    500: ("InternalServerError", "Internal server error."),
    503: ("ServiceUnavailable", "Service is temporarily unavailable."),
    504: ("GatewayTimeout", "Gateway timeout."),
}

_CATALOG_BINDING = re.compile(r"/appCatalogs/teamsApps/([^/]+)$")
_JOIN_FILTER = re.compile(r"^JoinWebUrl eq '((?:[^']|'')*)'$")


def graph_error(status: int, code: str | None = None, message: str | None = None) -> web.Response:
    default_code, default_message = _ERRORS.get(status, ("UnknownError", "Error."))
    return web.json_response(
        {
            "error": {
                "code": code or default_code,
                "message": message or default_message,
                "innerError": {
                    "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": "00000000-0000-0000-0000-000000000000",
                },
            }
        },
        status=status,
    )


def _graph_time(value: datetime) -> dict[str, str]:
    """An instant as Graph answers it without a Prefer header: UTC, 7 fractional digits."""
    utc = value.astimezone(UTC)
    return {"dateTime": utc.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _parameters(body: Any) -> dict[str, Any]:
    """An action's parameters by lower-case name: Graph matches them case-insensitively,
    and msgraph-sdk sends them as in Graph's metadata ("StartTime", "Comment")."""
    return {str(k).lower(): v for k, v in body.items()} if isinstance(body, dict) else {}


def _parse_time(value: dict[str, str]) -> datetime:
    """A dateTimeTimeZone from a request: wall time in an IANA zone or UTC."""
    local = datetime.fromisoformat(value["dateTime"])
    if local.tzinfo is not None:
        raise ValueError("dateTime must not carry an offset")
    name = value["timeZone"]
    return local.replace(tzinfo=UTC if name == "UTC" else ZoneInfo(name))


class FakeGraph:
    def __init__(self) -> None:
        self.token = TOKEN  # the bearer token every call must carry
        self.requests: list[Request] = []
        self.failures: deque[Failure] = deque()
        self.failures_for: dict[str, deque[Failure]] = defaultdict(deque)
        # email (lower case) -> calendar items; an email missing here is free all the time
        self.busy: dict[str, list[BusyItem]] = defaultdict(list)
        # emails getSchedule cannot read (another tenant, no mailbox)
        self.unknown_schedules: set[str] = set()
        # event id -> the event as Graph would return it
        self.events: dict[str, dict[str, Any]] = {}
        # event id -> the cancel comment, for cancelled events (gone from the calendar)
        self.cancelled: dict[str, str] = {}
        # joinWebUrl -> onlineMeeting resource
        self.online_meetings: dict[str, dict[str, Any]] = {}
        # False: a new meeting is not found by its join URL yet (replication lag)
        self.meetings_visible = True
        # chat id -> teams app ids installed in it
        self.installed: dict[str, set[str]] = defaultdict(set)
        # chat id -> the installedApps bodies posted that were accepted
        self.installations: list[tuple[str, dict[str, Any]]] = []
        # Creates whose answer is lost: the event is made, then a 504 goes back (a gateway
        # timing out after the mailbox wrote it), as if the caller crashed before storing it.
        self.lose_create_answers = 0
        # What Teams does after an installation: tell the bot (a conversationUpdate).
        self.on_install: Callable[[str], Awaitable[None]] | None = None
        self._by_transaction: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._server: TestServer | None = None

    @property
    def endpoint(self) -> str:
        """The base URL to give the SDK, like https://graph.microsoft.com/v1.0."""
        assert self._server is not None
        return str(self._server.make_url("/v1.0"))

    async def start(self) -> None:
        app = web.Application()
        users = "/v1.0/users/{user}"
        app.router.add_post(f"{users}/calendar/getSchedule", self._get_schedule)
        app.router.add_post(f"{users}/events", self._create_event)
        app.router.add_get(f"{users}/events/{{event}}", self._get_event)
        app.router.add_patch(f"{users}/events/{{event}}", self._update_event)
        app.router.add_post(f"{users}/events/{{event}}/cancel", self._cancel_event)
        app.router.add_get(f"{users}/onlineMeetings", self._online_meetings)
        app.router.add_post("/v1.0/chats/{chat}/installedApps", self._install_app)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    # What tests look at.

    @property
    def open_connections(self) -> int:
        """HTTP connections the client holds open to this server now."""
        assert self._server is not None and self._server.runner is not None
        server = self._server.runner.server
        return 0 if server is None else len(server.connections)

    def calls(self, method: str, fragment: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and fragment in r.path]

    def fail_next(self, *failures: Failure) -> None:
        self.failures.extend(failures)

    def fail_for(self, fragment: str, *failures: Failure) -> None:
        self.failures_for[fragment].extend(failures)

    # Plumbing.

    async def _record(self, request: web.Request) -> web.Response | None:
        """Notes the call; returns the answer to give instead (a failure, a 401), if any."""
        body = await request.json() if request.can_read_body else None
        path = unquote(request.path)
        self.requests.append(
            Request(
                method=request.method,
                path=path,
                query=dict(request.query),
                raw_query=request.rel_url.raw_query_string,
                body=body,
                authorization=request.headers.get("Authorization"),
                headers=dict(request.headers),
                at=time.monotonic(),
            )
        )
        failure: Failure | None = None
        for fragment, queued in self.failures_for.items():
            if fragment in path and queued:
                failure = queued.popleft()
                break
        if failure is None and self.failures:
            failure = self.failures.popleft()
        if failure is not None:
            if failure.body is None:
                answer = graph_error(failure.status)
                answer.headers.update(failure.headers)
                return answer
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return graph_error(401)
        return None

    # getSchedule

    async def _get_schedule(self, request: web.Request) -> web.Response:
        failed = await self._record(request)
        if failed is not None:
            return failed
        body = _parameters(self.requests[-1].body)
        try:
            start = _parse_time(body["starttime"])
            end = _parse_time(body["endtime"])
            schedules = list(body["schedules"])
        except (KeyError, TypeError, ValueError) as error:
            return graph_error(400, "ErrorInvalidParameter", f"Invalid request: {error}")
        interval = int(body.get("availabilityviewinterval", 30))
        if not 5 <= interval <= 1440:
            return graph_error(400, "ErrorInvalidParameter", "availabilityViewInterval")
        value = []
        for email in schedules:
            if email.lower() in self.unknown_schedules:
                value.append(
                    {
                        "scheduleId": email,
                        "availabilityView": "",
                        "error": {
                            "message": f"The mailbox {email} could not be found.",
                            "responseCode": "ErrorMailRecipientNotFound",
                        },
                    }
                )
                continue
            items = [i for i in self.busy.get(email.lower(), []) if i.start < end and i.end > start]
            value.append(
                {
                    "scheduleId": email,
                    "availabilityView": "",
                    "scheduleItems": [
                        {
                            "isPrivate": False,
                            "status": item.status,
                            "subject": "",
                            "location": "",
                            "start": _graph_time(item.start),
                            "end": _graph_time(item.end),
                        }
                        for item in items
                    ],
                    "workingHours": {
                        "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                        "startTime": "08:00:00.0000000",
                        "endTime": "17:00:00.0000000",
                        "timeZone": {"name": "GMT Standard Time"},
                    },
                }
            )
        return web.json_response(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/"
                "$metadata#Collection(microsoft.graph.scheduleInformation)",
                "value": value,
            }
        )

    # events

    async def _create_event(self, request: web.Request) -> web.Response:
        failed = await self._record(request)
        if failed is not None:
            return failed
        body = self.requests[-1].body
        transaction = body.get("transactionId")
        if transaction and transaction in self._by_transaction:
            # What Graph does with a transactionId it has seen: no second event.
            return self._created(self.events[self._by_transaction[transaction]])
        try:
            _parse_time(body["start"])
            _parse_time(body["end"])
        except (KeyError, TypeError, ValueError) as error:
            return graph_error(400, "ErrorInvalidRequest", f"Invalid start or end: {error}")
        for attendee in body.get("attendees", []):
            if attendee.get("type") not in ("required", "optional", "resource"):
                return graph_error(400, "ErrorInvalidRequest", "Attendee type is required.")
        number = next(self._ids)
        event_id = f"AAMkAGI2TG93AAA{number}=="
        user = request.match_info["user"]
        event: dict[str, Any] = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{user}')/events/$entity",
            "id": event_id,
            "subject": body.get("subject", ""),
            "body": {"contentType": "html", "content": body.get("body", {}).get("content", "")},
            "start": body["start"],
            "end": body["end"],
            "attendees": [
                {**a, "status": {"response": "none", "time": "0001-01-01T00:00:00Z"}}
                for a in body.get("attendees", [])
            ],
            "organizer": {"emailAddress": {"name": "Organiser", "address": user}},
            "isOnlineMeeting": False,
            "onlineMeetingProvider": "unknown",
            "onlineMeeting": None,
        }
        if transaction:
            event["transactionId"] = transaction
        online = body.get("isOnlineMeeting") and body.get("onlineMeetingProvider") in (
            "teamsForBusiness",
            None,
        )
        if online:
            thread = f"19:meeting_M2IzYTJk{number}@thread.v2"
            join_url = (
                f"https://teams.microsoft.com/l/meetup-join/{quote(thread, safe='')}/0"
                "?context=%7b%22Tid%22%3a%22tenant%22%2c%22Oid%22%3a%22organiser%22%7d"
            )
            event["isOnlineMeeting"] = True
            event["onlineMeetingProvider"] = "teamsForBusiness"
            event["onlineMeeting"] = {"joinUrl": join_url}
            event["body"]["content"] += self._meeting_blob(join_url)
            self.online_meetings[join_url] = {
                "id": f"MSo{number}",
                "joinWebUrl": join_url,
                "subject": event["subject"],
                "chatInfo": {"threadId": thread, "messageId": "0", "replyChainMessageId": None},
            }
        self.events[event_id] = event
        if transaction:
            self._by_transaction[transaction] = event_id
        return self._created(event)

    def _created(self, event: dict[str, Any]) -> web.Response:
        if self.lose_create_answers > 0:
            self.lose_create_answers -= 1
            answer = graph_error(504)
            answer.headers["Retry-After"] = "0"
            return answer
        return web.json_response(event, status=201)

    @staticmethod
    def _meeting_blob(join_url: str) -> str:
        return (
            '<div style="width:100%">________________</div>'
            '<div class="me-email-text"><a class="me-email-headline" '
            f'href="{join_url}">Join the meeting now</a></div>'
        )

    async def _get_event(self, request: web.Request) -> web.Response:
        failed = await self._record(request)
        if failed is not None:
            return failed
        event = self.events.get(request.match_info["event"])
        if event is None:
            return graph_error(404)
        return web.json_response(event)

    async def _update_event(self, request: web.Request) -> web.Response:
        failed = await self._record(request)
        if failed is not None:
            return failed
        event = self.events.get(request.match_info["event"])
        if event is None:
            return graph_error(404)
        body = self.requests[-1].body
        for key in ("start", "end"):
            if key in body:
                try:
                    _parse_time(body[key])
                except (KeyError, TypeError, ValueError) as error:
                    return graph_error(400, "ErrorInvalidRequest", f"Invalid {key}: {error}")
                event[key] = body[key]
        if "subject" in body:
            event["subject"] = body["subject"]
        if "body" in body:
            event["body"] = {"contentType": "html", "content": body["body"].get("content", "")}
            join_url = (event.get("onlineMeeting") or {}).get("joinUrl")
            if join_url and join_url not in event["body"]["content"]:
                # Graph: removing the meeting blob from the body disables the online meeting.
                event["isOnlineMeeting"] = False
                event["onlineMeeting"] = None
        return web.json_response(event)

    async def _cancel_event(self, request: web.Request) -> web.Response:
        failed = await self._record(request)
        if failed is not None:
            return failed
        event_id = request.match_info["event"]
        if event_id not in self.events:
            return graph_error(404)
        body = _parameters(self.requests[-1].body)
        del self.events[event_id]
        self.cancelled[event_id] = str(body.get("comment", ""))
        return web.Response(status=202)

    # onlineMeetings

    async def _online_meetings(self, request: web.Request) -> web.Response:
        failed = await self._record(request)
        if failed is not None:
            return failed
        match = _JOIN_FILTER.match(request.query.get("$filter", ""))
        if match is None:
            return graph_error(
                400, "BadRequest", "Filter expression expected - /onlineMeetings?$filter=..."
            )
        join_url = match.group(1).replace("''", "'")
        meeting = self.online_meetings.get(join_url) if self.meetings_visible else None
        return web.json_response(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/"
                "$metadata#users('organiser')/onlineMeetings",
                "value": [] if meeting is None else [meeting],
            }
        )

    # installedApps

    async def _install_app(self, request: web.Request) -> web.Response:
        failed = await self._record(request)
        if failed is not None:
            return failed
        body = self.requests[-1].body or {}
        match = _CATALOG_BINDING.search(str(body.get("teamsApp@odata.bind", "")))
        if match is None:
            return graph_error(400, "BadRequest", "teamsApp@odata.bind is required.")
        chat = request.match_info["chat"]
        app_id = match.group(1)
        if app_id in self.installed[chat]:
            return graph_error(409, "Conflict", "App is already installed in this chat.")
        self.installed[chat].add(app_id)
        self.installations.append((chat, body))
        if self.on_install is not None:
            await self.on_install(chat)
        return web.Response(status=201)
