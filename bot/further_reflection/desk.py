"""The further reflection card's buttons on the triage desk: admins only, each press once.

Book in Outlook (only with Graph set up) records the time and queues the booking for the
calendar outbox; Booked it myself records the time and join link; Not needed closes it.
The admin who pressed sees the card with what happened; the outbox redraws the shared card
in place for everyone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.core.clock import Clock
from bot.core.storable import first_unstorable, unstorable_message, whole_number
from bot.core.working_days import WorkingCalendar
from bot.further_reflection.store import Change, FurtherStore
from bot.further_reflection.view import RULES, FurtherView, Rule
from bot.teams.admins import AdminCheck
from bot.teams.identity import actor_of
from bot.teams.invoke import card_response, message_response
from bot.teams.turn import CardAction, CardPress, InvokeReply, Turn
from bot.triage.decisions import BadInput, join_link, typed_time
from bot.triage.desk import NOT_ADMIN
from cards.common import input_label, when
from cards.further_reflection import further_reflection_card
from cards.verbs import FurtherVerb

log = logging.getLogger(__name__)

WHAT = "the meeting"  # in "Please give the date and the time of the meeting."


@dataclass(frozen=True)
class Press:
    """A further reflection button's data, read at the boundary: which one, at which version."""

    verb: FurtherVerb
    session_id: int
    version: int
    fields: dict[str, str]

    @classmethod
    def parse(cls, press: CardPress) -> Press | None:
        if press.verb not in set(FurtherVerb):
            return None
        fields = press.fields()
        session_id = whole_number(fields.pop("session", ""))
        version = whole_number(fields.pop("version", ""))
        if session_id is None or version is None:
            return None  # not a card the bot drew
        return cls(FurtherVerb(press.verb), session_id, version, fields)


@dataclass
class FurtherDesk:
    store: FurtherStore
    admins: AdminCheck
    calendar: WorkingCalendar
    clock: Clock
    wake: Callable[[], None]
    graph: bool  # Book in Outlook is offered (and accepted) only with Graph set up

    def card_actions(self) -> dict[str, CardAction]:
        return {verb.value: self.on_action for verb in FurtherVerb}

    async def on_action(self, context: Turn, press: CardPress) -> InvokeReply:
        parsed = Press.parse(press)
        if parsed is None:
            log.warning("unrecognised further reflection action %r", press.verb[:40])
            return message_response("Sorry, I did not recognise that button. Please try again.")
        actor = actor_of(context)
        if not await self.admins.is_admin(context):
            await self.store.refused(actor, parsed.session_id, parsed.verb)
            return message_response(NOT_ADMIN)
        view = await self.store.view(parsed.session_id)
        if view is None:
            return message_response("I cannot find that further reflection.")
        rule = RULES[parsed.verb]
        offered = rule.verb is not FurtherVerb.BOOK or (self.graph and view.invitable > 0)
        if view.version != parsed.version or not view.can(rule) or not offered:
            # A double press, or a card drawn before someone else acted: change nothing.
            return self._card(view, notice=self._moved_on(view))
        try:
            change = self._change(rule, view, parsed.fields)
        except BadInput as problem:
            # Only the message: the card pressed keeps what was typed in it.
            return message_response(str(problem))
        outcome = await self.store.decide(view.session_id, parsed.version, rule, change, actor)
        if outcome is None:
            return message_response("I cannot find that further reflection.")
        if not outcome.applied:
            return self._card(outcome.view, notice=self._moved_on(outcome.view))
        self.wake()  # the shared card (and Outlook, for Book) now
        return self._card(outcome.view, notice=rule.done, notice_style="good")

    def _change(self, rule: Rule, view: FurtherView, fields: dict[str, str]) -> Change:
        if rule.verb is FurtherVerb.NOT_NEEDED:
            return Change(audit_detail=f"{view.reference}: not needed")
        unstorable = first_unstorable(fields)
        if unstorable is not None:
            card = further_reflection_card(view, self.calendar, graph=self.graph)
            raise BadInput(unstorable_message(input_label(card, unstorable)))
        start = self._future(fields)
        utc = f"{start:%Y-%m-%d %H:%M} UTC"
        if rule.verb is FurtherVerb.BOOK:
            # Stored before Graph is called: a retry after a crash makes the same one event.
            transaction = f"{view.reference}-further-v{view.version + 1}"
            detail = f"{view.reference}: booking {utc} through Outlook"
            return Change(session_at=start, transaction_id=transaction, audit_detail=detail)
        link = join_link(fields.get("link", "").strip())
        return Change(session_at=start, join_url=link, audit_detail=f"{view.reference}: {utc}")

    def _future(self, fields: dict[str, str]) -> datetime:
        start = typed_time(
            fields.get("day", "").strip(), fields.get("time", "").strip(), self.calendar.zone, WHAT
        )
        if start <= self.clock.now():
            raise BadInput("That time has passed: please give a time still to come.")
        return start

    def _moved_on(self, view: FurtherView) -> str:
        by = f" by {view.decided_by_name}" if view.decided_by_name else ""
        on = f" on {when(view.decided_at, self.calendar)}" if view.decided_at else ""
        return (
            f"This further reflection has moved on{by}{on}. Nothing was changed by your "
            "press; here is the card as it is now."
        )

    def _card(
        self, view: FurtherView, *, notice: str = "", notice_style: str = "warning"
    ) -> InvokeReply:
        card = further_reflection_card(
            view, self.calendar, graph=self.graph, notice=notice, notice_style=notice_style
        )
        return card_response(card)
