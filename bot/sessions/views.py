"""What a session looks like from outside its store: read-only views for cards and handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.protocols import Step
from bot.sessions.timing import Status


@dataclass(frozen=True)
class Holder:
    id: str
    name: str


@dataclass(frozen=True)
class SessionView:
    """A session as the cards show it: timing, roles, the plan. Never what was said."""

    id: int
    reference: str
    tenant_id: str
    referral_id: int | None
    model: str
    protocol: dict[str, Any]
    steps: list[Step]
    status: Status
    step: int
    version: int
    ends_at: datetime | None
    remaining_seconds: float | None
    allotted_seconds: float
    time_spent: list[float]
    no_notes: bool
    independent_facilitator: bool
    facilitator_id: str | None
    facilitator_name: str | None
    roles: dict[str, list[Holder]]
    conversation_reference: dict[str, Any]
    meeting_id: str | None
    stage_card_id: str | None
    roles_card_id: str | None
    started_at: datetime | None
    ended_at: datetime | None
    # How often the stage card has been posted: its buttons carry it, so a press on an
    # earlier copy (collapsed to one line since) is known.
    stage_card_posts: int = 1

    @property
    def name(self) -> str:
        return str(self.protocol["name"])

    @property
    def current(self) -> Step:
        return self.steps[self.step]

    def seconds_left(self, now: datetime) -> float:
        if self.status is Status.PAUSED:
            return self.remaining_seconds or 0.0
        if self.status is Status.RUNNING and self.ends_at is not None:
            return (self.ends_at - now).total_seconds()
        return 0.0

    @property
    def live(self) -> bool:
        """Begun and not ended: its stage card is in the chat, with its controls."""
        return self.started_at is not None and self.status is not Status.ENDED

    def role_name(self, key: str) -> str:
        return next((str(r["name"]) for r in self.protocol["roles"] if r["key"] == key), key)


@dataclass(frozen=True)
class Contribution:
    step: int
    kind: str
    author_id: str
    author_name: str
    content: dict[str, Any]


@dataclass(frozen=True)
class ReferralLink:
    """The accepted referral a session is for (its reference, facilitator, strategy)."""

    id: int
    reference: str
    facilitator_id: str | None
    facilitator_name: str | None
    rethink_strategy: int | None
    model: str = ""
    session_at: datetime | None = None

    @property
    def independent(self) -> bool:
        return self.rethink_strategy == 3  # Re-think strategy 3: an independent facilitator


async def may_drive(
    view: SessionView,
    person_id: str,
    control_roles: Collection[str],
    meeting_role: Callable[[], Awaitable[str | None]],
) -> bool:
    """Who may move a session on, on a card or on the tab: its facilitator, or someone whose
    meeting role is one of SESSION_CONTROL_ROLES (`meeting_role` is asked only then)."""
    if view.facilitator_id and person_id.lower() == view.facilitator_id.lower():
        return True
    if not view.meeting_id or not control_roles:
        return False
    role = await meeting_role()
    return role is not None and role.lower() in control_roles
