"""A span per request to Graph, made where each one leaves: the HTTP transport under
msgraph's middleware, so retries are spans of their own.

The URL carries the organiser's object id, event and chat ids and, when a meeting is looked up
by its join link, the link itself: the span has the path with every segment that is not a
word of Graph's API replaced by {id}, and no query. (kiota's own spans, with the full URL,
are not exported: bot.core.telemetry.OnlyOurs.)
"""

from __future__ import annotations

import httpx
from opentelemetry.trace import SpanKind

from bot.core import telemetry

# The words of the paths this app calls (bot.scheduling.graph); any other segment is an id.
GRAPH_WORDS = frozenset(
    {
        "v1.0",
        "beta",
        "me",
        "users",
        "calendar",
        "getSchedule",
        "events",
        "cancel",
        "onlineMeetings",
        "chats",
        "installedApps",
        "appCatalogs",
        "teamsApps",
    }
)


def path_template(path: str) -> str:
    """/v1.0/users/5b0a.../events/AAMk.../cancel -> /v1.0/users/{id}/events/{id}/cancel"""
    segments = [part if part in GRAPH_WORDS else "{id}" for part in path.split("/") if part]
    return "/" + "/".join(segments)


def _seconds(header: str | None) -> float | None:
    """Retry-After in seconds, as Graph sends it; None if absent or not a number."""
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None


class TracedTransport(httpx.AsyncBaseTransport):
    """Wraps the transport msgraph's middleware sends through, with a CLIENT span each."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        template = path_template(request.url.path)
        traced = {
            telemetry.HTTP_METHOD: request.method,
            telemetry.URL_TEMPLATE: template,
            telemetry.SERVER_ADDRESS: request.url.host,
            telemetry.URL_FULL: telemetry.redacted_url(str(request.url), template),
        }
        name = f"graph {request.method} {template}"
        with telemetry.span(name, kind=SpanKind.CLIENT, attributes=traced) as span:
            # msgraph's RetryHandler numbers the requests it sends again.
            resent = request.headers.get("Retry-Attempt", "")
            if resent.isdigit():
                span.set_attribute(telemetry.HTTP_RESEND_COUNT, int(resent))
            response = await self._inner.handle_async_request(request)
            span.set_attribute(telemetry.HTTP_STATUS, response.status_code)
            if response.status_code >= 400:
                telemetry.answered_with_error(span, response.status_code)
                wait = _seconds(response.headers.get("Retry-After"))
                if wait is not None:
                    span.set_attribute(telemetry.RETRY_AFTER, wait)
            return response

    async def aclose(self) -> None:
        await self._inner.aclose()
