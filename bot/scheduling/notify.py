"""Booking news: the referrer, the facilitator and reachable invitees hear when and where.

Used by the Graph booking job once Outlook has the meeting, and by triage (through a
callable composed in `app.py`) when an admin books by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.models import ReferralRow
from bot.core.outbox import Message
from bot.core.protocols import ModelCatalogue
from bot.core.working_days import WorkingCalendar
from bot.scheduling.reminders import facilitator_reminders
from bot.triage.notify import to_facilitator, to_invitees, to_referrer
from bot.triage.views import TriageView
from cards.scheduling import booked_card, invitee_card


@dataclass(frozen=True)
class BookingNews:
    calendar: WorkingCalendar
    models: ModelCatalogue
    # The facilitator's reminders: the working day before at this hour, and this many
    # minutes before the start (bot.scheduling.reminders).
    day_before_hour: int = 9
    minutes_before: int = 15

    def booked(
        self, row: ReferralRow, view: TriageView, now: datetime, *, by_hand: bool = False
    ) -> list[Message]:
        """The referrer and the facilitator hear when and where; reminders are queued."""
        messages = [to_referrer(row, booked_card(view, self.calendar, self.models))]
        if row.facilitator_id:
            card = booked_card(view, self.calendar, self.models, for_facilitator=True)
            messages.append(to_facilitator(row, card))
        if by_hand:
            # No Outlook invitation from the bot, so tell the invitees it can reach in
            # Teams (bot.teams.people); the referrer forwards it to the rest.
            messages += to_invitees(row, invitee_card(view, self.calendar, self.models))
        return messages + facilitator_reminders(
            row, now, self.calendar, self.day_before_hour, self.minutes_before
        )

    def booked_by_hand(self, row: ReferralRow, view: TriageView, now: datetime) -> list[Message]:
        return self.booked(row, view, now, by_hand=True)
