"""The session on a screen in real headless Chromium: the room display follows the session
live, two screens agree, no names show, refusals are plain pages, and a page reconnects
after the app restarts."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from app import create_app
from tests.support.browser import chromium
from tests.support.client import TENANT, card_text
from tests.support.connector import FakeConnector
from tests.support.jwks import serve_openid
from tests.support.meeting import MEETING_CHAT, Meeting, meeting_scene
from tests.support.screen import begin_with_roles, room_link, second_instance
from tests.support.teams_host import in_teams
from tests.test_session_screen import NAMES
from tests.test_session_tab import AUDIENCE, ISSUER, OTHER_TENANT, token
from tests.test_sessions_http import begin

CLOCK = re.compile(r"^\d+:\d\d$")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as started:
        yield started


async def open_page(browser: Browser, url: str) -> Page:
    page = await browser.new_page()
    await page.goto(url)
    return page


async def test_room_display_shows_the_stage_and_a_moving_countdown(
    meeting: Meeting, browser: Browser
) -> None:
    await begin_with_roles(meeting)
    url = await room_link(meeting)
    page = await open_page(browser, url)
    await expect(page.locator("#stage-title")).to_have_text("Case Presenter offloads")
    await expect(page.locator("#speaks")).to_contain_text("Case Presenter")
    first = await page.locator("#clock").inner_text()
    assert CLOCK.match(first) and first in ("5:00", "4:59"), first
    await page.wait_for_timeout(1300)
    later = await page.locator("#clock").inner_text()
    assert later != first and CLOCK.match(later), (first, later)
    await expect(page.locator("#plan li[aria-current=step]")).to_have_text(
        re.compile("Case Presenter offloads")
    )
    await page.locator("#show-questions").click()
    await expect(page.locator("#question-list li").first).to_be_visible()

    body = await page.locator("body").inner_text()
    assert not any(name in body for name in NAMES), body

    # Nearly time, then time is up, from the browser's own clock and the server's offset.
    await meeting.advance(minutes=4, seconds=10)
    await meeting.control(meeting.facilitator, "session_pause")
    await expect(page.locator("#clock-state")).to_have_text("Paused")
    await meeting.control(meeting.facilitator, "session_resume")
    await expect(page.locator("body")).to_have_attribute("data-clock", "warning")
    await expect(page.locator("#clock-state")).to_have_text("Nearly time")
    await meeting.advance(minutes=1)
    await meeting.control(meeting.facilitator, "session_pause")
    await meeting.control(meeting.facilitator, "session_resume")  # the page hears of it
    await expect(page.locator("body")).to_have_attribute("data-clock", "up")
    await expect(page.locator("#clock-state")).to_have_text("Time is up")
    await expect(page.locator("#clock")).to_have_text("0:00")


async def test_next_on_the_chat_card_reaches_two_pages_within_a_second(
    meeting: Meeting, browser: Browser
) -> None:
    await begin(meeting, "space_to_think")
    url = await room_link(meeting)
    pages = [await open_page(browser, url) for _ in range(2)]
    for page in pages:
        await expect(page.locator("#stage-title")).to_have_text("Case Presenter offloads")

    pressed = time.monotonic()
    await meeting.control(meeting.facilitator, "session_next")
    for page in pages:
        await expect(page.locator("#stage-title")).not_to_have_text(
            "Case Presenter offloads", timeout=1000
        )
    assert time.monotonic() - pressed < 1.5  # the press and the settling included
    titles = {await page.locator("#stage-title").inner_text() for page in pages}
    assert len(titles) == 1


async def test_refused_links_get_a_plain_page(meeting: Meeting, browser: Browser) -> None:
    await begin(meeting, "space_to_think")
    url = await room_link(meeting)
    page = await browser.new_page()
    response = await page.goto(url[:-4] + "AAAA")
    assert response is not None and response.status == 403
    await expect(page.locator("h1")).to_contain_text("This link does not work")
    assert "Traceback" not in await page.content()


async def test_page_reconnects_after_the_app_restarts(
    sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession, browser: Browser
) -> None:
    async with meeting_scene(sqlite_url, connector, http) as meeting:
        await begin(meeting, "space_to_think")
        url = await room_link(meeting)
        page = await open_page(browser, url)
        await expect(page.locator("#stage-title")).to_have_text("Case Presenter offloads")
        port = meeting.bot.server.port if meeting.bot.server else 0
        await meeting.bot.stop()
        await expect(page.locator("body")).to_have_attribute("data-connection", "reconnecting")

        # The same app on the same port, as after a restart; the session moved on meanwhile.
        server = TestServer(
            create_app(meeting.bot.settings, clock=meeting.clock), host="127.0.0.1", port=port
        )
        await server.start_server()
        meeting.bot.server = server
        await meeting.control(meeting.facilitator, "session_next")
        await expect(page.locator("body")).to_have_attribute(
            "data-connection", "open", timeout=5000
        )
        await expect(page.locator("#stage-title")).not_to_have_text("Case Presenter offloads")
        await asyncio.sleep(0)


async def test_the_tab_gives_the_facilitator_the_controls_and_a_stranger_nothing(
    database_url: str,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    browser: Browser,
) -> None:
    with serve_openid(ISSUER) as openid:
        async with meeting_scene(
            database_url,
            connector,
            http,
            tab_sso_metadata_url=openid.metadata_url,
            tab_sso_audience=AUDIENCE,
            allowed_tenant_ids=[TENANT],
        ) as meeting:
            stranger = meeting.person("Sam Stranger", None)
            for person in meeting.people.values():
                if person is not stranger:
                    connector.members[MEETING_CHAT].add(person.aad_id)
            await begin_with_roles(meeting)

            facilitator = await browser.new_page()
            await in_teams(facilitator, MEETING_CHAT, token(openid, meeting.facilitator))
            await facilitator.goto(meeting.bot.url + "live/tab")
            await expect(facilitator.locator("#stage-title")).to_have_text(
                "Case Presenter offloads"
            )
            await expect(facilitator.locator("#holders")).to_contain_text("Pat Presenter")
            await expect(facilitator.locator("#controls")).to_be_visible()
            await facilitator.locator('[data-control="next"]').click()
            await expect(facilitator.locator("#stage-title")).not_to_have_text(
                "Case Presenter offloads", timeout=1000
            )
            await meeting.bot.settle()
            assert "Stage 2 of 6" in card_text(meeting.stage_card())  # the chat's card too

            consultant = await browser.new_page()
            await in_teams(consultant, MEETING_CHAT, token(openid, meeting.consultant))
            await consultant.goto(meeting.bot.url + "live/tab")
            await expect(consultant.locator("#plan li[aria-current=step]")).to_have_count(1)
            await expect(consultant.locator("#controls")).to_be_hidden()

            for who, bearer in (
                ("not in the meeting", token(openid, stranger)),
                ("another tenant", token(openid, meeting.consultant, tenant=OTHER_TENANT)),
            ):
                page = await browser.new_page()
                await in_teams(page, MEETING_CHAT, bearer)
                async with page.expect_response("**/live/tab/session") as refused:
                    await page.goto(meeting.bot.url + "live/tab")
                assert (await refused.value).status == 403, who
                await expect(page.locator("#stage-title")).to_have_text("Not available")
                body = await page.locator("body").inner_text()
                assert not any(name in body for name in NAMES), who


async def test_two_instances_on_postgresql_share_a_press_within_a_second(
    postgres_url: str, connector: FakeConnector, http: aiohttp.ClientSession, browser: Browser
) -> None:
    async with (
        meeting_scene(postgres_url, connector, http) as meeting,
        second_instance(meeting) as other,
    ):
        await begin(meeting, "space_to_think")
        link = urlsplit(await room_link(meeting)).path
        page = await open_page(browser, other.url.rstrip("/") + link)  # the other one
        await expect(page.locator("#stage-title")).to_have_text("Case Presenter offloads")
        pressed = time.monotonic()
        await meeting.control(meeting.facilitator, "session_next")  # handled by the first
        await expect(page.locator("#stage-title")).not_to_have_text(
            "Case Presenter offloads", timeout=1000
        )
        assert time.monotonic() - pressed < 1.5
