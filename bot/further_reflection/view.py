"""What the desk's further reflection card shows, and the decisions its buttons make.

Every decision is declared once in `RULES`: its button, the states it may be made from, the
state it leaves, what the audit log records and what the admin who pressed is told. Only
admins may press any of them (bot.further_reflection.desk checks first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from bot.core.audit import Action
from cards.verbs import FurtherVerb

# A further reflection meeting booked through Outlook lasts this long.
MEETING_MINUTES = 60


class State(StrEnum):
    """FurtherReflection.state."""

    WAITING = "waiting"  # for the desk
    BOOKING = "booking"  # Graph at work
    BOOKED = "booked"
    FAILED = "failed"  # Graph did not book it: the card says why, and offers the rest
    NOT_NEEDED = "not_needed"


OPEN = frozenset({State.WAITING, State.FAILED})  # the card's buttons act from these


class FurtherAction:
    """What the audit log records of a further reflection (detail: "<reference>: ...")."""

    BOOKING = Action.FURTHER_BOOKING
    BOOKED_BY_HAND = Action.FURTHER_BOOKED_BY_HAND
    NOT_NEEDED = Action.FURTHER_NOT_NEEDED


DECIDED_ACTIONS = (FurtherAction.BOOKING, FurtherAction.BOOKED_BY_HAND, FurtherAction.NOT_NEEDED)


@dataclass(frozen=True)
class Rule:
    verb: FurtherVerb
    button: str
    new_state: State
    audit_action: str
    done: str  # what the admin who pressed is told once it is stored
    style: str = ""
    allowed_from: frozenset[State] = OPEN


RULES: dict[FurtherVerb, Rule] = {
    rule.verb: rule
    for rule in (
        Rule(
            FurtherVerb.BOOK,
            "Book in Outlook",
            State.BOOKING,
            FurtherAction.BOOKING,
            "Booking the Teams meeting in Outlook: this card shows when it is done.",
            style="positive",
        ),
        Rule(
            FurtherVerb.BY_HAND,
            "Booked it myself",
            State.BOOKED,
            FurtherAction.BOOKED_BY_HAND,
            "Noted: the meeting you booked is on this card.",
        ),
        Rule(
            FurtherVerb.NOT_NEEDED,
            "Not needed",
            State.NOT_NEEDED,
            FurtherAction.NOT_NEEDED,
            "Noted: no further reflection meeting for this session.",
        ),
    )
}


@dataclass(frozen=True)
class FurtherView:
    """A further reflection as the desk's card shows it: the reference, never case detail."""

    session_id: int
    tenant_id: str
    reference: str  # the referral's (RP-...), or the session's own (S-...) without one
    model: str  # the model's label, as the desk knows it
    held_at: datetime | None  # when the session was held
    months: int  # the model's follow_up_months
    participants: int  # how many took part
    due_on: date
    state: State
    version: int
    session_at: datetime | None = None
    join_url: str | None = None
    problem: str | None = None  # what Graph said when booking failed: for IT
    decided_by_name: str | None = None
    decided_at: datetime | None = None
    card_id: str | None = None
    invitable: int = 0  # the people Outlook would invite (emails the bot knows)
    in_outlook: bool = False  # booked through Graph (an event the bot made)

    def can(self, rule: Rule) -> bool:
        return self.state in rule.allowed_from
