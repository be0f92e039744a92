"""Every triage decision, declared once: one entry in `RULES` says it all.

An entry names the decision's buttons and panel on the triage card, the statuses it may be
made from, the status it leaves, what the audit log records, what the admin is told, and
the typed form that reads the panel's inputs. Only admins may press any of them (the desk
checks before it looks here). The store, the desk and the card all read this table.

To add a decision: a `Decision` member, a form class and an entry in `RULES` here, its
panel in `cards/templates/triage.json` (shown when `form.<decision>` is true), and in
`bot/triage/notify.py` who is told what (see the README's recipe).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import ClassVar, Protocol, Self
from zoneinfo import ZoneInfo

from bot.core.audit import Action
from bot.core.pii import identifying_details_problem
from bot.core.storable import whole_number
from bot.referrals.model import ReferralStatus
from bot.teams.meeting_links import chat_id_of, is_meeting_link
from bot.triage.changes import Change
from bot.triage.options import DeskOptions
from bot.triage.views import OPEN, SCHEDULABLE, TriageView, offered_slots

OTHER_TIME = "other"  # the slot choice that means "the date and time typed below"

Fields = Mapping[str, str]  # a panel's inputs, as text


class Decision(StrEnum):
    ACCEPT = "accept"
    ASK = "ask"
    DECLINE = "decline"
    WITHDRAW = "withdraw"
    SCHEDULE = "schedule"
    CANCEL = "cancel"  # the booked session is off; the referral waits for a new time


class BadInput(ValueError):
    """A panel was not filled in properly; the message says what to fix, never quoting what
    was typed. `redraw`: the panel must be drawn again (what it offered has changed)."""

    def __init__(self, message: str, *, redraw: bool = False) -> None:
        super().__init__(message)
        self.redraw = redraw


@dataclass(frozen=True)
class FormContext:
    """What a form needs to turn its inputs into a change: the referral as the card showed it."""

    view: TriageView
    options: DeskOptions
    zone: ZoneInfo
    now: datetime


class DecisionForm(Protocol):
    @classmethod
    def parse(cls, fields: Fields) -> Self: ...

    def change(self, context: FormContext) -> Change: ...


def _local(moment: datetime, zone: ZoneInfo) -> str:
    """ "1 Dec 2026 13:00", in the desk's time zone (as cards.common.when writes it)."""
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %Y %H:%M}"


def _text(
    fields: Fields, key: str, limit: int, what: str, box: str, *, required: bool = True
) -> str:
    """A panel's free text. It reaches the referrer, the people invited or the Details view,
    so text that seems to identify a child is refused, naming the `box` (its label)."""
    value = fields.get(key, "").strip()
    if required and not value:
        raise BadInput(f"Please write {what}.")
    if len(value) > limit:
        raise BadInput(f"Please keep {what} to {limit} characters.")
    problem = identifying_details_problem(value, box) if value else None
    if problem is not None:
        raise BadInput(problem)
    return value


@dataclass(frozen=True)
class AcceptForm:
    facilitator_id: str
    model: str

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        return cls(fields.get("facilitator", "").strip(), fields.get("model", "").strip())

    def change(self, context: FormContext) -> Change:
        facilitator = context.options.facilitator(self.facilitator_id)
        if facilitator is None:
            raise BadInput("Please choose a facilitator from the list.")
        if self.model not in context.options.models:
            raise BadInput("Please choose the session model.")
        return Change(
            model=self.model,
            facilitator_id=facilitator.aad_object_id,
            facilitator_name=facilitator.name,
            # No name: the audit log's details are kept for good (the referral names them).
            audit_detail=f"model {self.model}",
            find_times=context.options.graph,  # the admin sees times that suit straight away
            summary=f"{context.options.models.label(self.model)}, facilitated by "
            f"{facilitator.name}",
        )


@dataclass(frozen=True)
class AskForm:
    MAX_CHARS: ClassVar[int] = 500
    question: str

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        return cls(_text(fields, "question", cls.MAX_CHARS, "your question", "Your question"))

    def change(self, context: FormContext) -> Change:
        return Change(question=self.question)


@dataclass(frozen=True)
class DeclineForm:
    MAX_CHARS: ClassVar[int] = 500
    reason: str
    signpost: int

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        reason = _text(fields, "reason", cls.MAX_CHARS, "a reason", "Reason")
        signpost = whole_number(fields.get("signpost", ""))
        if signpost is None:
            raise BadInput("Please choose where to signpost the referrer.")
        return cls(reason, signpost)

    def change(self, context: FormContext) -> Change:
        signposts = context.options.signposts
        if not 0 <= self.signpost < len(signposts):
            raise BadInput("Please choose where to signpost the referrer.")
        signpost = signposts[self.signpost]
        return Change(
            note=self.reason,
            signpost=signpost,
            audit_detail=f"signpost: {signpost[:80]}",
            summary=f"signposted to {signpost}",
        )


@dataclass(frozen=True)
class WithdrawForm:
    MAX_CHARS: ClassVar[int] = 200
    REASONS: ClassVar[frozenset[str]] = frozenset({"withdrawn", "duplicate"})
    why: str
    note: str

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        why = fields.get("why", "")
        if why not in cls.REASONS:
            raise BadInput("Please say whether it was withdrawn or a duplicate.")
        return cls(why, _text(fields, "note", cls.MAX_CHARS, "the note", "Note", required=False))

    def change(self, context: FormContext) -> Change:
        # Withdrawn once scheduled: the facilitator hears the session is off.
        return Change(
            note=self.note or None,
            audit_detail=self.why,
            cancelled_at=context.view.session_at,
            summary="withdrawn by the referrer"
            if self.why == "withdrawn"
            else "a duplicate of another referral",
        )


@dataclass(frozen=True)
class ScheduleForm:
    """A time (a slot found, or a date and time typed, local) and, by hand, a join link."""

    slot: str
    day: str
    time: str
    link: str

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        return cls(*(fields.get(key, "").strip() for key in ("slot", "day", "time", "link")))

    def change(self, context: FormContext) -> Change:
        by_hand = bool(self.link) or not context.options.graph
        when_utc = self._chosen_time(context, by_hand)
        if when_utc <= context.now:
            raise BadInput("That time has passed: please give a time still to come.")
        minutes = context.options.minutes_for(context.view.model)
        if not by_hand:
            return Change(
                session_at=when_utc,
                session_minutes=minutes,
                book_with_graph=True,
                audit_detail=f"booking {when_utc:%Y-%m-%d %H:%M} UTC through Outlook",
                summary=f"{_local(when_utc, context.zone)}, booked through Outlook",
            )
        return Change(
            session_at=when_utc,
            session_minutes=minutes,
            meeting_join_url=join_link(self.link),
            meeting_chat_id=chat_id_of(self.link),
            audit_detail=f"session at {when_utc:%Y-%m-%d %H:%M} UTC",
            summary=f"{_local(when_utc, context.zone)}, with the join link you gave",
        )

    def _chosen_time(self, context: FormContext, by_hand: bool) -> datetime:
        if not by_hand and self.slot and self.slot != OTHER_TIME:
            # Only a time this admin was shown: a card drawn before a newer search is stale.
            if self.slot not in {offered["start"] for offered in offered_slots(context.view)}:
                raise BadInput("Those times have changed since: please choose again.", redraw=True)
            return datetime.fromisoformat(self.slot).astimezone(UTC)
        return typed_time(self.day, self.time, context.zone)


def typed_time(day: str, at: str, zone: ZoneInfo, what: str = "the session") -> datetime:
    """A date and a time typed on a card (local), in UTC; BadInput if either is not one."""
    try:
        moment = datetime.combine(date.fromisoformat(day), time.fromisoformat(at), tzinfo=zone)
    except ValueError:
        raise BadInput(f"Please give the date and the time of {what}.") from None
    return moment.astimezone(UTC)


def join_link(link: str) -> str:
    """A Teams meeting's join link as pasted on a card; BadInput if it is not one."""
    if not is_meeting_link(link):
        raise BadInput(
            "Please paste the Teams meeting's join link (it starts https://teams.microsoft.com/"
            "l/meetup-join/ or https://teams.microsoft.com/meet/)."
        )
    return link


@dataclass(frozen=True)
class CancelForm:
    MAX_CHARS: ClassVar[int] = 300
    note: str

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        # It goes to everyone invited, other organisations included.
        box = "Message to the people invited"
        return cls(_text(fields, "note", cls.MAX_CHARS, "the message", box, required=False))

    def change(self, context: FormContext) -> Change:
        was_at = context.view.session_at
        assert was_at is not None  # CANCEL is allowed from SCHEDULED only
        return Change(
            note=self.note or None,
            attendee_note=self.note or None,
            cancelled_at=was_at,
            audit_detail=f"session at {was_at:%Y-%m-%d %H:%M} UTC cancelled",
            summary=f"the session of {_local(was_at, context.zone)} is off",
        )


@dataclass(frozen=True)
class DecisionRule:
    decision: Decision
    form: type[DecisionForm]
    allowed_from: frozenset[ReferralStatus]
    new_status: ReferralStatus
    audit_action: str
    button: str  # on the card: opens the panel
    confirm: str  # in the panel: makes the decision
    done: str  # what the admin who pressed is told once it is stored
    record: str  # the answered panel's record starts "<record> by <admin>, <when>"
    explains: str  # what the button is for, on the desk's help card
    style: str = ""  # the button's style: "positive" or "destructive"
    confirm_style: str = ""
    secondary: bool = False  # in the card's "..." menu: a rarer choice
    button_when_scheduled: str = ""
    confirm_with_graph: str = ""
    done_while_booking: str = ""  # when Outlook is still booking in the background

    @property
    def panel(self) -> str:
        return self.decision.value

    @property
    def open_verb(self) -> str:
        return f"triage_{self.decision.value}_form"

    @property
    def confirm_verb(self) -> str:
        return f"triage_{self.decision.value}"

    def button_title(self, status: ReferralStatus) -> str:
        scheduled = status is ReferralStatus.SCHEDULED and self.button_when_scheduled
        return self.button_when_scheduled if scheduled else self.button

    def confirm_title(self, graph: bool) -> str:
        return self.confirm_with_graph if graph and self.confirm_with_graph else self.confirm


# In the order their buttons appear on the card.
RULES: dict[Decision, DecisionRule] = {
    rule.decision: rule
    for rule in (
        DecisionRule(
            Decision.ACCEPT,
            AcceptForm,
            allowed_from=OPEN,
            new_status=ReferralStatus.ACCEPTED,
            audit_action=Action.ACCEPTED,
            button="Accept",
            confirm="Accept",
            done="Accepted. The referrer and the facilitator are being told.",
            record="Accepted",
            explains="Choose the session model and the facilitator; the referrer and the "
            "facilitator are told.",
            style="positive",
            confirm_style="positive",
        ),
        DecisionRule(
            Decision.ASK,
            AskForm,
            allowed_from=OPEN,
            new_status=ReferralStatus.MORE_INFO_REQUESTED,
            audit_action=Action.MORE_INFO_REQUESTED,
            button="Ask referrer",
            confirm="Send question",
            done="Your question has gone to the referrer.",
            record="More information asked",
            explains="Ask the referrer a question in their 1:1 chat with me; their answer "
            "shows under Details.",
        ),
        DecisionRule(
            Decision.DECLINE,
            DeclineForm,
            allowed_from=OPEN,
            new_status=ReferralStatus.DECLINED,
            audit_action=Action.DECLINED,
            button="Decline",
            confirm="Decline",
            done="Declined. The referrer is being told, with your signpost.",
            record="Declined",
            explains="Give a reason and where to go instead; the referrer is told both.",
            style="destructive",
        ),
        DecisionRule(
            Decision.SCHEDULE,
            ScheduleForm,
            allowed_from=SCHEDULABLE,  # scheduling again is rescheduling
            new_status=ReferralStatus.SCHEDULED,
            audit_action=Action.SCHEDULED,
            button="Schedule",
            button_when_scheduled="Reschedule",
            confirm="Schedule",
            confirm_with_graph="Book",
            done="Scheduled. The referrer and the facilitator are being told, with the link. "
            "Add me to the meeting so I can run the session there.",
            done_while_booking="Booking the Teams meeting in Outlook: the referral's card "
            "shows when it is done, and the referrer and the facilitator are told then.",
            record="Scheduled",
            explains="Set the session's date and time (Reschedule changes them); the referrer "
            "and the facilitator are told.",
            style="positive",
        ),
        DecisionRule(
            Decision.CANCEL,
            CancelForm,
            allowed_from=frozenset({ReferralStatus.SCHEDULED}),
            new_status=ReferralStatus.ACCEPTED,  # waits for a new time
            audit_action=Action.SESSION_CANCELLED,
            button="Cancel session",
            confirm="Cancel session",
            done="Cancelled. The referrer and the facilitator are being told.",
            record="Session cancelled",
            explains="Call off the booked session; the referral waits for a new time.",
            secondary=True,
        ),
        DecisionRule(
            Decision.WITHDRAW,
            WithdrawForm,
            allowed_from=OPEN | SCHEDULABLE,
            new_status=ReferralStatus.WITHDRAWN,
            audit_action=Action.WITHDRAWN,
            button="Withdrawn or duplicate",
            confirm="Close referral",
            done="Closed. The referrer is being told.",
            record="Closed",
            explains="Close a referral that was withdrawn or is a duplicate; the referrer is told.",
            secondary=True,
        ),
    )
}
# A press of a decision's button, by its verb: (the rule, whether it opens the panel).
BY_VERB: dict[str, tuple[DecisionRule, bool]] = {
    verb: (rule, opens)
    for rule in RULES.values()
    for verb, opens in ((rule.open_verb, True), (rule.confirm_verb, False))
}
