"""A loopback server that answers the way the Bot Connector does.

It records what the bot sends; a test can queue failures (429 with Retry-After, 503, ...)
for the next calls. Paths and bodies follow the Bot Framework REST API v3.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.clock import Clock, SystemClock
from tests.support.card_schema import card_errors


@dataclass
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(
        default_factory=lambda: {"error": {"code": "Failure", "message": "test"}}
    )


@dataclass
class Upload:
    name: str
    headers: dict[str, str]
    body: bytes


class FakeConnector:
    def __init__(self) -> None:
        self.activities: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        # The Authorization header of each request, in the same order (None: none sent).
        self.authorizations: list[str | None] = []
        self.request_times: list[float] = []  # clock.monotonic() of each request, in order
        # What request_times are read on: set it to the bot's clock when the bot runs on a
        # test clock, whose sleeps take no real time.
        self.clock: Clock = SystemClock()
        self.failures: deque[Failure] = deque()
        # Failures only for requests whose (decoded) path contains a given text.
        self.failures_for: dict[str, deque[Failure]] = defaultdict(deque)
        # conversation id -> member ids (Teams user ids or Entra object ids) in it
        self.members: dict[str, set[str]] = defaultdict(set)
        # Teams user id -> what Teams answers about that person in their 1:1 chat with the bot
        # (name, email, userPrincipalName, aadObjectId)
        self.profiles: dict[str, dict[str, str]] = {}
        # the body of every "create conversation" call, with the id given to it
        self.created: list[dict[str, Any]] = []
        # Entra object ids of people who have not added the app (or removed it): Teams answers
        # 403 when the bot asks to open a 1:1 chat with one of them, or posts in the old one.
        self.without_app: set[str] = set()
        # (meeting id, Entra object id) -> the person's meeting role ("Organizer", ...)
        self.meeting_roles: dict[tuple[str, str], str] = {}
        # Every card the bot really sent that breaks Adaptive Cards 1.5 (checked at teardown).
        self.invalid_cards: list[tuple[str, list[str]]] = []
        # While set, a message sent to a conversation is never answered (`stalled` is set
        # when one arrives): the bot is caught mid-turn, to be killed there.
        self.stall_sends = False
        self.stalled = asyncio.Event()
        # Seconds each message sent to a conversation waits before it is answered; `sending`
        # is set when one arrives.
        self.delay_sends = 0.0
        self.sending = asyncio.Event()
        # Files PUT to upload_url() (a stand-in for the OneDrive upload session Teams gives with
        # a file consent accept): their headers and bytes; upload_status is the answer.
        self.uploads: list[Upload] = []
        self.upload_status = 201
        self._closing = asyncio.Event()
        self._ids = itertools.count(1)
        self._server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("/")).rstrip("/") + "/"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities", self._send)
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._send)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._update)
        app.router.add_post("/v3/conversations", self._create_conversation)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self._member)
        app.router.add_get("/v1/meetings/{meeting}/participants/{participant}", self._participant)
        app.router.add_put("/upload/{name}", self._upload)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        self._closing.set()
        if self._server is not None:
            await self._server.close()

    def _record(self, request: web.Request) -> web.Response | None:
        """Notes the call; returns the queued failure to answer with, if any."""
        self.requests.append((request.method, request.raw_path))
        self.authorizations.append(request.headers.get("Authorization"))
        self.request_times.append(self.clock.monotonic())
        path = unquote(request.raw_path)
        for fragment, queued in self.failures_for.items():
            if fragment in path and queued:
                failure = queued.popleft()
                return web.json_response(
                    failure.body, status=failure.status, headers=failure.headers
                )
        if self.failures:
            failure = self.failures.popleft()
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        return None

    async def _send(self, request: web.Request) -> web.Response:
        failed = self._record(request)
        if failed is not None:
            return failed
        if self.stall_sends:
            self.stalled.set()
            await self._closing.wait()
            return web.Response(status=503)
        self.sending.set()
        await asyncio.sleep(self.delay_sends)
        activity = await request.json()
        if (
            _personal(activity)
            and (activity.get("recipient") or {}).get("aadObjectId") in self.without_app
        ):
            return _not_in_roster()
        self._check_cards(activity)
        activity["id"] = f"activity-{next(self._ids)}"
        self.activities.append(activity)
        return web.json_response({"id": activity["id"]})

    async def _update(self, request: web.Request) -> web.Response:
        failed = self._record(request)
        if failed is not None:
            return failed
        activity = await request.json()
        self._check_cards(activity)
        self.updates.append(activity)
        return web.json_response({"id": request.match_info["activity"]})

    def _check_cards(self, activity: dict[str, Any]) -> None:
        for attachment in activity.get("attachments") or []:
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                errors = card_errors(attachment["content"])
                if errors:
                    self.invalid_cards.append((str(activity.get("text") or ""), errors))

    async def _create_conversation(self, request: web.Request) -> web.Response:
        failed = self._record(request)
        if failed is not None:
            return failed
        body = await request.json()
        if any(member.get("id") in self.without_app for member in body.get("members") or []):
            return _not_in_roster()
        conversation_id = f"a:personal-{next(self._ids)}"
        self.created.append({**body, "id": conversation_id})
        return web.json_response({"id": conversation_id, "activityId": "", "serviceUrl": self.url})

    async def _member(self, request: web.Request) -> web.Response:
        failed = self._record(request)
        if failed is not None:
            return failed
        conversation = request.match_info["conversation"]
        member = request.match_info["member"]
        if member in self.profiles:
            return web.json_response({"id": member, **self.profiles[member]})
        if member not in self.members[conversation]:
            # What Teams answers for someone who is not in the conversation.
            return web.json_response(
                {"error": {"code": "MemberNotFoundInConversation", "message": "not found"}},
                status=404,
            )
        return web.json_response({"id": f"29:{member}", "aadObjectId": member, "name": "Member"})

    async def _participant(self, request: web.Request) -> web.Response:
        """GET /v1/meetings/{meetingId}/participants/{participantId}?tenantId=..."""
        failed = self._record(request)
        if failed is not None:
            return failed
        meeting = request.match_info["meeting"]
        participant = request.match_info["participant"]
        role = self.meeting_roles.get((meeting, participant))
        if role is None or not request.query.get("tenantId"):
            return web.json_response(
                {"error": {"code": "NotFound", "message": "participant not in the meeting"}},
                status=404,
            )
        # The shape of Teams' TeamsMeetingParticipant.
        return web.json_response(
            {
                "user": {"id": f"29:{participant}", "aadObjectId": participant, "name": "Member"},
                "meeting": {"role": role, "inMeeting": True},
                "conversation": {"id": "19:meeting@thread.v2", "isGroup": True},
            }
        )

    def upload_url(self, name: str) -> str:
        return f"{self.url}upload/{name}"

    async def _upload(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.raw_path))
        body = await request.read()
        self.uploads.append(Upload(request.match_info["name"], dict(request.headers), body))
        return web.json_response({"id": "uploaded"}, status=self.upload_status)

    def sent_to(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every activity posted to the conversation, oldest first."""
        return [
            a for a in self.activities if a.get("conversation", {}).get("id") == conversation_id
        ]

    def updates_to(self, conversation_id: str) -> list[dict[str, Any]]:
        return [u for u in self.updates if u.get("conversation", {}).get("id") == conversation_id]


def _personal(activity: dict[str, Any]) -> bool:
    return (activity.get("conversation") or {}).get("conversationType") == "personal"


def _not_in_roster() -> web.Response:
    """What Teams answers when the bot writes to someone who has not got the app."""
    return web.json_response(
        {
            "error": {
                "code": "BotNotInConversationRoster",
                "message": "The bot is not part of the conversation roster.",
            }
        },
        status=403,
    )
