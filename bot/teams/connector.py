"""Sends activities to the Bot Connector over one shared aiohttp session.

It replaces botframework-connector's msrest client for the hot path (replies). Posts and
updates wait for a slot from the ConversationPacer, so a conversation stays inside Teams'
per-conversation limits (7 a second, 60 in 30 s, ...) on its own; 429 and 503 with
Retry-After are still honoured, for what one instance cannot see (other instances, changed
limits). Authentication reuses the turn's own app credentials.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from opentelemetry.trace import SpanKind

from bot.core import telemetry
from bot.core.clock import Clock, SystemClock
from bot.core.models import utcnow
from bot.core.outbox import SendFailed
from bot.teams.pacing import ConversationPacer

log = logging.getLogger(__name__)

RETRYABLE = SendFailed.RETRYABLE
TokenSource = Callable[[], Awaitable[str | None]]

# The paths called, as traced: every id (conversation, activity, person, meeting) is {id}.
ACTIVITIES = "/v3/conversations/{id}/activities"
ACTIVITY = "/v3/conversations/{id}/activities/{id}"
MEMBER = "/v3/conversations/{id}/members/{id}"
PARTICIPANT = "/v1/meetings/{id}/participants/{id}"


class ConnectorError(SendFailed):
    def __init__(self, status: int, body: str, retry_after: float | None = None) -> None:
        super().__init__(f"the Bot Connector answered {status}: {body[:300]}", status, retry_after)


class TokenUnavailable(ConnectorError):
    """Entra, or the host's managed identity, gave the bot no token for the Bot Connector.
    Counted as a 503: soon over, so a queued message is tried again, not given up."""

    def __init__(self, reason: str) -> None:
        SendFailed.__init__(self, f"no token for the Bot Connector: {reason}", 503)


def retry_after_seconds(header: str | None, default: float) -> float:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not header:
        return default
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(header) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return default


class ConnectorSender:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        max_attempts: int = 4,
        max_wait: float = 4.0,  # Teams gives a turn 15 s: retries must fit inside it
        clock: Clock | None = None,  # sleeps out Retry-After, and paces (unless `pacer` is given)
        pacer: ConversationPacer | None = None,
    ) -> None:
        self._session = session
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._clock = clock or SystemClock()
        self._pacer = pacer if pacer is not None else ConversationPacer(clock=self._clock)

    async def send(
        self,
        service_url: str,
        conversation_id: str,
        body: dict[str, Any],
        token: TokenSource,
        reply_to_id: str | None = None,
    ) -> str:
        """Posts an activity; returns the id the connector gave it."""
        path = f"v3/conversations/{quote(conversation_id, safe='')}/activities"
        if reply_to_id:
            path += f"/{quote(reply_to_id, safe='')}"
        template = ACTIVITY if reply_to_id else ACTIVITIES
        answer = await self._call(
            "POST", service_url, path, template, body, token, pace=conversation_id
        )
        return str(answer.get("id", ""))

    async def update(
        self,
        service_url: str,
        conversation_id: str,
        activity_id: str,
        body: dict[str, Any],
        token: TokenSource,
    ) -> str:
        activities = f"v3/conversations/{quote(conversation_id, safe='')}/activities"
        path = f"{activities}/{quote(activity_id, safe='')}"
        answer = await self._call(
            "PUT", service_url, path, ACTIVITY, body, token, pace=conversation_id
        )
        return str(answer.get("id", activity_id))

    async def member(
        self, service_url: str, conversation_id: str, member_id: str, token: TokenSource
    ) -> dict[str, Any] | None:
        """A member's details (name, email, userPrincipalName, aadObjectId); None if the
        person is not in the conversation. `member_id`: a Teams user id, Entra object id or UPN.
        """
        conversation = quote(conversation_id, safe="")
        path = f"v3/conversations/{conversation}/members/{quote(member_id, safe='')}"
        try:
            return await self._call("GET", service_url, path, MEMBER, None, token)
        except ConnectorError as error:
            if error.status in (403, 404):  # not a member, or the bot is not in that chat
                return None
            raise

    async def meeting_role(
        self,
        service_url: str,
        meeting_id: str,
        participant_id: str,
        tenant_id: str,
        token: TokenSource,
    ) -> str | None:
        """The person's role in the meeting (Organizer, Presenter, Attendee); None if not in it.

        The REST call behind `TeamsInfo.get_meeting_participant`, made here because that one
        is synchronous and, in botframework-connector 4.17.1, asks for the wrong URL: the
        `fetch_meeting` operation overwrites `fetch_participant.metadata`, so it requests
        /v1/meetings/{id} and never reads a participant.
        """
        meeting = quote(meeting_id, safe="")
        participant = quote(participant_id, safe="")
        path = f"v1/meetings/{meeting}/participants/{participant}?tenantId={quote(tenant_id)}"
        try:
            answer = await self._call("GET", service_url, path, PARTICIPANT, None, token)
        except ConnectorError as error:
            if error.status in (403, 404):  # not in the meeting, or the bot cannot see it
                return None
            raise
        details = answer.get("meeting")
        role = details.get("role") if isinstance(details, dict) else None
        return str(role) if role else None

    async def _call(
        self,
        method: str,
        service_url: str,
        path: str,
        template: str,  # the path with its ids as {id}: what the trace shows
        body: dict[str, Any] | None,
        token: TokenSource,
        pace: str | None = None,  # the conversation whose rate limits this call counts against
    ) -> dict[str, Any]:
        url = service_url.rstrip("/") + "/" + path
        traced = {
            telemetry.HTTP_METHOD: method,
            telemetry.URL_TEMPLATE: template,
            telemetry.SERVER_ADDRESS: urlsplit(service_url).hostname or "",
            telemetry.URL_FULL: telemetry.redacted_url(service_url, template),
        }
        for attempt in range(1, self._max_attempts + 1):
            headers = {"Content-Type": "application/json"}
            bearer = await token()
            if bearer:
                headers["Authorization"] = f"Bearer {bearer}"
            if pace is not None:
                # Every attempt counts with Teams, retries too; take the slot last, nearest
                # the moment the request leaves.
                await self._pacer.acquire(pace)
            with telemetry.span(
                f"connector {method} {template}", kind=SpanKind.CLIENT, attributes=traced
            ) as span:
                if attempt > 1:
                    span.set_attribute(telemetry.HTTP_RESEND_COUNT, attempt - 1)
                async with self._session.request(
                    method, url, json=body, headers=headers
                ) as response:
                    span.set_attribute(telemetry.HTTP_STATUS, response.status)
                    if response.status < 300:
                        # The activity is delivered; an empty or odd body must not undo that.
                        text = await response.text()
                        try:
                            answer = json.loads(text) if text.strip() else {}
                        except ValueError:
                            answer = {}
                        return answer if isinstance(answer, dict) else {}
                    telemetry.answered_with_error(span, response.status)
                    text = await response.text()
                    header = response.headers.get("Retry-After")
                    told = retry_after_seconds(header, -1.0) if header else None
                    if told is not None and told >= 0:
                        span.set_attribute(telemetry.RETRY_AFTER, told)
                    if response.status not in RETRYABLE or attempt == self._max_attempts:
                        raise ConnectorError(
                            response.status, text, told if told is not None and told >= 0 else None
                        )
                    wait = retry_after_seconds(header, 2.0 ** (attempt - 1))
            wait = min(wait, self._max_wait)
            log.warning(
                "connector answered %s; retrying in %.1fs (attempt %d)",
                response.status,
                wait,
                attempt,
            )
            await self._clock.sleep(wait)
        raise AssertionError("unreachable")
