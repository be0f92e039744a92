"""The session tab in a Teams meeting, over HTTP: nothing is shown without a valid sign-on
token from an allowed tenant for someone in the meeting's chat; the facilitator's buttons go
through the same rules as the card's, and redraw the card in the chat."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.support.client import TENANT, TeamsUser, card_text
from tests.support.connector import FakeConnector
from tests.support.jwks import LoopbackOpenId, serve_openid
from tests.support.meeting import MEETING_CHAT, Meeting, meeting_scene
from tests.support.screen import EventStream, begin_with_roles
from tests.test_session_screen import NAMES, assert_private
from tests.test_sessions_http import begin

AUDIENCE = "api://reflective.example.org/3b7f1c52-9d4e-4a8b-b1f0-6c2d8e9a7f41"
ISSUER = "https://login.microsoftonline.com/{tenantid}/v2.0"
OTHER_TENANT = str(uuid.uuid4())


@pytest.fixture
def openid() -> Iterator[LoopbackOpenId]:
    with serve_openid(ISSUER) as server:
        yield server


@pytest.fixture
async def tab(
    database_url: str,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    openid: LoopbackOpenId,
) -> AsyncIterator[Meeting]:
    async with meeting_scene(
        database_url,
        connector,
        http,
        tab_sso_metadata_url=openid.metadata_url,
        tab_sso_audience=AUDIENCE,
        allowed_tenant_ids=[TENANT, OTHER_TENANT],
    ) as meeting:
        for person in meeting.people.values():
            connector.members[MEETING_CHAT].add(person.aad_id)
        yield meeting


def token(
    openid: LoopbackOpenId,
    user: TeamsUser,
    *,
    tenant: str = TENANT,
    audience: str = AUDIENCE,
    expires: datetime | None = None,
    forged: bool = False,
) -> str:
    return openid.mint(
        audience=audience,
        service_url=None,
        issuer=ISSUER.replace("{tenantid}", tenant),
        expires=expires,
        signed_with=openid.forger if forged else None,
        extra_claims={"tid": tenant, "oid": user.aad_id, "name": user.name, "ver": "2.0"},
    )


async def post(meeting: Meeting, path: str, bearer: str, **body: Any) -> tuple[int, Any]:
    async with meeting.http.post(
        meeting.bot.url + path.lstrip("/"),
        json=body,
        headers={"Authorization": f"Bearer {bearer}"},
    ) as response:
        assert_private(response.headers)
        return response.status, await response.json()


async def test_the_tab_pages_are_framed_by_teams_only(tab: Meeting) -> None:
    for path in ("live/tab", "live/tab/config"):
        async with tab.http.get(tab.bot.url + path) as response:
            assert response.status == 200
            assert_private(response.headers)
            policy = response.headers["Content-Security-Policy"]
            ancestors = policy.split("frame-ancestors ", 1)[1].split(";")[0].split()
            assert ancestors == [
                "https://teams.microsoft.com",
                "https://*.teams.microsoft.com",
                "https://teams.cloud.microsoft",
            ]
            page = await response.text()
            assert '<script src="/live/static/teams-js.min.js"' in page
            assert "https://" not in page.split("<body", 1)[0]  # no CDN, nothing remote


async def test_someone_in_the_meeting_follows_the_session_with_its_roles(
    tab: Meeting, openid: LoopbackOpenId
) -> None:
    await begin_with_roles(tab)
    status, answer = await post(
        tab, "/live/tab/session", token(openid, tab.consultant), chat=MEETING_CHAT
    )
    assert status == 200 and answer["may_control"] is False
    async with tab.http.get(tab.bot.url.rstrip("/") + answer["events"]) as response:
        state = await EventStream(response).state()
    assert state["stage"]["title"] == "Case Presenter offloads"
    assert {"role": "Case Presenter", "names": ["Pat Presenter"]} in state["holders"]
    assert {"role": "Consultants", "names": ["Chris Consultant"]} in state["holders"]

    # A participant's press is refused, as on the card.
    status, pressed = await post(
        tab,
        "/live/tab/control",
        token(openid, tab.consultant),
        chat=MEETING_CHAT,
        session=state["session"],
        version=state["version"],
        control="next",
    )
    assert status == 403 and "Only the facilitator" in pressed["note"]


async def test_the_facilitator_drives_the_session_from_the_tab(
    tab: Meeting, openid: LoopbackOpenId
) -> None:
    await begin(tab, "space_to_think")
    bearer = token(openid, tab.facilitator)
    status, answer = await post(tab, "/live/tab/session", bearer, chat=MEETING_CHAT)
    assert status == 200 and answer["may_control"] is True
    async with tab.http.get(tab.bot.url.rstrip("/") + answer["events"]) as response:
        stream = EventStream(response)
        state = await stream.state()
        press = {"chat": MEETING_CHAT, "session": state["session"], "version": state["version"]}
        status, pressed = await post(tab, "/live/tab/control", bearer, **press, control="next")
        assert status == 200 and pressed["applied"] is True
        moved = await stream.state(timeout=1.0)
        assert moved["step"] == 1
        # The same version again is a stale press: nothing changes.
        status, stale = await post(tab, "/live/tab/control", bearer, **press, control="next")
        assert status == 200 and stale["applied"] is False
    await tab.bot.settle()
    assert "Stage 2 of 6" in card_text(tab.stage_card())  # the chat's card follows

    # The organiser may too (SESSION_CONTROL_ROLES), as on the card.
    status, answer = await post(
        tab, "/live/tab/session", token(openid, tab.organiser), chat=MEETING_CHAT
    )
    assert status == 200 and answer["may_control"] is True


async def test_no_valid_token_or_no_membership_shows_nothing(
    tab: Meeting, openid: LoopbackOpenId, connector: FakeConnector
) -> None:
    await begin(tab, "space_to_think")
    stranger = tab.person("Sam Stranger", None)  # in Teams, not in this meeting's chat
    refused = {
        "another tenant": token(openid, tab.consultant, tenant=str(uuid.uuid4())),
        "another audience": token(openid, tab.consultant, audience="api://elsewhere/x"),
        "expired": token(openid, tab.consultant, expires=datetime.now(UTC) - timedelta(minutes=5)),
        "forged": token(openid, tab.consultant, forged=True),
        "not in the meeting": token(openid, stranger),
        "garbage": "not-a-token",
    }
    for why, bearer in refused.items():
        status, answer = await post(tab, "/live/tab/session", bearer, chat=MEETING_CHAT)
        assert status == 403, why
        assert not any(name in str(answer) for name in NAMES), why
    # Another allowed tenant's person sees no session of this tenant's chat.
    status, _ = await post(
        tab,
        "/live/tab/session",
        token(openid, tab.consultant, tenant=OTHER_TENANT),
        chat=MEETING_CHAT,
    )
    assert status in (403, 404)
