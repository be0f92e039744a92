"""The session on a screen over HTTP: the room display's link, its page and its stream of
changes, the refusals, and the headers that keep it out of caches and other sites' frames.
(Real browsers: tests/test_session_browser.py.)"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import text

from app import create_app
from bot.core.changes import PostgresChanges
from bot.sessions.pages import LinkFreeAccessLog
from tests.conftest import make_settings
from tests.support.connector import FakeConnector
from tests.support.meeting import Meeting, button_data, meeting_scene, shown
from tests.support.screen import EventStream, begin_with_roles, room_link, second_instance
from tests.test_sessions_http import begin

NAMES = ("Jo Facilitator", "Pat Presenter", "Chris Consultant", "Olu Organiser")


def assert_private(headers: aiohttp.typedefs.LooseHeaders) -> None:
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors" in policy


async def test_room_display_follows_the_session_without_names(meeting: Meeting) -> None:
    await begin_with_roles(meeting)
    url = await room_link(meeting)

    async with meeting.http.get(url) as page:
        assert page.status == 200
        assert_private(page.headers)
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        html = await page.text()
    assert '<script src="/live/static/live.js"' in html and "<script>" not in html
    async with meeting.http.get(meeting.bot.url + "live/static/live.js") as script:
        assert script.status == 200 and script.content_type == "application/javascript"
        assert_private(script.headers)

    async with meeting.http.get(url + "/events") as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        assert_private(response.headers)
        stream = EventStream(response)
        first = await stream.state()
        assert first["stage"]["title"] == "Case Presenter offloads"
        assert first["status"] == "running" and first["step"] == 0
        assert first["ends_at"] - first["server_now"] == 5 * 60 * 1000
        assert "holders" not in first
        assert not any(name in str(first) for name in NAMES)

        pressed = time.monotonic()
        await meeting.control(meeting.facilitator, "session_next")
        moved = await stream.state(timeout=1.0)
        assert time.monotonic() - pressed < 1.5
        assert moved["step"] == 1 and moved["stage"]["title"] != first["stage"]["title"]
        assert not any(name in str(moved) for name in NAMES)

        await meeting.control(meeting.facilitator, "session_pause")
        paused = await stream.state(timeout=1.0)
        assert paused["status"] == "paused" and paused["ends_at"] is None


async def test_room_link_is_the_facilitators_to_ask_for(meeting: Meeting) -> None:
    await begin(meeting, "space_to_think")
    card = meeting.stage_card()
    answer = await meeting.press(
        meeting.consultant, "session_room_link", **button_data(card, "session_room_link")
    )
    assert "/live/" not in shown(answer) and "only" in shown(answer)
    assert await room_link(meeting, meeting.organiser)  # the organiser may, as with the controls


async def test_forged_expired_and_ended_links_are_refused(meeting: Meeting) -> None:
    await begin(meeting, "space_to_think")
    url = await room_link(meeting)
    forged = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    other_session = url.replace("/live/v1.1.", "/live/v1.2.")
    for wrong in (forged, other_session, meeting.bot.url + "live/nonsense"):
        for suffix in ("", "/events"):
            async with meeting.http.get(wrong + suffix) as response:
                assert response.status == 403
                assert_private(response.headers)
                assert "This link does not work" in await response.text()

    async with meeting.http.get(url + "/events") as response:
        stream = EventStream(response)
        await stream.state()
        await end_session(meeting)
        ended = await stream.state(timeout=1.0)
        assert ended["status"] == "ended"
        with pytest.raises(EOFError):
            await stream.next()  # and the stream ends with it
    async with meeting.http.get(url) as response:
        assert response.status == 403
        assert "This session has ended" in await response.text()


async def test_an_expired_link_is_refused(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with meeting_scene(database_url, connector, http, room_link_hours=0.25) as meeting:
        await begin(meeting, "space_to_think")
        url = await room_link(meeting)
        async with meeting.http.get(url + "/events") as response:
            stream = EventStream(response)
            await stream.state()
            meeting.clock.advance(minutes=15)  # the stream notices at its next heartbeat
        async with meeting.http.get(url) as expired:
            assert expired.status == 403
            assert "This link does not work" in await expired.text()
        assert await room_link(meeting)  # a fresh one works


async def end_session(meeting: Meeting) -> None:
    data = button_data(meeting.stage_card(), "session_end")
    await meeting.press(meeting.facilitator, "session_end", **data)
    await meeting.bot.settle()


async def test_a_press_on_one_instance_reaches_a_page_on_another(
    postgres_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with (
        meeting_scene(postgres_url, connector, http) as meeting,
        second_instance(meeting) as other,
    ):
        await begin(meeting, "space_to_think")
        link = urlsplit(await room_link(meeting)).path
        async with http.get(other.url.rstrip("/") + link + "/events") as response:
            stream = EventStream(response)
            assert (await stream.state())["step"] == 0
            pressed = time.monotonic()
            await meeting.control(meeting.facilitator, "session_next")  # on the first
            moved = await stream.state(timeout=1.0)
            assert moved["step"] == 1
            assert time.monotonic() - pressed < 1.5


async def test_pages_hear_of_changes_after_the_listener_lost_its_connection(
    postgres_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with meeting_scene(postgres_url, connector, http) as meeting:
        changes = meeting.bot.runtime.changes
        assert isinstance(changes, PostgresChanges)
        await asyncio.wait_for(changes.listening.wait(), 5)
        await begin(meeting, "space_to_think")
        url = await room_link(meeting)
        async with http.get(url + "/events") as response:
            stream = EventStream(response)
            assert (await stream.state())["step"] == 0
            # PostgreSQL drops the listening connection (a failover, say).
            async with meeting.bot.runtime.engine.connect() as connection:
                await connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
                    )
                )
            await meeting.control(meeting.facilitator, "session_next")  # while it is away
            # Listening again, it tells its pages to read afresh: they catch up.
            assert (await stream.state(timeout=5.0))["step"] == 1


async def test_the_access_log_keeps_links_out(
    sqlite_url: str, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    server = TestServer(create_app(make_settings(sqlite_url)), host="127.0.0.1")
    await server.start_server(access_log_class=LinkFreeAccessLog)  # as app.main serves it
    try:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            async with http.get(server.make_url("/live/v1.1.room.1.secretsignature/events")):
                pass
    finally:
        await server.close()
    logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert logged and all("secretsignature" not in line for line in logged)
    assert '"GET /live/<link>/events" 403' in logged[0]
