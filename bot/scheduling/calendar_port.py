"""The calendar port: what the bot needs from the organiser's Outlook calendar and Teams.

One adapter implements it with Microsoft Graph (`bot.scheduling.graph`); the tests run that
adapter against a loopback server that answers like Graph (`tests.support.graph`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class CalendarError(Exception):
    """A calendar call failed; `message` tells an admin what to fix.

    `status` is the HTTP status (0 when Graph could not be reached), `code` the service's
    error code, and `retry_after` the seconds the service asked us to wait (throttling).
    """

    def __init__(
        self, status: int, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"CalendarError({self.status}, {self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class FreeBusy:
    person: str  # the email address asked about
    busy: list[tuple[datetime, datetime]]  # UTC-aware (start, end), in the service's order


@dataclass(frozen=True)
class NewMeeting:
    transaction_id: str  # stable per meeting: creating twice with it gives one event
    subject: str
    body_html: str
    start: datetime  # timezone-aware
    end: datetime
    time_zone: str  # IANA name, e.g. "Europe/London": the zone the invitation shows
    attendees: list[tuple[str, str]]  # (display name, email)


@dataclass(frozen=True)
class Booked:
    event_id: str
    join_url: str
    chat_id: str | None  # the meeting chat, 19:meeting_...@thread.v2, if already known
    # When the event starts, as the calendar has it: a retry with an old transaction id gets
    # back the event made the first time, at the time asked for then.
    start: datetime | None = None


class CalendarPort(Protocol):
    async def free_busy(self, people: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
        """Busy intervals of each person between start and end (aware datetimes).

        A person whose calendar cannot be read (unknown address, another organisation) is
        left out of the answer rather than reported as free.
        """
        ...

    async def book(self, meeting: NewMeeting) -> Booked:
        """Creates the Teams meeting (once per transaction id); see meeting_chat for its chat."""
        ...

    async def meeting_chat(self, join_url: str) -> str | None:
        """The chat of the Teams meeting with this join link; None if not found (yet)."""
        ...

    async def move(self, event_id: str, start: datetime, end: datetime, note: str) -> None:
        """Moves the meeting; attendees get the update with the note in its body."""
        ...

    async def cancel(self, event_id: str, note: str) -> None:
        """Cancels the meeting with a note to attendees; an already deleted one is fine."""
        ...

    async def install_app(self, chat_id: str, teams_app_id: str) -> bool:
        """Installs the Teams app in the chat: True if installed now, False if already there."""
        ...
