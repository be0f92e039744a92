"""The outbox's further reflection work: the desk's card, and booking the meeting in Outlook.

The booking runs on the calendar outbox (Graph may wait minutes on Retry-After). It is made
with the transaction id the desk stored before asking, so a retry, or a run after a crash
half-way, makes one event: Graph answers a known transaction id with the event made first.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.core.clock import Clock
from bot.core.outbox import Delivery, RetryLater
from bot.core.working_days import WorkingCalendar
from bot.further_reflection.store import FurtherStore
from bot.further_reflection.view import MEETING_MINUTES, State
from bot.scheduling.bookings import maybe_later
from bot.scheduling.calendar_port import CalendarError, CalendarPort, NewMeeting
from bot.teams.deliveries import Deliveries
from bot.teams.send import card_message
from bot.triage.deliveries import NO_DESK_RETRY
from cards.further_reflection import further_reflection_card

log = logging.getLogger(__name__)

NOBODY_TO_INVITE = (
    "I know the email of nobody to invite to this meeting, so Outlook was not asked: book it "
    "yourself with the practitioners who took part."
)


@dataclass
class CardDelivery:
    deliveries: Deliveries
    store: FurtherStore
    calendar: WorkingCalendar
    graph: bool

    async def deliver(self, delivery: Delivery) -> None:
        """Drawn from the row as it is now: updates queued one after another end with the
        latest state whatever order they went in."""
        assert delivery.session_id is not None
        view = await self.store.view(delivery.session_id)
        if view is None:
            return  # purged with its session
        desk = await self.store.desk(view.tenant_id)
        if desk is None:
            raise RetryLater(NO_DESK_RETRY, "no triage desk registered yet")
        card = card_message(further_reflection_card(view, self.calendar, graph=self.graph))
        posted = await self.deliveries.post_or_update(
            desk.conversation_reference, view.card_id, card
        )
        if posted is not None:
            await self.store.set_card(view.session_id, posted)


@dataclass
class BookingDelivery:
    store: FurtherStore
    port: CalendarPort
    calendar: WorkingCalendar
    clock: Clock
    partnership: str

    async def deliver(self, delivery: Delivery) -> None:
        assert delivery.session_id is not None
        found = await self.store.meeting_of(delivery.session_id)
        if found is None:
            return
        row, meeting, referral = found
        if row.state != State.BOOKING.value or row.session_at is None or not row.transaction_id:
            return  # decided otherwise meanwhile, or already done
        attendees = await self.store.attendees(meeting, referral)
        if not attendees:
            await self.store.booked(row.session_id, _failed(NOBODY_TO_INVITE))
            return
        start = row.session_at
        model = html.escape(self.store.models.label(meeting.model))
        reference = html.escape(meeting.reference)
        # The reference and the purpose only: attendees may be from other organisations.
        body = (
            f"<p>A further reflection meeting after the {model} session {reference}, arranged "
            f"by {html.escape(self.partnership)}: how the session felt for you, and how it has "
            "changed your practice since.</p>"
            "<p>The meeting chat may include people from other organisations and stays after "
            "the meeting: please keep case details out of it.</p>"
        )
        try:
            booked = await self.port.book(
                NewMeeting(
                    transaction_id=row.transaction_id,
                    subject=f"Further reflection: {meeting.reference}",
                    body_html=body,
                    start=start,
                    end=start + timedelta(minutes=MEETING_MINUTES),
                    time_zone=str(self.calendar.zone),
                    attendees=attendees,
                )
            )
        except CalendarError as error:
            maybe_later(error, delivery)  # throttled or down: quietly again, a few times
            # Status and code only: Graph's message can name an attendee.
            log.warning(
                "further reflection for %s not booked: %s %s",
                meeting.reference,
                error.status,
                error.code,
            )
            await self.store.booked(row.session_id, _failed(error.message))
            return
        done = {
            "state": State.BOOKED.value,
            "session_at": booked.start or start,
            "join_url": booked.join_url,
            "event_id": booked.event_id,
            "problem": None,
        }
        await self.store.booked(row.session_id, done)


def _failed(problem: str) -> dict[str, object]:
    return {"state": State.FAILED.value, "problem": problem}
