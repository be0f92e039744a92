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
from typing import Any

from bot.core import audit
from bot.core.audit import Action, Actor, AuditLine
from bot.core.clock import Clock
from bot.core.outbox import Kind, Outbox
from bot.core.storable import first_unstorable, storable, unstorable_message, whole_number
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import BookingState
from bot.teams.admins import AdminCheck
from bot.teams.identity import actor_of, reference_of, tenant_of
from bot.teams.invoke import card_response, message_response
from bot.teams.turn import (
    CardAction,
    CardPress,
    InvokeReply,
    Turn,
    conversation_type,
    send_card,
    top_level_conversation,
)
from bot.triage.decisions import BY_VERB, BadInput, DecisionRule, Fields, FormContext
from bot.triage.desk_log import DeskDetail, desk_lines
from bot.triage.digest import Digests
from bot.triage.notify import confirmation
from bot.triage.options import DeskOptions
from bot.triage.store import TriageStore
from bot.triage.views import SCHEDULABLE, Details, TriageView
from cards.audit import AuditWords, audit_card
from cards.common import input_label
from cards.triage import (
    answered_card,
    desk_help_card,
    mention_rule,
    moved_on_notice,
    triage_card,
)
from cards.verbs import TriageVerb

log = logging.getLogger(__name__)

MAX_REFERENCE_CHARS = 32  # ReferralRow.reference's column
DESK_LOG = "desk"  # `audit desk`: the desk's own entries, not a referral's
NOT_ADMIN = (
    "Sorry, only the partnership's business support team can do that. "
    "Your attempt has been recorded."
)


def desk_detail(context: Turn, what: str = "") -> DeskDetail:
    """A desk entry's detail: `what`, in this conversation and tenant (`audit desk` lists it)."""
    return DeskDetail(what, top_level_conversation(context), tenant_of(context))


async def record_at_desk(store: TriageStore, context: Turn, action: str, what: str) -> None:
    """An entry in the desk's own log (no referral's): who did `action` here, and on what."""
    await store.record(actor_of(context), action, None, desk_detail(context, what).text())


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
    retention_days: int  # how long the audit log keeps names (RETENTION_AUDIT_DAYS)

    # --- typed commands ------------------------------------------------------------------

    async def register(self, context: Turn) -> None:
        if conversation_type(context) not in ("channel", "groupChat"):
            await context.send_activity(
                "The triage desk lives in a channel or a group chat: add me there and type "
                "**register triage here**."
            )
            return
        actor = actor_of(context)
        if not await self.admins.is_admin(context):
            await self._refused(context, "register triage here")
            await context.send_activity(NOT_ADMIN)
            return
        conversation_id = top_level_conversation(context)
        reference = reference_of(context)
        reference["conversation"]["id"] = conversation_id
        await self.store.register_desk(tenant_of(context), conversation_id, reference, actor)
        # Cards that waited for a desk come now, not at their next retry.
        for kind in (Kind.TRIAGE_CARD, Kind.FURTHER_REFLECTION_CARD):
            await self.outbox.make_due(kind, self.clock.now())
        self.wake()
        bot = _bot_name(context)
        await context.send_activity(
            f"This is now the triage desk for {self.partnership}. I will post a card here for "
            "every referral waiting for triage, remind you of any not triaged in time, and "
            f"send a digest every week. {mention_rule(bot, _in_channel(context))} For example "
            f"**@{bot} audit RP-2026-0001** for a referral's audit log, **@{bot} digest** for "
            f"the figures now, and **@{bot} help** for everything you can do here."
        )

    async def post_digest(self, context: Turn) -> None:
        if not await self.admins.is_admin(context):
            await self._refused(context, "digest")
            await context.send_activity(NOT_ADMIN)
            return
        await send_card(context, await self.digests.card(tenant_of(context), self.clock.now()))

    async def help_here(self, context: Turn, lead: str = "") -> bool:
        """`help` (or words the bot did not understand) in the registered desk: the desk's
        help card, with `lead` before it. False anywhere else: the caller answers."""
        if conversation_type(context) not in ("channel", "groupChat"):
            return False
        desk = await self.store.desk(tenant_of(context))
        if desk is None or desk.conversation_id != top_level_conversation(context):
            return False
        if lead:
            await context.send_activity(lead)
        card = desk_help_card(
            _bot_name(context),
            in_channel=_in_channel(context),
            graph=self.options.graph,
            reminder_days=self.store.reminder_days,
            digest_weekday=self.digests.weekday,
            digest_hour=self.digests.hour,
        )
        await send_card(context, card)
        return True

    async def show_audit(self, context: Turn, reference: str) -> None:
        reference = reference.strip().upper()  # typed commands arrive lower-cased
        if reference == DESK_LOG.upper():
            await self._show_desk_log(context)
            return
        if len(reference) > MAX_REFERENCE_CHARS or not storable(reference):
            await context.send_activity(
                "That is not a referral reference: type, for example, **audit RP-2026-0001**, "
                "or **audit desk** for this desk's own log."
            )
            return
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
        await send_card(context, self._audit_card(f"Audit log for {reference}", lines, context))

    async def _show_desk_log(self, context: Turn) -> None:
        """The entries of no referral: the desk's registrations, refusals, reads of this."""
        if not await self.admins.is_admin(context):
            await self._refused(context, "audit")
            await context.send_activity(NOT_ADMIN)
            return
        here = desk_detail(context)
        lines = await desk_lines(self.store.sessions, here.tenant, here.conversation)
        await self.store.record(actor_of(context), Action.AUDIT_READ, None, here.text())
        await send_card(context, self._audit_card("Audit log of the triage desk", lines, context))

    def _audit_card(self, title: str, lines: list[AuditLine], context: Turn) -> dict[str, Any]:
        words = AuditWords(
            options=self.options,
            calendar=self.calendar,
            now=self.clock.now(),
            retention_days=self.retention_days,
            desk_conversation=top_level_conversation(context),
        )
        return audit_card(title, lines, words)

    async def _refused(self, context: Turn, command: str) -> None:
        """A desk command from someone who is not an admin: recorded in the desk's log."""
        await record_at_desk(self.store, context, Action.REFUSED, command)

    # --- card buttons ---------------------------------------------------------------------

    def card_actions(self) -> dict[str, CardAction]:
        """Every triage card verb, for the app's router: all of them for admins only."""
        return {verb: self.on_action for verb in (*BY_VERB, *TriageVerb)}

    async def on_action(self, context: Turn, press: CardPress) -> InvokeReply:
        parsed = Press.parse(press)
        if parsed is None:
            log.warning("unrecognised card action %r", press.verb[:40])
            return message_response("Sorry, I did not recognise that button. Please try again.")
        actor = actor_of(context)
        if not await self.admins.is_admin(context):
            await self.store.record(actor, Action.REFUSED, parsed.reference, parsed.verb)
            return message_response(NOT_ADMIN)
        view = await self.store.view(parsed.reference)
        if view is None:
            return message_response(f"I cannot find referral {parsed.reference}.")
        if parsed.verb in BY_VERB:
            rule, opens_panel = BY_VERB[parsed.verb]
            if view.version != parsed.version or view.status not in rule.allowed_from:
                # A double press, or a card drawn before someone else decided: change nothing.
                return self._card(view, notice=moved_on_notice(view, self.calendar))
            if opens_panel:
                return self._card(view, panel=rule.panel)
            return await self._decide(rule, view, parsed, actor)
        return await self._tool(TriageVerb(parsed.verb), view, actor)

    async def _tool(self, verb: TriageVerb, view: TriageView, actor: Actor) -> InvokeReply:
        """The buttons that decide nothing: details, and the calendar jobs."""
        if verb is TriageVerb.DETAILS:
            details = await self.store.details(view.reference, actor)
            return self._card(view, details=details)
        if verb is TriageVerb.HIDE:
            return self._card(view)
        return await self._calendar_job(verb, view, actor)

    async def _decide(
        self, rule: DecisionRule, view: TriageView, press: Press, actor: Actor
    ) -> InvokeReply:
        context = FormContext(
            view=view, options=self.options, zone=self.calendar.zone, now=self.clock.now()
        )
        try:
            self._refuse_unstorable(view, rule, press.fields)
            change = rule.form.parse(press.fields).change(context)
        except BadInput as problem:
            if problem.redraw:  # what the panel offered has changed: it is drawn afresh
                return self._card(view, panel=rule.panel, notice=str(problem))
            # Only the message: the card pressed stays as it is, with what was typed in it.
            # A card answered with the typed text would carry a refused child's name.
            return message_response(str(problem))
        outcome = await self.store.decide(
            view.reference, press.version, actor, rule.decision, change
        )
        if outcome is None:
            return message_response(f"I cannot find referral {view.reference}.")
        if not outcome.applied:
            return self._card(outcome.view, notice=moved_on_notice(outcome.view, self.calendar))
        self.wake()  # the shared card, the referrer and the facilitator hear of it now
        booking = outcome.view.booking_state is BookingState.BOOKING
        done = rule.done_while_booking if booking and rule.done_while_booking else rule.done
        told = confirmation(done, outcome.view)  # not "being told" when they cannot be
        style = "good" if told == done else "warning"
        # The answered panel settles to a record of the answer, with no buttons: the outbox
        # brings the shared card up to date, with what comes next, for everyone.
        settled = answered_card(
            outcome.view,
            rule,
            change,
            told,
            self.calendar,
            told_style=style,
            app_link=self.options.app_install_link,
        )
        return card_response(settled)

    def _refuse_unstorable(self, view: TriageView, rule: DecisionRule, fields: Fields) -> None:
        unstorable = first_unstorable(fields)
        if unstorable is not None:
            panel = triage_card(
                view, self.calendar, self.clock.now(), self.options, panel=rule.panel
            )
            raise BadInput(unstorable_message(input_label(panel, unstorable)))

    async def _calendar_job(self, verb: TriageVerb, view: TriageView, actor: Actor) -> InvokeReply:
        """Find times, or book again after a failure: Graph work, done in the background."""
        if not self.options.graph or view.status not in SCHEDULABLE:
            return self._card(view, notice=moved_on_notice(view, self.calendar))
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

    def _card(
        self,
        view: TriageView,
        *,
        details: Details | None = None,
        panel: str | None = None,
        notice: str = "",
        notice_style: str = "warning",
    ) -> InvokeReply:
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


def _bot_name(context: Turn) -> str:
    """The name people @mention the bot by in this conversation."""
    recipient = context.activity.recipient
    return (recipient.name if recipient is not None else "") or "Reflective practice"


def _in_channel(context: Turn) -> bool:
    return conversation_type(context) == "channel"


@dataclass(frozen=True)
class Press:
    """A triage button's data, read at the boundary: which referral, at which version."""

    verb: str
    reference: str
    version: int
    fields: dict[str, str]

    @classmethod
    def parse(cls, press: CardPress) -> Press | None:
        if press.verb not in BY_VERB and press.verb not in set(TriageVerb):
            return None
        fields = press.fields()
        version = whole_number(fields.pop("version", ""))
        reference = fields.pop("reference", "")
        if version is None or len(reference) > MAX_REFERENCE_CHARS or not storable(reference):
            return None  # not a card the bot drew
        return cls(verb=press.verb, reference=reference, version=version, fields=fields)
