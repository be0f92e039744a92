"""The pacer keeps every conversation inside Teams' windows, on a fake clock and over HTTP."""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from datetime import UTC, datetime

import aiohttp
import pytest

from bot.teams.connector import ConnectorSender
from bot.teams.pacing import TEAMS_WINDOWS, ConversationPacer, Windows
from tests.support.clock import FakeClock
from tests.support.connector import Failure, FakeConnector

MEETING = "19:meeting@thread.v2"


def fake_clock() -> FakeClock:
    """A clock that moves only when the test moves it or someone sleeps on it."""
    return FakeClock(datetime(2026, 11, 23, 15, 0, tzinfo=UTC))


def fake_pacer(clock: FakeClock, windows: Windows = TEAMS_WINDOWS) -> ConversationPacer:
    return ConversationPacer(windows, margin=0.0, clock=clock)


def most_in_any_span(times: list[float], seconds: float) -> int:
    """The most sends that fall in any half-open span [t, t + seconds)."""
    ordered = sorted(times)
    return max(bisect_left(ordered, t + seconds) - i for i, t in enumerate(ordered))


def assert_inside(times: list[float], windows: Windows) -> None:
    for seconds, limit in windows:
        assert most_in_any_span(times, seconds) <= limit, (seconds, limit)


async def no_token() -> None:
    return None


@pytest.mark.parametrize(
    "windows", [TEAMS_WINDOWS, ((1.0, 3), (10.0, 5), (3600.0, 20))], ids=["teams", "hourly"]
)
async def test_no_window_ever_holds_more_than_its_limit(windows: Windows) -> None:
    clock = fake_clock()
    pacer = fake_pacer(clock, windows)
    times: list[float] = []
    waits: list[float] = []
    for _ in range(200):
        waits.append(await pacer.acquire(MEETING))
        times.append(clock.monotonic())
    assert_inside(times, windows)
    # And no send waited longer than it had to: each wait ended as some window freed up.
    for k, (sent, waited) in enumerate(zip(times, waits, strict=True)):
        if waited > 0:
            assert any(
                k >= limit and sent == pytest.approx(times[k - limit] + seconds)
                for seconds, limit in windows
            ), k


async def test_the_eighth_send_in_a_second_waits_until_the_first_is_a_second_old() -> None:
    clock = fake_clock()
    pacer = fake_pacer(clock)
    for _ in range(7):
        assert await pacer.acquire(MEETING) == 0.0
        clock.advance(seconds=0.1)
    assert await pacer.acquire(MEETING) == pytest.approx(0.3)  # sent at 0.7, allowed at 1.0
    assert clock.monotonic() == pytest.approx(1.0)
    # The ninth meets the 8-in-2-s window: it waits until the first send is 2 s old.
    assert await pacer.acquire(MEETING) == pytest.approx(1.0)
    assert clock.monotonic() == pytest.approx(2.0)


async def test_concurrent_acquires_never_overshoot_and_are_served_in_order() -> None:
    clock = fake_clock()
    pacer = fake_pacer(clock)
    times: list[float] = []
    served: list[int] = []

    async def send(number: int) -> None:
        await pacer.acquire(MEETING)
        times.append(clock.monotonic())
        served.append(number)

    await asyncio.gather(*(send(n) for n in range(100)))
    assert len(times) == 100
    assert_inside(times, TEAMS_WINDOWS)
    assert served == list(range(100))


async def test_conversations_do_not_wait_for_each_other() -> None:
    clock = fake_clock()
    pacer = fake_pacer(clock)
    for _ in range(7):
        await pacer.acquire("busy")
    busy, quiet = await asyncio.gather(pacer.acquire("busy"), pacer.acquire("quiet"))
    assert busy == pytest.approx(1.0)
    assert quiet == 0.0


async def test_idle_conversations_are_forgotten_and_recent_ones_kept() -> None:
    clock = fake_clock()
    pacer = fake_pacer(clock, ((1.0, 2),))
    for n in range(100):
        await pacer.acquire(f"idle-{n}")
    clock.advance(seconds=0.5)
    await pacer.acquire("recent")
    clock.advance(seconds=0.7)  # the idle ones are now older than the longest window
    await pacer.acquire("recent")
    for n in range(200):
        await pacer.acquire(f"new-{n}")
    assert pacer.tracked() == 201  # "recent" and the new ones
    # What "recent" sent still counts: two in the last second, so its next send waits.
    assert await pacer.acquire("recent") == pytest.approx(0.3)


async def test_the_margin_widens_every_window() -> None:
    clock = fake_clock()
    pacer = ConversationPacer(((1.0, 1),), margin=0.25, clock=clock)
    await pacer.acquire(MEETING)
    assert await pacer.acquire(MEETING) == pytest.approx(1.25)


def test_windows_must_make_sense() -> None:
    for windows in [(), ((0.0, 7),), ((1.0, 0),)]:
        with pytest.raises(ValueError):
            ConversationPacer(windows)


async def test_concurrent_sends_over_http_stay_inside_the_window(
    connector: FakeConnector,
) -> None:
    windows = ((0.5, 3),)
    async with aiohttp.ClientSession() as http:
        sender = ConnectorSender(http, pacer=ConversationPacer(windows=windows))
        body = {"type": "message", "text": "x"}
        await asyncio.gather(
            *(sender.send(connector.url, MEETING, body, no_token) for _ in range(9))
        )
    assert len(connector.activities) == 9
    assert len(connector.request_times) == 9
    assert_inside(connector.request_times, windows)


async def test_retry_after_is_honoured_and_the_retry_is_paced(connector: FakeConnector) -> None:
    clock = fake_clock()
    connector.failures.append(Failure(429, {"Retry-After": "1"}))
    async with aiohttp.ClientSession() as http:
        pacer = fake_pacer(clock, ((10.0, 1),))
        sender = ConnectorSender(http, clock=clock, pacer=pacer)
        await sender.send(connector.url, MEETING, {"type": "message", "text": "x"}, no_token)
    # Retry-After, as the connector said; then the pacer's wait for the window.
    assert clock.slept == [1.0, pytest.approx(9.0)]
    # The retry is a request like any other: it waited for the window, 9 s after Retry-After.
    assert clock.monotonic() == pytest.approx(10.0)
    assert len(connector.requests) == 2
    assert [a["text"] for a in connector.activities] == ["x"]


async def test_updates_are_paced_and_member_lookups_are_not(connector: FakeConnector) -> None:
    clock = fake_clock()
    connector.members[MEETING].add("aad-1")
    async with aiohttp.ClientSession() as http:
        sender = ConnectorSender(http, clock=clock, pacer=fake_pacer(clock, ((5.0, 1),)))
        await sender.send(connector.url, MEETING, {"type": "message", "text": "x"}, no_token)
        assert await sender.member(connector.url, MEETING, "aad-1", no_token) is not None
        assert clock.monotonic() == 0.0
        await sender.update(connector.url, MEETING, "act-1", {"type": "message"}, no_token)
        assert clock.monotonic() == pytest.approx(5.0)
    assert len(connector.updates) == 1
