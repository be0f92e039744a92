"""The session in Teams: the configurable tab a facilitator opens in a meeting's side panel
and shares to its stage.

The tab's page (`/live/tab`) learns its chat from Teams and gets a sign-on token; it then
asks `/live/tab/session`, which shows nothing until the token is checked (bot.teams.tab_sso)
and the person is found in that meeting's chat (the Bot Connector's member look-up). It is
given a short-lived member link (bot.sessions.links) to follow the session like the room
display does, with the roles' holders. Whoever the cards would let drive the session (its
facilitator, or the meeting roles in SESSION_CONTROL_ROLES) gets the controls too: they go
through the same `SessionStore.control`, with the version the page last saw (a stale press
changes nothing), and so redraw the chat's card and are audited as a press there is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from aiohttp import web

from bot.core.audit import Actor
from bot.core.clock import Clock
from bot.core.crypto import Cipher
from bot.sessions.links import Scope, issue
from bot.sessions.pages import Framing, page_headers, read_static
from bot.sessions.store import SessionStore
from bot.sessions.timing import Control
from bot.sessions.views import SessionView, may_drive
from bot.teams.tab_sso import TabTokens, TabUser

log = logging.getLogger(__name__)

MEMBER_LINK = timedelta(hours=1)  # the page asks again when it reloads
# What the page's buttons may do (Begin and set-up stay on the chat's cards).
CONTROLS = {
    "pause": Control.PAUSE,
    "resume": Control.RESUME,
    "add_time": Control.ADD_TIME,
    "next": Control.NEXT,
    "back": Control.BACK,
    "end": Control.END,
}
TAB_SCRIPTS = (
    b'<script src="/live/static/teams-js.min.js" defer></script>\n'
    b'<script src="/live/static/tab.js" defer></script>\n'
)
NOT_FOR_YOU = "Sign in to Teams as someone in this meeting's chat to see its session."


class MeetingChat(Protocol):
    """The Bot Connector, outside a turn (bot.teams.proactive.Proactive)."""

    async def member(self, reference: dict[str, Any], member_id: str) -> dict[str, Any] | None: ...

    async def meeting_role(
        self, reference: dict[str, Any], meeting_id: str, participant_id: str, tenant_id: str
    ) -> str | None: ...


@dataclass
class TeamsTab:
    store: SessionStore
    tokens: TabTokens
    chat: MeetingChat
    cipher: Cipher
    clock: Clock
    wake: Callable[[], None]
    control_roles: frozenset[str]

    async def page(self, request: web.Request) -> web.Response:
        # The room display's page, told it is in Teams and given the Teams library (bundled
        # by `make live-assets` from npm) and the script that signs in.
        page = read_static("live.html").replace(b'data-mode="link"', b'data-mode="tab"')
        page = page.replace(b"</head>", TAB_SCRIPTS + b"</head>")
        return web.Response(
            body=page, content_type="text/html", headers=page_headers(Framing.TEAMS)
        )

    async def configuration(self, request: web.Request) -> web.Response:
        return self._static_page("tab-config.html")

    async def session(self, request: web.Request) -> web.Response:
        """The member link for the session in the tab's chat, if the person is in it."""
        body = await _json(request)
        found = await self._person_and_session(request, str(body.get("chat", "")))
        if isinstance(found, web.Response):
            return found
        user, view = found
        link = issue(self.cipher, view.id, Scope.MEMBER, self.clock.now(), MEMBER_LINK)
        may_control = await self._may_control(user, view)
        return _json_answer({"events": f"/live/{link}/events", "may_control": may_control})

    async def control(self, request: web.Request) -> web.Response:
        body = await _json(request)
        control = CONTROLS.get(str(body.get("control", "")))
        version = body.get("version")
        if control is None or not isinstance(version, int):
            return _json_answer({"note": "That button is not known here."}, status=400)
        found = await self._person_and_session(request, str(body.get("chat", "")))
        if isinstance(found, web.Response):
            return found
        user, view = found
        if view.id != body.get("session"):
            return _json_answer({"note": "The session here has changed: reload."}, status=409)
        if not await self._may_control(user, view):
            return _json_answer({"note": "Only the facilitator can do that."}, status=403)
        change = await self.store.control(
            view.id, version, Actor(user.object_id, user.name), control
        )
        if change is None:
            return _json_answer({"note": "The session is not there any more."}, status=404)
        if change.applied:
            self.wake()  # the chat's card is redrawn by the outbox
            return _json_answer({"applied": True, "note": ""})
        note = change.problem or "Nothing changed: the session had moved on. Press again."
        return _json_answer({"applied": False, "note": note})

    async def _person_and_session(
        self, request: web.Request, chat_id: str
    ) -> tuple[TabUser, SessionView] | web.Response:
        user = await self.tokens.user(request.headers.get("Authorization", ""))
        if user is None or not chat_id:
            return _json_answer({"note": NOT_FOR_YOU}, status=403)
        view = await self.store.live_in(chat_id)
        if view is None or view.tenant_id.lower() != user.tenant_id:
            return _json_answer({"note": "There is no session in this chat yet."}, status=404)
        try:
            member = await self.chat.member(view.conversation_reference, user.object_id)
        except Exception:  # noqa: BLE001 - no answer from Teams is no access, not a fault page
            log.warning("session %d: could not check a tab user's membership", view.id)
            member = None
        if member is None:
            return _json_answer({"note": NOT_FOR_YOU}, status=403)
        return user, view

    async def _may_control(self, user: TabUser, view: SessionView) -> bool:
        """As the cards decide (bot.sessions.views.may_drive)."""

        async def meeting_role() -> str | None:
            if not view.meeting_id:
                return None
            try:
                return await self.chat.meeting_role(
                    view.conversation_reference, view.meeting_id, user.object_id, user.tenant_id
                )
            except Exception:  # noqa: BLE001 - nobody gets a facilitator's powers on a guess
                log.warning("session %d: could not read a tab user's meeting role", view.id)
                return None

        return await may_drive(view, user.object_id, self.control_roles, meeting_role)

    def _static_page(self, name: str) -> web.Response:
        return web.Response(
            body=read_static(name), content_type="text/html", headers=page_headers(Framing.TEAMS)
        )


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _json_answer(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers=page_headers(Framing.TEAMS))


def add_routes(router: web.UrlDispatcher, tab: Callable[[web.Request], TeamsTab]) -> None:
    """Before the pages' `/live/{link}` routes, which would take these paths too."""
    router.add_get("/live/tab", lambda request: tab(request).page(request))
    router.add_get("/live/tab/config", lambda request: tab(request).configuration(request))
    router.add_post("/live/tab/session", lambda request: tab(request).session(request))
    router.add_post("/live/tab/control", lambda request: tab(request).control(request))
