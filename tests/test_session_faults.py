"""Sessions when things go wrong: a prompt whose send died with its process, a meeting that
ends with its session still running, a session nobody comes back to. Over real HTTP, with
the real app, a loopback Bot Connector, a fake clock, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.core.database import session_factory
from bot.core.models import OutboxMessage
from bot.core.protocols import Collect, Step
from bot.sessions.timing import Control, Rules, Status, Timing, abandoned_at, apply, next_tick
from tests.support.client import card_text, cards_in
from tests.support.connector import Failure, FakeConnector
from tests.support.databases import engine_for
from tests.support.meeting import (
    AFTERNOON,
    MEETING_CHAT,
    Meeting,
    button_data,
    meeting_scene,
    shown,
    verbs_on,
)


class HeldConnector(FakeConnector):
    """Holds the first send whose text contains `hold` and never answers it: the Bot
    Connector is still answering when the bot's process dies."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = ""
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def _send(self, request: web.Request) -> web.Response:
        activity = await request.json()
        if self.hold and self.hold in str(activity.get("text") or ""):
            self.hold = ""
            self.holding.set()
            await self.release.wait()
            return web.json_response({"error": {"code": "Gone"}}, status=503)
        return await super()._send(request)


@pytest.fixture
async def held() -> AsyncIterator[HeldConnector]:
    fake = HeldConnector()
    await fake.start()
    yield fake
    fake.release.set()
    await fake.close()
    assert fake.invalid_cards == []


async def begin(meeting: Meeting, model: str = "space_to_think") -> None:
    await meeting.set_up(model)
    roles = meeting.posted_cards("Roles: ")[-1]
    await meeting.press(meeting.facilitator, "session_begin", **button_data(roles, "session_begin"))
    await meeting.bot.settle()


async def meeting_ends(
    meeting: Meeting, at: str = "2026-11-24T13:30:00Z", **fields: Any
) -> list[dict[str, Any]]:
    return await meeting.organiser.post(
        meeting.organiser.activity(
            type="event",
            name="application/vnd.microsoft.meetingEnd",
            value={
                "Id": "meeting",
                "JoinUrl": "https://teams.example/join",
                "Title": "RP",
                "MeetingType": "Scheduled",
                "EndTime": at,
            },
            **fields,
        )
    )


async def out_of_date(meeting: Meeting) -> list[OutboxMessage]:
    engine = engine_for(meeting.bot.settings.database_url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.scalars(
                select(OutboxMessage).where(OutboxMessage.last_error.startswith("out of date"))
            )
            return list(rows)
    finally:
        await engine.dispose()


# --- defect 6: a time-bound prompt is never sent late ------------------------------------


async def test_a_time_up_whose_send_died_with_its_process_is_not_sent_late(
    database_url: str,
    held: HeldConnector,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.core.outbox")
    async with meeting_scene(database_url, held, http) as meeting:
        await begin(meeting)  # stage 1: 13:00 to 13:05
        for scheduler in meeting.bot.runtime.schedulers:
            await scheduler.stop()  # from here, only the test runs this process's jobs
        held.hold = "Time is up"
        meeting.clock.advance(minutes=5)
        dying = asyncio.create_task(meeting.bot.settle())
        await asyncio.wait_for(held.holding.wait(), 10)
        dying.cancel()  # the process dies while the Bot Connector is answering the send
        with suppress(asyncio.CancelledError):
            await dying
        await meeting.bot.stop()

        meeting.clock.advance(minutes=2, seconds=30)  # 13:07:30: the claim's lease is over
        await meeting.bot.start()
        for user in meeting.people.values():
            user.bot_url = meeting.bot.url
        await meeting.bot.settle()

        said = meeting.texts()
        assert not any("Time is up" in t for t in said), said  # not two and a half minutes on
        assert "Time is up" in card_text(meeting.stage_card())  # the card says so anyway
        dropped = await out_of_date(meeting)
        assert len(dropped) == 1 and dropped[0].failed_at is not None
        assert dropped[0].sent_at is None
        assert any(
            r.levelno == logging.INFO and "out of date" in r.getMessage() for r in caplog.records
        )
        assert await meeting.bot.runtime.outbox.pending() == 0


async def test_a_time_up_held_up_past_its_moment_by_retry_after_is_dropped(
    meeting: Meeting,
) -> None:
    await begin(meeting)
    await meeting.advance(minutes=4)  # the warning: on the card only, no message
    assert meeting.texts() == []
    # Teams says "wait 45 seconds" to the connector's four tries: the outbox tries again later.
    busy = Failure(429, {"Retry-After": "45"})
    meeting.connector.failures_for[MEETING_CHAT].extend([busy] * 4)
    await meeting.advance(minutes=1)  # 13:05: time is up
    await meeting.advance(seconds=45)  # 13:05:45: past its 30 seconds, it is not said late
    assert not any("Time is up" in t for t in meeting.texts())
    assert len(await out_of_date(meeting)) == 1
    assert "Time is up" in card_text(meeting.stage_card())


# --- defect 8: sessions end with their meeting, or when nobody comes back ----------------


async def test_the_meeting_ending_ends_its_session_with_the_summary(meeting: Meeting) -> None:
    await begin(meeting)
    await meeting.advance(minutes=3)
    await meeting.control(meeting.facilitator, "session_next")
    await meeting.advance(minutes=2)

    await meeting_ends(meeting)
    await meeting.bot.settle()

    posts = meeting.chat_posts()
    notes = [i for i, p in enumerate(posts) if "The meeting has ended" in str(p.get("text"))]
    summaries = [i for i, p in enumerate(posts) if "Session summary" in card_text_of(p)]
    assert len(notes) == 1 and len(summaries) == 1
    assert notes[0] < summaries[0]  # the note, then the summary
    assert len(meeting.posted_cards("Session summary")) == 1
    text = card_text(meeting.posted_cards("Session summary")[0])
    assert "A multi-agency reflective session (Space to Think) took place on 24 November 2026" in (
        text
    )
    assert "5 min planned, took 3 minutes" in text  # stage 1
    assert verbs_on(meeting.stage_card()) == []  # the live card has no buttons left
    row = await meeting.session_row()
    assert row.status == "ended" and row.next_tick_at is None

    updates = len(meeting.connector.updates_to(MEETING_CHAT))
    await meeting.advance(hours=1)
    await meeting_ends(meeting)  # told again: nothing more
    await meeting.advance(hours=1)
    assert len(meeting.connector.updates_to(MEETING_CHAT)) == updates
    assert len(meeting.posted_cards("Session summary")) == 1


async def test_the_end_of_another_meeting_in_the_chat_leaves_the_session_running(
    meeting: Meeting,
) -> None:
    """A recurring series shares one chat: a late meetingEnd from an earlier occurrence (it
    ended before this session was set up), or one naming another meeting, is not this one's."""
    await begin(meeting)
    await meeting_ends(meeting, at="2026-11-17T13:30:00Z")  # last week's
    other = meeting.organiser.activity()["channelData"] | {"meeting": {"id": "another-meeting"}}
    await meeting_ends(meeting, channelData=other)
    await meeting.bot.settle()

    assert (await meeting.session_row()).status == "running"
    assert meeting.posted_cards("Session summary") == []


async def test_the_meeting_ending_before_begin_cancels_the_set_up(meeting: Meeting) -> None:
    await meeting.set_up("space_to_think")
    await meeting_ends(meeting)
    await meeting.bot.settle()
    assert any("before the session began" in t for t in meeting.texts())
    assert meeting.posted_cards("Session summary") == []
    again = await meeting.facilitator.say("<at>Reflective practice</at> start session")
    assert "Set up a reflective session" in card_text(cards_in(again)[0])


async def test_a_running_session_nobody_comes_back_to_ends_and_stops_redrawing(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with meeting_scene(database_url, connector, http, session_idle_hours=1) as meeting:
        await begin(meeting)  # planned: 13:00 to 13:35; nobody presses anything after Begin
        for _ in range(6):
            await meeting.advance(minutes=15)  # 14:30: still running, redrawn each minute
        assert (await meeting.session_row()).status == "running"
        assert meeting.posted_cards("Session summary") == []

        await meeting.advance(minutes=6)  # 14:36: an hour past its planned end
        assert (await meeting.session_row()).status == "ended"
        summary = meeting.posted_cards("Session summary")
        assert len(summary) == 1
        # Counted up to when stage 1's time ran out, not the hour and a half it was left.
        assert "5 min planned, took 5 minutes" in card_text(summary[0])
        assert any("not been used since 13:05" in t for t in meeting.texts())
        assert verbs_on(meeting.stage_card()) == []

        posts, updates = len(meeting.chat_posts()), len(connector.updates_to(MEETING_CHAT))
        for _ in range(6):
            await meeting.advance(minutes=30)
        assert len(meeting.chat_posts()) == posts
        assert len(connector.updates_to(MEETING_CHAT)) == updates


async def test_a_paused_session_left_for_the_default_three_hours_ends(meeting: Meeting) -> None:
    await begin(meeting)
    await meeting.advance(minutes=2)
    paused = await meeting.control(meeting.facilitator, "session_pause")
    assert "Paused" in shown(paused)
    # Planned end: 13:02 plus the 3 minutes left plus the 30 minutes after stage 1: 13:35.
    await meeting.advance(hours=3, minutes=30)  # 16:32
    assert (await meeting.session_row()).status == "paused"
    await meeting.advance(minutes=4)  # 16:36
    assert (await meeting.session_row()).status == "ended"
    assert any("not been used since 13:02" in t for t in meeting.texts())
    summary = meeting.posted_cards("Session summary")
    assert len(summary) == 1 and "5 min planned, took 2 minutes" in card_text(summary[0])


def card_text_of(activity: dict[str, Any]) -> str:
    return "\n".join(card_text(card) for card in cards_in([activity]))


# --- the rule on its own ----------------------------------------------------------------------


def test_any_use_of_a_session_puts_off_giving_it_up() -> None:
    step = Step("s", "Stage", "A", "B", "", (), 10, 10, 20, Collect.NONE, False)
    rules = Rules([step, step], 60, 300, 60, abandon_after=timedelta(hours=3))
    timing = Timing.fresh(2)
    assert abandoned_at(timing, rules) is None  # not begun: nothing runs, nothing to give up
    apply(timing, Control.BEGIN, rules, AFTERNOON)
    assert abandoned_at(timing, rules) == AFTERNOON + timedelta(minutes=20, hours=3)
    later = AFTERNOON + timedelta(hours=2)
    apply(timing, Control.NEXT, rules, later)  # a press long after the plan's end
    assert abandoned_at(timing, rules) == later + timedelta(minutes=10, hours=3)
    apply(timing, Control.PAUSE, rules, later)
    assert next_tick(timing, rules) == later + timedelta(minutes=10, hours=3)
    apply(timing, Control.END, rules, later)
    assert timing.status is Status.ENDED and abandoned_at(timing, rules) is None
