"""The best few slots for a session, from everyone's busy times: pure, no I/O.

Candidate starts are wall-clock times in the calendar's zone (13:00 in London is 13:00 UTC in
winter and 12:00 UTC in summer), so a Think Space stays an afternoon session all year.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bot.core.working_days import WorkingCalendar


@dataclass(frozen=True)
class Busy:
    """One busy interval of one person; timezone-aware datetimes."""

    person: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Window:
    """When a model's sessions may be held, in the calendar's local time."""

    duration: timedelta
    earliest: time
    latest_end: time
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    step: timedelta = timedelta(minutes=30)

    def __post_init__(self) -> None:
        # A zero step would never leave the day; a zero duration would be free by definition.
        if self.step <= timedelta(0):
            raise ValueError(f"step must be positive, not {self.step}")
        if self.duration <= timedelta(0):
            raise ValueError(f"duration must be positive, not {self.duration}")


@dataclass(frozen=True)
class Slot:
    start: datetime  # UTC, aware
    end: datetime
    free: tuple[str, ...]  # people free for the whole slot, in the order asked about
    busy: tuple[str, ...]  # people busy for some of it


def find_slots(
    busy: list[Busy],
    people: list[str],
    window: Window,
    calendar: WorkingCalendar,
    search_from: datetime,
    search_days: int = 20,
    count: int = 3,
    required: frozenset[str] = frozenset(),
) -> list[Slot]:
    """The best `count` slots starting after `search_from`, best first.

    Days searched are `search_days` local calendar days from `search_from`'s local day. A slot
    is eligible only if everyone in `required` is free for all of it. Slots with more people
    free come first, then earlier ones; at most one slot per day is offered unless fewer than
    `count` days have an eligible slot, so that the admin gets a choice of day.
    """
    if count <= 0:
        return []
    intervals: dict[str, list[tuple[datetime, datetime]]] = {}
    for entry in busy:
        intervals.setdefault(entry.person, []).append((entry.start, entry.end))

    def is_free(person: str, start: datetime, end: datetime) -> bool:
        # Half-open intervals: a meeting ending at 13:00 leaves a 13:00 start free.
        return all(
            not (b_start < end and b_end > start) for b_start, b_end in intervals.get(person, ())
        )

    eligible: list[Slot] = []
    for start, end in _candidates(window, calendar, search_from, search_days):
        if not all(is_free(person, start, end) for person in required):
            continue
        free = tuple(person for person in people if is_free(person, start, end))
        busy_people = tuple(person for person in people if person not in free)
        eligible.append(Slot(start=start, end=end, free=free, busy=busy_people))

    def rank(slot: Slot) -> tuple[int, datetime]:
        return (-len(slot.free), slot.start)

    eligible.sort(key=rank)
    chosen: list[Slot] = []
    days_taken: set[date] = set()
    for slot in eligible:
        day = calendar.local(slot.start).date()
        if day not in days_taken:
            chosen.append(slot)
            days_taken.add(day)
            if len(chosen) == count:
                return chosen
    # Fewer than `count` days have anything: fill up from the same days, best first.
    for slot in eligible:
        if len(chosen) == count:
            break
        if slot not in chosen:
            chosen.append(slot)
    return sorted(chosen, key=rank)


def describe(slot: Slot, calendar: WorkingCalendar) -> str:
    """E.g. "Tuesday 1 December 2026, 13:00 to 14:30 (4 of 5 free)", in local time."""
    start = calendar.local(slot.start)
    end = calendar.local(slot.end)
    people = len(slot.free) + len(slot.busy)
    return (
        f"{start:%A} {start.day} {start:%B %Y}, {start:%H:%M} to {end:%H:%M} "
        f"({len(slot.free)} of {people} free)"
    )


def _candidates(
    window: Window, calendar: WorkingCalendar, search_from: datetime, search_days: int
) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) in UTC of every candidate, in time order."""
    after = calendar.local(search_from)  # naive means UTC, as everywhere in the bot
    first_day = after.date()
    for offset in range(search_days):
        day = first_day + timedelta(days=offset)
        if day.weekday() not in window.weekdays or not calendar.is_working_day(day):
            continue
        latest_end = datetime.combine(day, window.latest_end, calendar.zone).astimezone(UTC)
        # Step on the wall clock, not in elapsed time, so 13:30 is 13:30 on any day.
        wall = datetime.combine(day, window.earliest)
        while wall.date() == day:
            local = wall.replace(tzinfo=calendar.zone)
            wall += window.step
            start = local.astimezone(UTC)
            if calendar.local(start).replace(tzinfo=None) != local.replace(tzinfo=None):
                continue  # a wall-clock time skipped when the clocks went forward
            end = start + window.duration  # elapsed time: a 90-minute session is 90 minutes
            if start > after and end <= latest_end:
                yield start, end


def found_search(
    slots: list[Slot], checked: int, unreadable: int, facilitator_checked: bool = True
) -> dict[str, Any]:
    """A finished search for times, as stored on the referral (`slot_search`)."""
    return {
        "state": "found",
        "slots": [
            {
                "start": slot.start.isoformat(),
                "end": slot.end.isoformat(),
                "free": len(slot.free),
                "of": len(slot.free) + len(slot.busy),
            }
            for slot in slots
        ],
        "checked": checked,
        "unreadable": unreadable,
        "facilitator_checked": facilitator_checked,
    }
