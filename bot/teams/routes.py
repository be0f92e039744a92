"""What each feature gives the app: its commands, card actions, timed jobs and deliveries.

Every feature's `wiring(...)` returns one `Feature`; `app.py` merges them with `merge`,
which refuses two features claiming the same command, verb, job or outbox kind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.core.outbox import Delivery
from bot.teams.files import FileConsent
from bot.teams.turn import ArgumentCommand, CardAction, Command, Turn
from cards.verbs import Verb

Job = Callable[[datetime], Awaitable[Any]]
Deliver = Callable[[Delivery], Awaitable[None]]
# `help` in a shared chat a feature owns (the triage desk): answers with the feature's own
# help, after the text given (if any), and says whether it did; False leaves it to the app.
HelpHere = Callable[[Turn, str], Awaitable[bool]]


async def _nobody_helps(context: Turn, lead: str = "") -> bool:
    return False


@dataclass(frozen=True)
class Participant:
    """Someone Teams says has joined the meeting."""

    id: str
    name: str


class MeetingEvents(Protocol):
    """What the sessions feature does when Teams tells the bot about a meeting."""

    async def post_opening(self, context: Turn) -> None: ...

    async def on_meeting_start(self, context: Turn) -> None: ...

    async def on_meeting_end(self, context: Turn, ended_at: datetime | None) -> None: ...

    async def note_joined(self, context: Turn, people: list[Participant]) -> None: ...


@dataclass(frozen=True)
class Feature:
    # Typed commands and the card buttons that act outside the referral form, by verb.
    commands: Mapping[Verb, Command] = field(default_factory=dict)
    argument_commands: Mapping[Verb, ArgumentCommand] = field(default_factory=dict)
    # Action.Execute verbs.
    card_actions: Mapping[str, CardAction] = field(default_factory=dict)
    # Work the scheduler runs on every tick, by name.
    jobs: Mapping[str, Job] = field(default_factory=dict)
    # How the outbox delivers each kind of message the feature queues.
    deliveries: Mapping[str, Deliver] = field(default_factory=dict)
    meeting: MeetingEvents | None = None
    # What to do when someone accepts or declines a file the bot offered (bot.teams.files).
    file_consent: FileConsent | None = None
    help_here: HelpHere = _nobody_helps


def merge(features: Iterable[Feature]) -> Feature:
    merged: dict[str, dict[Any, Any]] = {
        name: {} for name in ("commands", "argument_commands", "card_actions", "jobs", "deliveries")
    }
    meeting: MeetingEvents | None = None
    file_consent: FileConsent | None = None
    helpers: list[HelpHere] = []
    for feature in features:
        for name, table in merged.items():
            entries: Mapping[Any, Any] = getattr(feature, name)
            clash = table.keys() & entries.keys()
            if clash:
                raise ValueError(f"two features claim the same {name}: {sorted(map(str, clash))}")
            table.update(entries)
        if feature.meeting is not None:
            if meeting is not None:
                raise ValueError("two features handle meeting events")
            meeting = feature.meeting
        if feature.file_consent is not None:
            if file_consent is not None:
                raise ValueError("two features handle file consent answers")
            file_consent = feature.file_consent
        if feature.help_here is not _nobody_helps:
            helpers.append(feature.help_here)

    async def help_here(context: Turn, lead: str = "") -> bool:
        for helper in helpers:  # the first feature that owns the chat answers
            if await helper(context, lead):
                return True
        return False

    return Feature(**merged, meeting=meeting, file_consent=file_consent, help_here=help_here)
