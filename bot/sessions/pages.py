"""The session on a screen: the page a signed link opens, and its stream of changes.

`GET /live/<link>` is a static page; its script opens `GET /live/<link>/events`, a stream of
server-sent events: the whole state on connecting (so a browser that reconnects catches up),
then again whenever the session changes (bot.core.changes tells this instance, whichever
instance made the change). The stream ends when the session ends or the link expires.

Every answer is `Cache-Control: no-store` with a strict Content-Security-Policy: scripts and
styles from this app only, no inline script, and frames only where `Framing` allows.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from importlib import resources
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.core.changes import Changes
from bot.core.clock import Clock
from bot.core.crypto import Cipher
from bot.sessions.links import Link, Scope, read
from bot.sessions.screen import screen_state
from bot.sessions.store import SessionStore
from bot.sessions.timing import Status
from bot.sessions.views import SessionView

log = logging.getLogger(__name__)

# The hosts Microsoft lists for Teams tabs' frame-ancestors ("Prerequisites" in
# learn.microsoft.com/microsoftteams/platform/tabs/how-to/tab-requirements): Teams' own.
TEAMS_HOSTS = (
    "https://teams.microsoft.com",
    "https://*.teams.microsoft.com",
    "https://teams.cloud.microsoft",
)
HEARTBEAT_SECONDS = 15.0
RETRY_MILLIS = 1000  # how soon a browser that lost the stream tries again
STATIC = {
    "live.js": "application/javascript",
    "tab.js": "application/javascript",
    "teams-js.min.js": "application/javascript",
    "live.css": "text/css",
}


class Framing(Enum):
    NONE = "'none'"  # the room display: a browser in full screen, never inside another page
    TEAMS = " ".join(TEAMS_HOSTS)  # the tab, inside Teams


def page_headers(framing: Framing = Framing.NONE) -> dict[str, str]:
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
        f"frame-ancestors {framing.value}"
    )
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def refusal(message: str, framing: Framing = Framing.NONE) -> web.Response:
    """A plain 403 page: what happened and what to do, nothing else."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>Reflective practice</title><link rel="stylesheet" href="/live/static/live.css">'
        f'</head><body><main class="refusal"><h1>{html.escape(message)}</h1>'
        "<p>Ask the session's facilitator for a new link.</p></main></body></html>"
    )
    return web.Response(
        status=403, text=body, content_type="text/html", headers=page_headers(framing)
    )


def read_static(name: str) -> bytes:
    return resources.files("bot.sessions").joinpath("static", name).read_bytes()


@dataclass
class _Read:
    """One read of a session for every page following it: a change wakes them all at once,
    and one query (and one JSON per scope) serves them, not one each."""

    started_at: float
    task: asyncio.Task[tuple[SessionView | None, datetime]]
    encoded: dict[Scope, bytes] = field(default_factory=dict)

    def event(self, view: SessionView, scope: Scope, now: datetime) -> bytes:
        if scope not in self.encoded:
            self.encoded[scope] = f"data: {json.dumps(screen_state(view, scope, now))}\n\n".encode()
        return self.encoded[scope]


@dataclass
class LivePages:
    store: SessionStore
    changes: Changes
    cipher: Cipher
    clock: Clock
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    _streams: set[asyncio.Task[Any]] = field(default_factory=set, init=False)
    _reads: dict[int, _Read] = field(default_factory=dict, init=False)

    # --- the room display and the page behind any link ----------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        found = await self._open(request.match_info["link"])
        if isinstance(found, web.Response):
            return found
        return web.Response(
            body=read_static("live.html"), content_type="text/html", headers=page_headers()
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        found = await self._open(request.match_info["link"])
        if isinstance(found, web.Response):
            return found
        link, _view = found
        return await self.stream(request, link)

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        try:
            body = read_static(name)
        except FileNotFoundError:
            raise web.HTTPNotFound() from None
        headers = page_headers()
        return web.Response(body=body, content_type=STATIC[name], headers=headers)

    # --- the stream ------------------------------------------------------------------------

    async def stream(self, request: web.Request, link: Link) -> web.StreamResponse:
        headers = page_headers() | {"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._streams.add(task)
        try:
            await response.write(f"retry: {RETRY_MILLIS}\n\n".encode())
            with self.changes.listen(link.session_id) as listener:
                changed = True
                while True:
                    now = self.clock.now()
                    if link.expires_at <= now:
                        await response.write(b"event: expired\ndata: {}\n\n")
                        break
                    if changed:
                        read = self._read_since(link.session_id, listener.noted_at)
                        view, read_at = await asyncio.shield(read.task)
                        if view is None:
                            break
                        await response.write(read.event(view, link.scope, read_at))
                        if view.status is Status.ENDED:
                            break
                    else:
                        await response.write(b": still here\n\n")
                    wait = min(self.heartbeat_seconds, (link.expires_at - now).total_seconds())
                    changed = await listener.changed(max(wait, 0.0))
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the browser went away, or the app is stopping: it reconnects elsewhere
        finally:
            if task is not None:
                self._streams.discard(task)
        return response

    def _read_since(self, session_id: int, noted_at: float) -> _Read:
        """A read of the session begun after `noted_at` (when this page heard of the change),
        so it sees that change: the one under way if it is late enough, else a new one."""
        loop = asyncio.get_running_loop()
        current = self._reads.get(session_id)
        if current is not None and current.started_at >= noted_at:
            return current
        read = _Read(loop.time(), asyncio.ensure_future(self._view_now(session_id)))
        self._reads[session_id] = read

        def forget(_: object) -> None:
            if self._reads.get(session_id) is read:
                del self._reads[session_id]

        read.task.add_done_callback(forget)
        return read

    async def _view_now(self, session_id: int) -> tuple[SessionView | None, datetime]:
        return await self.store.view(session_id), self.clock.now()

    async def close(self) -> None:
        """The app is stopping: end every stream now (browsers reconnect, to another
        instance or to this one once it is back), rather than hold the shutdown."""
        for task in list(self._streams):
            task.cancel()

    # --- helpers -----------------------------------------------------------------------------

    async def _open(self, token: str) -> tuple[Link, SessionView] | web.Response:
        link = read(self.cipher, token, self.clock.now())
        if link is None:
            return refusal("This link does not work: it has expired, or it is not one of ours.")
        view = await self.store.view(link.session_id)
        if view is None or view.status is Status.ENDED:
            return refusal("This session has ended, so its link no longer works.")
        return link, view


class LinkFreeAccessLog(AbstractAccessLogger):
    """aiohttp's access log without the links: a page's address is the key to it (anyone who
    read the log could watch the session), so `/live/<link>` is logged as `/live/<link>`."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = _LINK_IN_PATH.sub("/live/<link>", request.path)
        self.logger.info(
            '%s "%s %s" %s %.3fs', request.remote, request.method, path, response.status, time
        )


_LINK_IN_PATH = re.compile(r"^/live/v1\.[^/]*")


def add_routes(router: web.UrlDispatcher, pages: Callable[[web.Request], LivePages]) -> None:
    """The session pages' routes; `pages` finds the app's LivePages (built when it starts)."""

    router.add_get("/live/static/{name}", lambda request: pages(request).static(request))
    router.add_get("/live/{link}", lambda request: pages(request).page(request))
    router.add_get("/live/{link}/events", lambda request: pages(request).events(request))
