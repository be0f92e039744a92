"""Who is told what when a triage decision is stored: the messages it causes.

Booking news (when and where a session is, and the facilitator's reminders) belongs to
scheduling; it reaches triage as the `booked_by_hand` callable that `app.py` composes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.models import ReferralRow
from bot.core.outbox import Kind, Message, person_target, triage_card
from bot.core.protocols import ModelCatalogue
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import BookingState, ReferralStatus
from bot.teams.send import card_message
from bot.triage.changes import Change
from bot.triage.views import Recipient, TriageView
from cards.triage import (
    accepted_card,
    cancelled_card,
    declined_card,
    facilitator_card,
    question_card,
    withdrawn_card,
)

# The messages a session booked by hand causes (bot.scheduling.notify.BookingNews).
BookedNews = Callable[[ReferralRow, TriageView, datetime], list[Message]]


def to_referrer(row: ReferralRow, card: dict[str, Any]) -> Message:
    return Message(Kind.CONVERSATION, row.conversation_reference, card_message(card), row.id)


def to_facilitator(row: ReferralRow, card: dict[str, Any]) -> Message:
    assert row.facilitator_id is not None
    target = person_target(row.facilitator_id, row)
    return Message(Kind.PERSON, target, card_message(card), row.id)


def to_invitees(row: ReferralRow, card: dict[str, Any]) -> list[Message]:
    emails = {str(i.get("email", "")).strip().lower() for i in row.invitees or []}
    # The person is filled in on delivery, if the bot knows who has the email (bot.teams.people).
    return [
        Message(
            Kind.INVITEE, {**person_target("", row), "email": email}, card_message(card), row.id
        )
        for email in sorted(emails)
        if email
    ]


# How the decisions' `done` texts (bot.triage.decisions) say both are being told.
BOTH_TOLD = "the referrer and the facilitator are"


def confirmation(done: str, view: TriageView) -> str:
    """What the admin who decided is told: `done`, without its claim that the facilitator is
    being told once the bot knows it cannot reach them in Teams."""
    missed = next((p for p in view.unreachable if p.recipient is Recipient.FACILITATOR), None)
    if missed is None or "the facilitator" not in done.lower():
        return done
    told = done.replace(BOTH_TOLD, "the referrer is")
    told = told.replace(BOTH_TOLD.capitalize(), "The referrer is")
    if "the facilitator" in told.lower():  # worded in a way this does not know
        told = "Saved."
    return (
        f"{told} I cannot reach {missed.name} in Teams, so they are not being told: "
        "ask them to add the app (see below)."
    )


def _no_booking_news(row: ReferralRow, view: TriageView, now: datetime) -> list[Message]:
    return []


@dataclass(frozen=True)
class TriageNews:
    partnership: str
    calendar: WorkingCalendar
    models: ModelCatalogue
    booked_by_hand: BookedNews = _no_booking_news

    def after_decision(
        self, row: ReferralRow, view: TriageView, change: Change, question_id: int | None
    ) -> list[Message]:
        messages = [triage_card(row.id)]
        if row.booking_state in (BookingState.BOOKING, BookingState.CANCELLING):
            # Graph does the rest in the background; people hear once it is done. The
            # note for the attendees travels encrypted, as the message's activity.
            note = {"note": change.attendee_note} if change.attendee_note else None
            messages.append(Message(Kind.CALENDAR_SYNC, {}, note, row.id))
        if view.status is ReferralStatus.SCHEDULED:
            if not change.book_with_graph:  # booked by hand: the link is here already
                messages += self.booked_by_hand(row, view, row.updated_at)
            return messages
        to_them = self.referrer_card(view, change, question_id)
        if to_them is not None:
            messages.append(to_referrer(row, to_them))
        if view.status is ReferralStatus.ACCEPTED and change.facilitator_id:
            messages.append(to_facilitator(row, facilitator_card(view, self.models)))
        if change.cancelled_at is not None:  # cancelled, or withdrawn once scheduled
            card = cancelled_card(view, change.cancelled_at, self.calendar)
            if row.facilitator_id:
                messages.append(to_facilitator(row, card))
            if row.booking_state is None:
                # No Outlook meeting to cancel: those told in Teams hear it there.
                messages += to_invitees(row, card)
        return messages

    def referrer_card(
        self, view: TriageView, change: Change, question_id: int | None
    ) -> dict[str, Any] | None:
        status = view.status
        if change.cancelled_at is not None and status is ReferralStatus.ACCEPTED:
            return cancelled_card(view, change.cancelled_at, self.calendar)
        if status is ReferralStatus.MORE_INFO_REQUESTED and question_id is not None:
            return question_card(view.reference, question_id, change.question or "")
        if status is ReferralStatus.ACCEPTED:
            return accepted_card(view, self.models)
        if status is ReferralStatus.DECLINED:
            return declined_card(view, change.note, change.signpost, self.partnership)
        if status is ReferralStatus.WITHDRAWN:
            return withdrawn_card(view, self.partnership)
        return None
