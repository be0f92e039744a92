"""The stage clock's rules, on their own: no database, no Teams, no sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.protocols import Collect, Step
from bot.sessions.timing import (
    Control,
    NotNow,
    PromptKind,
    Rules,
    Status,
    Timing,
    apply,
    next_tick,
    remaining,
    tick,
)

T0 = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def step(title: str, minutes: float, *, most: float | None = None, auto: bool = False) -> Step:
    return Step(
        title,
        title,
        "A",
        "B",
        "guidance",
        (),
        minutes,
        minutes,
        most or minutes,
        Collect.NONE,
        auto,
    )


RULES = Rules(
    [step("one", 5, most=10), step("two", 2, auto=True), step("three", 10)],
    warning_seconds=60,
    extend_seconds=120,
    refresh_seconds=60,
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def begun() -> Timing:
    timing = Timing.fresh(3)
    apply(timing, Control.BEGIN, RULES, T0)
    timing.prompts.clear()
    return timing


def kinds(timing: Timing) -> list[PromptKind]:
    found = [p.kind for p in timing.prompts]
    timing.prompts.clear()
    return found


def test_warning_then_time_up_each_once() -> None:
    timing = begun()
    assert next_tick(timing, RULES) == at(1)  # the first card refresh
    tick(timing, RULES, at(3.99))
    assert kinds(timing) == []
    tick(timing, RULES, at(4))
    assert kinds(timing) == [PromptKind.WARNING]
    tick(timing, RULES, at(4.5))
    assert kinds(timing) == []
    tick(timing, RULES, at(5))
    assert kinds(timing) == [PromptKind.TIME_UP]
    for minute in range(6, 30):
        tick(timing, RULES, at(minute))
    assert kinds(timing) == []
    assert timing.step == 0 and remaining(timing, at(7)) == -120


def test_pause_stops_the_clock_and_the_time_spent() -> None:
    timing = begun()
    apply(timing, Control.PAUSE, RULES, at(2))
    assert timing.status is Status.PAUSED and remaining(timing, at(50)) == 180
    assert next_tick(timing, RULES) is None
    apply(timing, Control.RESUME, RULES, at(50))
    assert timing.ends_at == at(53)
    apply(timing, Control.NEXT, RULES, at(51))
    assert timing.time_spent[0] == 180  # two minutes, then one after the pause
    with pytest.raises(NotNow):
        apply(timing, Control.RESUME, RULES, at(51))


def test_added_time_stops_at_the_guidance_maximum() -> None:
    timing = begun()
    apply(timing, Control.ADD_TIME, RULES, at(1))
    apply(timing, Control.ADD_TIME, RULES, at(1))
    assert timing.allotted_seconds == 540
    apply(timing, Control.ADD_TIME, RULES, at(1))  # only one minute of room was left
    assert timing.allotted_seconds == 600 and timing.ends_at == at(10)
    with pytest.raises(NotNow, match="10 minutes the guidance allows"):
        apply(timing, Control.ADD_TIME, RULES, at(1))


def test_time_added_after_the_end_counts_from_now_and_warns_again() -> None:
    timing = begun()
    tick(timing, RULES, at(6))
    assert kinds(timing) == [PromptKind.TIME_UP]
    apply(timing, Control.ADD_TIME, RULES, at(6))
    assert timing.ends_at == at(8) and not timing.time_up_sent
    tick(timing, RULES, at(7))
    tick(timing, RULES, at(8))
    assert kinds(timing) == [PromptKind.WARNING, PromptKind.TIME_UP]


def test_a_step_that_moves_on_by_itself_starts_from_now_after_downtime() -> None:
    timing = begun()
    apply(timing, Control.NEXT, RULES, at(5))  # step "two": 2 minutes, moves on by itself
    kinds(timing)
    tick(timing, RULES, at(40))  # the bot was away for half an hour
    prompts = list(timing.prompts)
    assert [p.kind for p in prompts] == [PromptKind.MOVED_ON, PromptKind.STEP_STARTED]
    assert prompts[0].late_seconds == 33 * 60
    assert timing.step == 2 and timing.ends_at == at(50)  # not replayed: a fresh ten minutes


def test_back_next_and_end_keep_to_the_plan() -> None:
    timing = begun()
    with pytest.raises(NotNow, match="first stage"):
        apply(timing, Control.BACK, RULES, at(1))
    apply(timing, Control.NEXT, RULES, at(1))
    apply(timing, Control.NEXT, RULES, at(2))
    with pytest.raises(NotNow, match="last stage"):
        apply(timing, Control.NEXT, RULES, at(3))
    apply(timing, Control.BACK, RULES, at(3))
    assert timing.step == 1 and timing.time_spent == [60, 60, 60]
    apply(timing, Control.END, RULES, at(4))
    assert timing.status is Status.ENDED and timing.time_spent[1] == 120
    assert next_tick(timing, RULES) is None
    with pytest.raises(NotNow, match="ended"):
        apply(timing, Control.NEXT, RULES, at(5))


def test_nothing_moves_before_begin() -> None:
    timing = Timing.fresh(3)
    for control in (Control.NEXT, Control.PAUSE, Control.ADD_TIME):
        with pytest.raises(NotNow, match="Begin"):
            apply(timing, control, RULES, T0)
    assert tick(timing, RULES, at(100)) is False
