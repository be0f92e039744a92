"""Reminders and the weekly digest fire at the right time: an injected clock, no sleeping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import aiohttp
import pytest

from bot.core.working_days import WorkingCalendar
from tests.support.client import card_text, cards_in
from tests.support.connector import FakeConnector
from tests.support.triage import DESK, Scene, triage_scene

# Thursday 24 December 2026, 10:00 in London: Christmas Day and the Boxing Day substitute
# (Monday 28th) are bank holidays, so two working days later is Wednesday 30th.
CHRISTMAS_EVE = datetime(2026, 12, 24, 10, 0, tzinfo=UTC)


def reminders_on_desk(scene: Scene) -> list[str]:
    return [
        card_text(card)
        for card in cards_in(scene.connector.sent_to(DESK))
        if "Waiting for triage" in card_text(card)
    ]


def digests_on_desk(scene: Scene) -> list[str]:
    return [
        card_text(card)
        for card in cards_in(scene.connector.sent_to(DESK))
        if "Weekly referral digest" in card_text(card)
    ]


@pytest.fixture
async def christmas(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> AsyncIterator[Scene]:
    async with triage_scene(database_url, connector, http, start=CHRISTMAS_EVE) as scene:
        await scene.register_desk()
        yield scene


async def test_reminder_comes_after_two_working_days_skipping_bank_holidays(
    christmas: Scene,
) -> None:
    scene = christmas
    reference = await scene.refer()
    for moment in (
        datetime(2026, 12, 29, 9, 59, tzinfo=UTC),  # Tuesday: one working day so far
        datetime(2026, 12, 30, 9, 59, tzinfo=UTC),  # Wednesday, a minute early
    ):
        scene.clock.set(moment)
        await scene.bot.settle()
        assert reminders_on_desk(scene) == []
    scene.clock.set(datetime(2026, 12, 30, 10, 0, tzinfo=UTC))
    await scene.bot.settle()
    await scene.bot.settle()
    reminders = reminders_on_desk(scene)
    assert len(reminders) == 1  # once, however often the scheduler runs
    assert f"{reference} arrived 2 working days ago" in reminders[0]


async def test_no_reminder_once_triaged(christmas: Scene) -> None:
    scene = christmas
    reference = await scene.refer()
    card = scene.desk_card(reference)
    version = card["actions"][0]["data"]["version"]
    await scene.admin.invoke(
        "triage_decline",
        {"reference": reference, "version": version, "reason": "No.", "signpost": "0"},
    )
    scene.clock.set(datetime(2027, 1, 8, 12, 0, tzinfo=UTC))
    await scene.bot.settle()
    assert reminders_on_desk(scene) == []


async def test_weekly_digest_on_monday_morning_once(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    # Registered on a Wednesday; the first digest is the next Monday at 09:00 London time.
    wednesday = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    async with triage_scene(database_url, connector, http, start=wednesday) as scene:
        await scene.register_desk()
        first = await scene.refer()
        await scene.refer()
        scene.clock.set(datetime(2026, 11, 30, 8, 59, tzinfo=UTC))
        await scene.bot.settle()
        assert digests_on_desk(scene) == []

        scene.clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
        await scene.bot.settle()
        await scene.bot.settle()
        digests = digests_on_desk(scene)
        assert len(digests) == 1
        digest = digests[0]
        assert "**2** received in the last 7 days; **2** waiting for triage." in digest
        assert "Submitted, waiting for triage\n2" in digest
        assert "Space to Think\n2" in digest
        assert "Health Visiting\n2" in digest
        assert f"{first}\nSubmitted, waiting for triage, 3 working days" in digest

        scene.clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
        await scene.bot.settle()
        assert len(digests_on_desk(scene)) == 2


async def test_digest_on_request_for_admins(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    async with triage_scene(database_url, connector, http) as scene:
        await scene.register_desk()
        await scene.refer()
        sent = cards_in(await scene.admin.say("<at>Reflective practice</at> digest"))
        assert "Weekly referral digest" in card_text(sent[0])


def test_working_days_follow_summer_time_and_bank_holidays() -> None:
    calendar = WorkingCalendar()
    # Friday 23 October 2026, 09:30 BST; clocks go back on Sunday 25th.
    due = calendar.add_working_days(datetime(2026, 10, 23, 8, 30, tzinfo=UTC), 2)
    assert calendar.local(due).strftime("%a %d %H:%M") == "Tue 27 09:30"
    # Good Friday 2027 at 10:00: counting starts Tuesday 30 March 09:00 (Easter Monday off).
    due = calendar.add_working_days(datetime(2027, 3, 26, 10, 0, tzinfo=UTC), 2)
    assert calendar.local(due).strftime("%a %d %b %H:%M") == "Thu 01 Apr 09:00"
    # After hours on a Friday: Monday 09:00 is the start, Wednesday 09:00 the due time.
    due = calendar.add_working_days(datetime(2026, 11, 27, 18, 0, tzinfo=UTC), 2)
    assert calendar.local(due).strftime("%a %d %H:%M") == "Wed 02 09:00"
    # One-off bank holidays come with the holidays package; newer ones can be added.
    assert not calendar.is_working_day(date(2022, 9, 19))  # the Queen's state funeral
    extra = WorkingCalendar(extra_holidays=[date(2026, 12, 1)])
    assert not extra.is_working_day(date(2026, 12, 1))
    assert calendar.is_working_day(date(2026, 12, 1))
