"""The stage clock of a session: what each button and each tick of time does to it.

Pure functions on `Timing`, no database and no Teams, so every rule is tested on its own:
the store loads a row into a `Timing`, applies a change, and writes it back with the
prompts the change produced, in one transaction.

Rules worth knowing:
- Time spent on a step counts running time only (pauses are not counted).
- A prompt fires once per step: `warned` and `time_up_sent` are reset only when a step
  starts afresh or gets more time.
- After the bot was down, only what is due now is said: a stage that ended meanwhile gets
  one "time is up" (no late warning first, no minute-by-minute replay), and a step that
  moves on by itself starts its time from now, not from when the bot went away.
- A session nobody uses (no button, no role, no contribution) for `abandon_after` past its
  planned end, running or paused, is ended by the timer, its times counted up to when it was
  last in use; so a forgotten card is not redrawn all night, and the summary still comes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.protocols import Step


class Status(StrEnum):
    READY = "ready"  # roles are being taken; no stage has started
    RUNNING = "running"
    PAUSED = "paused"
    ENDED = "ended"


class Control(StrEnum):
    """What the facilitator's buttons do."""

    BEGIN = "begin"
    PAUSE = "pause"
    RESUME = "resume"
    ADD_TIME = "add_time"
    BACK = "back"
    NEXT = "next"
    END = "end"
    MEETING_ENDED = "meeting_ended"  # not a button: Teams says the meeting is over


ENDINGS = frozenset({Control.END, Control.MEETING_ENDED})


class PromptKind(StrEnum):
    WARNING = "warning"  # a short warning before the end of a step
    TIME_UP = "time_up"  # the step's time is up; the facilitator is asked to move on
    MOVED_ON = "moved_on"  # the step's time is up and the protocol moves on by itself
    STEP_STARTED = "step_started"  # a new step began (a button or moving on by itself)
    ENDED = "ended"
    MEETING_ENDED = "meeting_ended"  # ended (or its set-up cancelled) with the meeting
    ABANDONED = "abandoned"  # nobody used it long past its planned end: ended by the timer


@dataclass(frozen=True)
class Prompt:
    kind: PromptKind
    step: int
    late_seconds: float = 0.0  # how long after it was due it fired (a restart, say)
    # STEP_STARTED only: the step has not been reached before (not a Back and a Next again).
    first: bool = False


@dataclass
class Timing:
    status: Status
    step: int
    ends_at: datetime | None
    remaining_seconds: float | None
    allotted_seconds: float
    running_since: datetime | None
    warned: bool
    time_up_sent: bool
    time_spent: list[float]
    refreshed_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    last_activity_at: datetime | None = None  # a control; the store adds roles, contributions
    reached: int = -1  # the furthest step started so far (-1: none yet)
    prompts: list[Prompt] = field(default_factory=list)

    @classmethod
    def fresh(cls, steps: int) -> Timing:
        return cls(Status.READY, 0, None, None, 0.0, None, False, False, [0.0] * steps)


class NotNow(ValueError):
    """The control does not apply in the session's present state; the text says why."""


@dataclass(frozen=True)
class Rules:
    """Timing settings from the protocol and configuration."""

    plan: list[Step]
    warning_seconds: float
    extend_seconds: float
    refresh_seconds: float
    abandon_after: timedelta | None = None  # None: a session is never given up

    @property
    def last(self) -> int:
        return len(self.plan) - 1


def remaining(timing: Timing, now: datetime) -> float:
    """Seconds left on the current step (negative once it has overrun)."""
    if timing.status is Status.PAUSED:
        return timing.remaining_seconds or 0.0
    if timing.status is Status.RUNNING and timing.ends_at is not None:
        return (timing.ends_at - now).total_seconds()
    return 0.0


def apply(timing: Timing, control: Control, rules: Rules, now: datetime) -> None:
    """Changes `timing` for a facilitator's control, or raises NotNow."""
    status = timing.status
    if status is Status.ENDED:
        raise NotNow("The session has ended.")
    if control is Control.BEGIN:
        if status is not Status.READY:
            raise NotNow("The session has already begun.")
        timing.started_at = now
        _start_step(timing, 0, rules, now)
    elif status is Status.READY and control not in ENDINGS:
        raise NotNow("Press Begin first: no stage has started yet.")
    elif control is Control.PAUSE:
        if status is not Status.RUNNING:
            raise NotNow("The stage is already paused.")
        timing.remaining_seconds = max(0.0, remaining(timing, now))
        _stop_running(timing, now)
        timing.status = Status.PAUSED
        timing.ends_at = None
    elif control is Control.RESUME:
        if status is not Status.PAUSED:
            raise NotNow("The stage is not paused.")
        timing.status = Status.RUNNING
        timing.running_since = now
        timing.ends_at = now + timedelta(seconds=timing.remaining_seconds or 0.0)
        timing.remaining_seconds = None
    elif control is Control.ADD_TIME:
        _add_time(timing, rules, now)
    elif control is Control.NEXT:
        if timing.step >= rules.last:
            raise NotNow("This is the last stage: press End to finish the session.")
        _stop_running(timing, now)
        _start_step(timing, timing.step + 1, rules, now)
    elif control is Control.BACK:
        if timing.step == 0:
            raise NotNow("This is the first stage.")
        _stop_running(timing, now)
        _start_step(timing, timing.step - 1, rules, now)
    elif control in ENDINGS:
        why = PromptKind.ENDED if control is Control.END else PromptKind.MEETING_ENDED
        _end(timing, now, Prompt(why, timing.step))
    timing.last_activity_at = now


def tick(timing: Timing, rules: Rules, now: datetime) -> bool:
    """Fires what is due by `now`; returns whether the live card should be redrawn."""
    give_up = abandoned_at(timing, rules)
    if give_up is not None and now >= give_up:
        _end(timing, _last_in_use(timing, now), Prompt(PromptKind.ABANDONED, timing.step))
        return True
    if timing.status is not Status.RUNNING or timing.ends_at is None:
        return False
    redraw = False
    step = rules.plan[timing.step]
    if not timing.time_up_sent and now >= timing.ends_at:
        late = (now - timing.ends_at).total_seconds()
        timing.time_up_sent = True
        timing.warned = True  # a warning after the end would only confuse
        if step.auto_advance and timing.step < rules.last:
            timing.prompts.append(Prompt(PromptKind.MOVED_ON, timing.step, late))
            _stop_running(timing, now)
            _start_step(timing, timing.step + 1, rules, now)
        else:
            timing.prompts.append(Prompt(PromptKind.TIME_UP, timing.step, late))
        redraw = True
    elif not timing.warned and now >= timing.ends_at - _warning(timing, rules):
        timing.warned = True
        late = (now - (timing.ends_at - _warning(timing, rules))).total_seconds()
        timing.prompts.append(Prompt(PromptKind.WARNING, timing.step, late))
        redraw = True
    if redraw or timing.refreshed_at is None or now >= _next_refresh(timing, rules):
        timing.refreshed_at = now
        redraw = True
    return redraw


def next_tick(timing: Timing, rules: Rules) -> datetime | None:
    """When the timer service must next look at this session (None: not while it waits)."""
    give_up = abandoned_at(timing, rules)
    if timing.status is not Status.RUNNING or timing.ends_at is None:
        return give_up  # paused: only to give it up if nobody comes back
    due = [_next_refresh(timing, rules)] if timing.refreshed_at is not None else []
    if give_up is not None:
        due.append(give_up)
    if not timing.warned:
        due.append(timing.ends_at - _warning(timing, rules))
    if not timing.time_up_sent:
        due.append(timing.ends_at)
    return min(due) if due else None


def abandoned_at(timing: Timing, rules: Rules) -> datetime | None:
    """When a running or paused session that nobody uses is given up: `abandon_after` past
    its planned end, or past its last use if that came later."""
    if rules.abandon_after is None or timing.status not in (Status.RUNNING, Status.PAUSED):
        return None
    used = timing.last_activity_at or timing.started_at
    if used is None:
        return None
    return max(used, _planned_end(timing, rules, used)) + rules.abandon_after


def _planned_end(timing: Timing, rules: Rules, used: datetime) -> datetime:
    """When the session would end if the rest of it ran to plan from where it stands."""
    rest = sum(step.default_minutes for step in rules.plan[timing.step + 1 :]) * 60
    if timing.status is Status.RUNNING and timing.ends_at is not None:
        step_ends = timing.ends_at
    else:  # paused: what was left of the step, from its last use
        step_ends = used + timedelta(seconds=timing.remaining_seconds or 0.0)
    return step_ends + timedelta(seconds=rest)


def _last_in_use(timing: Timing, now: datetime) -> datetime:
    """When a session given up was last in use: its last press, or the end of the stage's
    time if the stage ran on after that (not the hours the card was then left running)."""
    used = timing.last_activity_at or timing.started_at or now
    if timing.status is Status.RUNNING and timing.ends_at is not None:
        return max(used, min(timing.ends_at, now))
    return used


def _end(timing: Timing, at: datetime, prompt: Prompt) -> None:
    _stop_running(timing, at)
    timing.status = Status.ENDED
    timing.ends_at = None
    timing.remaining_seconds = None
    timing.ended_at = at
    timing.prompts.append(prompt)


def _start_step(timing: Timing, step: int, rules: Rules, now: datetime) -> None:
    allotted = rules.plan[step].default_minutes * 60
    timing.step = step
    timing.status = Status.RUNNING
    timing.allotted_seconds = allotted
    timing.running_since = now
    timing.ends_at = now + timedelta(seconds=allotted)
    timing.remaining_seconds = None
    timing.warned = False
    timing.time_up_sent = False
    timing.refreshed_at = now
    timing.prompts.append(Prompt(PromptKind.STEP_STARTED, step, first=step > timing.reached))
    timing.reached = max(timing.reached, step)


def _stop_running(timing: Timing, now: datetime) -> None:
    if timing.status is Status.RUNNING and timing.running_since is not None:
        spent = max(0.0, (now - timing.running_since).total_seconds())
        timing.time_spent[timing.step] += spent
    timing.running_since = None


def _add_time(timing: Timing, rules: Rules, now: datetime) -> None:
    step = rules.plan[timing.step]
    room = step.max_minutes * 60 - timing.allotted_seconds
    if room <= 0:
        raise NotNow(
            f"This stage is already at the {step.max_minutes:g} minutes the guidance allows. "
            "You can carry on, or move on when the group is ready."
        )
    extra = min(rules.extend_seconds, room)
    timing.allotted_seconds += extra
    if timing.status is Status.PAUSED:
        timing.remaining_seconds = (timing.remaining_seconds or 0.0) + extra
        left = timing.remaining_seconds
    else:
        assert timing.ends_at is not None
        # Time added to an overrun stage counts from now: the group gets the minutes it asked for.
        base = max(timing.ends_at, now)
        timing.ends_at = base + timedelta(seconds=extra)
        left = (timing.ends_at - now).total_seconds()
    timing.time_up_sent = False
    timing.warned = left <= _warning(timing, rules).total_seconds()


def _warning(timing: Timing, rules: Rules) -> timedelta:
    # Never more than half the step, so a short stage still gets its warning mid-way.
    return timedelta(seconds=min(rules.warning_seconds, timing.allotted_seconds / 2))


def _next_refresh(timing: Timing, rules: Rules) -> datetime:
    assert timing.refreshed_at is not None
    return timing.refreshed_at + timedelta(seconds=rules.refresh_seconds)
