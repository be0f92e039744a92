"""The triage desk: admins register it, then act on referral cards there.

Card buttons are Universal Actions (`Action.Execute`): the card returned to an invoke is
seen only by the admin who pressed, which is how Details and the decision forms stay
private to them. The shared card is updated in place through the outbox once a decision
is stored, so everyone else sees the new status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import AdaptiveCardInvokeResponse, AdaptiveCardInvokeValue

from bot.core import audit
from bot.core.audit import Action
from bot.core.clock import Clock
from bot.core.outbox import Kind, Outbox
from bot.core.pii import identifying_details_problem
from bot.core.settings import ModelName
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import BookingState, ReferralStatus
from bot.teams.admins import AdminCheck
from bot.teams.identity import Actor, actor_of, reference_of, tenant_of
from bot.teams.invoke import card_response, message_response
from bot.teams.meeting_links import chat_id_of, is_meeting_link
from bot.teams.send import card_activity
from bot.triage.digest import Digests
from bot.triage.store import (
    ALLOWED_FROM,
    SCHEDULABLE,
    Change,
    Decision,
    Outcome,
    TriageStore,
    TriageView,
)
from cards.binder import render
from cards.triage import (
    CONFIRM,
    OTHER_TIME,
    DeskOptions,
    offered_slots,
    triage_card,
    when,
)
from cards.verbs import TriageVerb

log = logging.getLogger(__name__)

NOT_ADMIN = (
    "Sorry, only the partnership's business support team can do that. "
    "Your attempt has been recorded."
)
MAX_QUESTION_CHARS = 500
MAX_REASON_CHARS = 500
MAX_NOTE_CHARS = 200
MAX_CANCEL_NOTE_CHARS = 300
FORMS = {
    TriageVerb.ACCEPT_FORM: ("accept", Decision.ACCEPT),
    TriageVerb.ASK_FORM: ("ask", Decision.ASK),
    TriageVerb.DECLINE_FORM: ("decline", Decision.DECLINE),
    TriageVerb.WITHDRAW_FORM: ("withdraw", Decision.WITHDRAW),
    TriageVerb.SCHEDULE_FORM: ("schedule", Decision.SCHEDULE),
    TriageVerb.CANCEL_FORM: ("cancel", Decision.CANCEL),
}
# The decision each panel's confirming button makes (its verb is in cards.triage).
DECISIONS = {CONFIRM[panel][1]: decision for panel, decision in FORMS.values()}


class BadInput(ValueError):
    """A form on the card was not filled in properly; the message says what to fix."""

    def __init__(self, message: str, panel: str) -> None:
        super().__init__(message)
        self.panel = panel


@dataclass
class DeskHandler:
    store: TriageStore
    admins: AdminCheck
    options: DeskOptions
    calendar: WorkingCalendar
    clock: Clock
    outbox: Outbox
    wake: Callable[[], None]
    partnership: str
    digests: Digests

    # --- typed commands ------------------------------------------------------------------

    async def register(self, context: TurnContext) -> None:
        activity = context.activity
        if activity.conversation.conversation_type not in ("channel", "groupChat"):
            await context.send_activity(
                "The triage desk lives in a channel or a group chat: add me there and type "
                "**register triage here**."
            )
            return
        actor = actor_of(context)
        if not await self.admins.is_admin(context):
            await self.store.record(actor, Action.REFUSED, None, "register triage here")
            await context.send_activity(NOT_ADMIN)
            return
        conversation_id = _top_level_conversation(context)
        reference = reference_of(context)
        reference["conversation"]["id"] = conversation_id
        await self.store.register_desk(tenant_of(context), conversation_id, reference, actor)
        await self.outbox.make_due(Kind.TRIAGE_CARD, self.clock.now())
        self.wake()
        await context.send_activity(
            f"This is now the triage desk for {self.partnership}. I will post a card here for "
            "every referral waiting for triage, remind you of any not triaged in time, and "
            "send a digest every week. Type **audit** and a reference to see a referral's "
            "audit log, or **digest** for the figures now."
        )

    async def post_digest(self, context: TurnContext) -> None:
        if not await self.admins.is_admin(context):
            await self.store.record(actor_of(context), Action.REFUSED, None, "digest")
            await context.send_activity(NOT_ADMIN)
            return
        card = await self.digests.card(tenant_of(context), self.clock.now())
        await context.send_activity(card_activity(card))

    async def show_audit(self, context: TurnContext, reference: str) -> None:
        reference = reference.strip().upper()  # typed commands arrive lower-cased
        actor = actor_of(context)
        if not await self.admins.is_admin(context):
            await self.store.record(actor, Action.REFUSED, reference, "audit")
            await context.send_activity(NOT_ADMIN)
            return
        lines = await audit.lines_for(self.store.sessions, reference)
        if lines is None:
            await context.send_activity(f"I cannot find a referral {reference}.")
            return
        await self.store.record(actor, Action.AUDIT_READ, reference)
        card = render(
            "audit",
            {
                "reference": reference,
                "zone": str(self.calendar.zone),
                "is_empty": not lines,
                "lines": [
                    {
                        "at": when(line.at, self.calendar),
                        "action": line.action,
                        "who": f"{line.actor_name or 'unnamed'} ({line.actor_id})",
                        "detail": f" · {line.detail}" if line.detail else "",
                    }
                    for line in lines
                ],
            },
        )
        await context.send_activity(card_activity(card))

    # --- card buttons ---------------------------------------------------------------------

    async def on_action(
        self, context: TurnContext, invoke: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:
        action: dict[str, Any] = invoke.action if isinstance(invoke.action, dict) else {}
        raw = action.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        try:
            verb = TriageVerb(str(action.get("verb", "")))
            reference = str(data.get("reference", ""))
            version = int(data.get("version", -1))
        except (ValueError, TypeError):
            log.warning("unrecognised card action %r", str(action.get("verb", ""))[:40])
            return message_response("Sorry, I did not recognise that button. Please try again.")
        actor = actor_of(context)
        if not await self.admins.is_admin(context):
            await self.store.record(actor, Action.REFUSED, reference, verb.value)
            return message_response(NOT_ADMIN)
        view = await self.store.view(reference)
        if view is None:
            return message_response(f"I cannot find referral {reference}.")
        try:
            return await self._act(verb, view, version, data, actor)
        except BadInput as problem:
            return self._card(view, panel=problem.panel, notice=str(problem))

    async def _act(
        self, verb: TriageVerb, view: TriageView, version: int, data: dict[str, Any], actor: Actor
    ) -> AdaptiveCardInvokeResponse:
        if verb is TriageVerb.DETAILS:
            details = await self.store.details(view.reference, actor)
            return self._card(view, details=details)
        if verb is TriageVerb.HIDE:
            return self._card(view)
        if verb in FORMS:
            panel, decision = FORMS[verb]
            if view.version != version or view.status not in ALLOWED_FROM[decision]:
                return self._card(view, notice=self._moved_on(view))
            return self._card(view, panel=panel)
        if verb in (TriageVerb.FIND_TIMES, TriageVerb.RETRY_BOOKING):
            return await self._calendar_job(verb, view, actor)
        if view.version != version or view.status not in ALLOWED_FROM[DECISIONS[verb]]:
            # A double press, or a card drawn before someone else decided: change nothing.
            return self._card(view, notice=self._moved_on(view))
        decision, change = self._read_form(verb, data, view)
        outcome = await self.store.decide(view.reference, version, actor, decision, change)
        if outcome is None:
            return message_response(f"I cannot find referral {view.reference}.")
        return self._after(outcome, decision)

    async def _calendar_job(
        self, verb: TriageVerb, view: TriageView, actor: Actor
    ) -> AdaptiveCardInvokeResponse:
        """Find times, or book again after a failure: Graph work, done in the background."""
        if not self.options.graph or view.status not in SCHEDULABLE:
            return self._card(view, notice=self._moved_on(view))
        if verb is TriageVerb.FIND_TIMES:
            started = await self.store.find_times(view.reference, actor)
            notice = (
                "Looking at the calendars of the facilitator and the invitees: the times "
                "will show on this card in a moment."
            )
        else:
            started = await self.store.retry_booking(view.reference, actor)
            notice = "Trying again: this card shows how it went in a moment."
        if started is None:
            return message_response(f"I cannot find referral {view.reference}.")
        self.wake()
        return self._card(started, notice=notice, notice_style="accent")

    def _read_form(
        self, verb: TriageVerb, data: dict[str, Any], view: TriageView
    ) -> tuple[Decision, Change]:
        if verb is TriageVerb.ACCEPT:
            chosen = str(data.get("facilitator", ""))
            facilitator = next(
                (f for f in self.options.facilitators if f.aad_object_id == chosen), None
            )
            if facilitator is None:
                raise BadInput("Please choose a facilitator from the list.", "accept")
            try:
                model = ModelName(str(data.get("model", "")))
            except ValueError:
                raise BadInput("Please choose the session model.", "accept") from None
            return Decision.ACCEPT, Change(
                model=model.value,
                facilitator_id=facilitator.aad_object_id,
                facilitator_name=facilitator.name,
                audit_detail=f"model {model.value}; facilitator {facilitator.name}",
                find_times=self.options.graph,  # the admin sees times that suit straight away
            )
        if verb is TriageVerb.ASK:
            question = _text(data, "question", MAX_QUESTION_CHARS, "ask", "your question")
            return Decision.ASK, Change(question=question)
        if verb is TriageVerb.DECLINE:
            reason = _text(data, "reason", MAX_REASON_CHARS, "decline", "a reason")
            try:
                signpost = self.options.signposts[int(str(data.get("signpost", "")))]
            except (ValueError, IndexError):
                raise BadInput("Please choose where to signpost the referrer.", "decline") from None
            return Decision.DECLINE, Change(
                note=reason, signpost=signpost, audit_detail=f"signpost: {signpost[:80]}"
            )
        if verb is TriageVerb.WITHDRAW:
            why = str(data.get("why", ""))
            if why not in ("withdrawn", "duplicate"):
                raise BadInput("Please say whether it was withdrawn or a duplicate.", "withdraw")
            note = str(data.get("note", "")).strip()
            if len(note) > MAX_NOTE_CHARS:
                raise BadInput(f"Please keep the note to {MAX_NOTE_CHARS} characters.", "withdraw")
            # Withdrawn once scheduled: the facilitator hears the session is off.
            return Decision.WITHDRAW, Change(
                note=note or None, audit_detail=why, cancelled_at=view.session_at
            )
        if verb is TriageVerb.SCHEDULE:
            return Decision.SCHEDULE, self._read_schedule(data, view)
        if verb is TriageVerb.CANCEL:
            note = str(data.get("note", "")).strip()
            if len(note) > MAX_CANCEL_NOTE_CHARS:
                raise BadInput(
                    f"Please keep the message to {MAX_CANCEL_NOTE_CHARS} characters.", "cancel"
                )
            # It goes to everyone invited, other organisations included.
            problem = identifying_details_problem(note)
            if problem is not None:
                raise BadInput(problem, "cancel")
            assert view.session_at is not None  # checked in _act: only a scheduled one
            return Decision.CANCEL, Change(
                note=note or None,
                attendee_note=note or None,
                cancelled_at=view.session_at,
                audit_detail=f"session at {view.session_at:%Y-%m-%d %H:%M} UTC cancelled",
            )
        raise AssertionError(f"unhandled triage verb {verb}")

    def _read_schedule(self, data: dict[str, Any], view: TriageView) -> Change:
        """A time (a slot found, or a date and time typed, local) and, by hand, a join link."""
        link = str(data.get("link", "")).strip()
        by_hand = bool(link) or not self.options.graph
        when_utc = self._chosen_time(data, view, by_hand)
        if when_utc <= self.clock.now():
            raise BadInput("That time has passed: please give a time still to come.", "schedule")
        minutes = self.options.minutes_for(view.model)
        if not by_hand:
            return Change(
                session_at=when_utc,
                session_minutes=minutes,
                book_with_graph=True,
                audit_detail=f"booking {when_utc:%Y-%m-%d %H:%M} UTC through Outlook",
            )
        if not is_meeting_link(link):
            raise BadInput(
                "Please paste the Teams meeting's join link (it starts https://teams.microsoft.com/"
                "l/meetup-join/ or https://teams.microsoft.com/meet/).",
                "schedule",
            )
        return Change(
            session_at=when_utc,
            session_minutes=minutes,
            meeting_join_url=link,
            meeting_chat_id=chat_id_of(link),
            audit_detail=f"session at {when_utc:%Y-%m-%d %H:%M} UTC",
        )

    def _chosen_time(self, data: dict[str, Any], view: TriageView, by_hand: bool) -> datetime:
        slot = str(data.get("slot", "")).strip()
        if not by_hand and slot and slot != OTHER_TIME:
            if slot not in {offered["start"] for offered in offered_slots(view)}:
                raise BadInput("Those times have changed since: please choose again.", "schedule")
            return datetime.fromisoformat(slot).astimezone(UTC)
        try:
            day = date.fromisoformat(str(data.get("day", "")).strip())
            at = time.fromisoformat(str(data.get("time", "")).strip())
        except ValueError:
            raise BadInput(
                "Please give the date and the time of the session.", "schedule"
            ) from None
        return datetime.combine(day, at, tzinfo=self.calendar.zone).astimezone(UTC)

    def _after(self, outcome: Outcome, decision: Decision) -> AdaptiveCardInvokeResponse:
        if not outcome.applied:
            return self._card(outcome.view, notice=self._moved_on(outcome.view))
        self.wake()  # the shared card, the referrer and the facilitator hear of it now
        done = {
            Decision.ACCEPT: "Accepted. The referrer and the facilitator are being told.",
            Decision.ASK: "Your question has gone to the referrer.",
            Decision.DECLINE: "Declined. The referrer is being told, with your signpost.",
            Decision.WITHDRAW: "Closed. The referrer is being told.",
            Decision.SCHEDULE: (
                "Booking the Teams meeting in Outlook: this card shows when it is done, and "
                "the referrer and the facilitator are told then."
                if outcome.view.booking_state is BookingState.BOOKING
                else "Scheduled. The referrer and the facilitator are being told, with the "
                "link. Add me to the meeting so I can run the session there."
            ),
            Decision.CANCEL: "Cancelled. The referrer and the facilitator are being told.",
        }[decision]
        return self._card(outcome.view, notice=done, notice_style="good")

    def _moved_on(self, view: TriageView) -> str:
        who = view.decided_by_name or "someone else"
        at = when(view.decided_at, self.calendar)
        if view.status is ReferralStatus.SUBMITTED and view.last_answer_at is not None:
            return "The referrer has answered since this card was drawn: here it is now."
        return (
            f"This referral has moved on: {who} made it "
            f"\u201c{view.status.value.replace('_', ' ')}\u201d on {at}. "
            "Nothing was changed by your press; here is the card as it is now."
        )

    def _card(
        self,
        view: TriageView,
        *,
        details: Any = None,
        panel: str | None = None,
        notice: str = "",
        notice_style: str = "warning",
    ) -> AdaptiveCardInvokeResponse:
        card = triage_card(
            view,
            self.calendar,
            self.clock.now(),
            self.options,
            details=details,
            panel=panel,
            notice=notice,
            notice_style=notice_style,
        )
        return card_response(card)


def _text(data: dict[str, Any], key: str, limit: int, panel: str, what: str) -> str:
    value = str(data.get(key, "")).strip()
    if not value:
        raise BadInput(f"Please write {what}.", panel)
    if len(value) > limit:
        raise BadInput(f"Please keep {what} to {limit} characters.", panel)
    return value


def _top_level_conversation(context: TurnContext) -> str:
    """The channel itself, not the thread the command was typed in, so cards are new posts."""
    activity = context.activity
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    channel = channel_data.get("channel") if isinstance(channel_data, dict) else None
    if isinstance(channel, dict) and channel.get("id"):
        return str(channel["id"])
    return str(activity.conversation.id).split(";messageid=")[0]
