"""What the triage desk shows of a referral: read-only views that other features may read.

Nothing here touches the database; `bot.triage.store` builds these from rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.referrals.model import BookingState, Narrative, ReferralStatus

OPEN = frozenset({ReferralStatus.SUBMITTED, ReferralStatus.MORE_INFO_REQUESTED})
# Times can be found and a session booked (or rebooked) in these.
SCHEDULABLE = frozenset({ReferralStatus.ACCEPTED, ReferralStatus.SCHEDULED})


class Recipient(StrEnum):
    FACILITATOR = "facilitator"
    INVITEE = "invitee"


@dataclass(frozen=True)
class Unreachable:
    """Someone a message about the referral could not reach in Teams: they have not added
    the app (bot.triage.reach reads this from the outbox)."""

    name: str
    recipient: Recipient
    next_try_at: datetime | None  # None: the bot has stopped trying


@dataclass(frozen=True)
class TriageView:
    """What the shared triage card shows: no narrative, no answers."""

    id: int
    reference: str
    tenant_id: str
    status: ReferralStatus
    version: int
    kind: str
    theme: str | None
    model: str
    rethink_strategy: int | None
    referrer_name: str
    referrer_agency: str
    agencies: list[str]
    invitee_count: int
    manager_agreed: bool
    referrer_is_lead: bool
    urgency: str | None
    created_at: datetime
    decided_by_name: str | None
    decided_at: datetime | None
    facilitator_name: str | None
    signpost: str | None
    last_question_at: datetime | None
    last_answer_at: datetime | None
    card_id: str | None  # the shared card on the desk, once posted
    card_conversation_id: str | None
    session_at: datetime | None = None
    meeting_join_url: str | None = None
    # Booking through Graph (bot.scheduling.bookings): None when booked by hand.
    booking_state: BookingState | None = None
    booking_problem: str | None = None
    meeting_app_installed: bool = False
    slot_search: dict[str, Any] | None = None
    unreachable: tuple[Unreachable, ...] = ()

    @property
    def booked_by_graph(self) -> bool:
        return self.booking_state is not None


@dataclass(frozen=True)
class QuestionAndAnswer:
    asked_by: str
    asked_at: datetime
    question: str
    answer: str | None
    answered_at: datetime | None


@dataclass(frozen=True)
class Details:
    """What only the admin who pressed Details sees; reading it is audited."""

    narrative: Narrative
    questions: list[QuestionAndAnswer]
    decision_note: str | None
    # The form's further questions the referrer answered: (label for admins, answer).
    further_answers: list[tuple[str, str]] = field(default_factory=list)


def offered_slots(view: TriageView) -> list[dict[str, Any]]:
    """The times the last search found, if it found any."""
    search = view.slot_search or {}
    return list(search.get("slots") or []) if search.get("state") == "found" else []


@dataclass(frozen=True)
class DigestFigures:
    """The weekly digest's figures for one desk."""

    period_end: datetime
    received: int
    waiting: int
    counts: list[tuple[str, Counter[str]]]  # a titled count per section
    oldest: list[tuple[str, str]]  # (reference, how long it has waited)
