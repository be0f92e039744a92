"""Finding times and booking Teams meetings through the calendar port, in the background.

An admin's press only records what they want (look for times; this time; cancel) and queues
a job in the calendar outbox. The job asks Graph and stores what it learnt. Booking is a
reconciliation: it makes the Outlook event match the referral (create, move or cancel), so
running it twice, or after a crash half-way, does nothing twice: the event is created with
the referral's stored transaction id, which Graph answers with the same event every time.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.clock import Clock
from bot.core.database import rows_changed
from bot.core.models import ReferralRow
from bot.core.outbox import (
    Delivery,
    Kind,
    Message,
    OutboxWriter,
    RetryLater,
    person_target,
    triage_card,
)
from bot.core.settings import Facilitator
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import BookingState, ReferralStatus
from bot.scheduling.calendar_port import CalendarError, CalendarPort, FreeBusy, NewMeeting
from bot.scheduling.notify import BookingNews
from bot.scheduling.slots import Busy, Slot, Window, find_slots, found_search
from bot.teams.meeting_links import chat_id_of
from bot.teams.people import People
from bot.teams.send import card_message
from bot.triage.store import TriageStore, transaction_id
from bot.triage.views import SCHEDULABLE
from cards.common import long_when
from cards.scheduling import slots_card

log = logging.getLogger(__name__)

# Graph's own retry handler has already waited out Retry-After a few times by now.
RETRYABLE = frozenset({0, 429, 500, 502, 503, 504})
TRIES_BEFORE_TELLING = 3  # then the card says what went wrong, with Try again
CHAT_NOT_VISIBLE_YET = timedelta(minutes=1)  # a new meeting takes a while to be found


@dataclass(frozen=True)
class BookingRules:
    """What the partnership configured: windows per model, how far to look, the app."""

    windows: dict[str, Window]  # by model id
    search_days: int = 21
    count: int = 3
    teams_app_id: str = ""  # the app's catalog id; empty: the facilitator adds the app
    partnership: str = ""


async def people_of(
    row: ReferralRow, directory: People | None, facilitators: dict[str, Facilitator]
) -> list[tuple[str, str]]:
    """(name, email) of the facilitator, the referrer (if the bot knows their email: see
    bot.teams.people) and the invitees, each once."""
    people: list[tuple[str, str]] = []
    referrer = await directory.email_of(row.referrer_id) if directory else None
    if referrer:
        people.append((row.referrer_name, referrer))
    facilitator = facilitators.get(row.facilitator_id or "")
    if facilitator is not None and facilitator.email:
        people.append((facilitator.name, facilitator.email))
    for invitee in row.invitees or []:
        email = str(invitee.get("email", "")).strip()
        if email:
            people.append((str(invitee.get("name", "")), email))
    return each_once(people)


def each_once(people: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(name, email) pairs with each email once (case aside), in their order."""
    seen: set[str] = set()
    unique = []
    for name, email in people:
        if email.lower() not in seen:
            seen.add(email.lower())
            unique.append((name, email))
    return unique


def maybe_later(error: CalendarError, delivery: Delivery) -> None:
    """Throttling or an outage: try again later, quietly, a few times (RetryLater)."""
    if error.status in RETRYABLE and delivery.attempts < TRIES_BEFORE_TELLING:
        after = timedelta(seconds=error.retry_after or 30 * delivery.attempts)
        raise RetryLater(after, error.message) from error


@dataclass
class Bookings:
    sessions: async_sessionmaker[AsyncSession]
    port: CalendarPort
    triage: TriageStore
    news: BookingNews
    writer: OutboxWriter
    working: WorkingCalendar
    clock: Clock
    facilitators: dict[str, Facilitator]  # by Entra object id
    rules: BookingRules
    directory: People | None = None  # the referrer's email, once Teams has given it

    # --- finding times -----------------------------------------------------------------

    async def find_times(self, delivery: Delivery) -> None:
        """Reads everyone's free/busy and stores the best few slots on the referral."""
        assert delivery.referral_id is not None
        async with self.sessions() as session:
            row = await session.get(ReferralRow, delivery.referral_id)
        if row is None or row.status not in SCHEDULABLE:
            return
        now = self.clock.now()
        people = await self._people(row)
        facilitator = self.facilitators.get(row.facilitator_id or "")
        window = self.rules.windows[row.model]
        search_from = now + timedelta(days=1)  # a day's notice at least
        try:
            answers = await self.port.free_busy(
                [email for _, email in people],
                search_from,
                search_from + timedelta(days=self.rules.search_days),
            )
        except CalendarError as error:
            self._maybe_later(error, delivery)
            await self._store_search(row.id, {"state": "failed", "problem": error.message}, now)
            return
        slots, readable = self._slots(answers, people, facilitator, window, search_from)
        answered = {answer.person.lower() for answer in answers}
        checked = facilitator is not None and facilitator.email.lower() in answered
        search = found_search(slots, readable, len(people) - readable, checked)
        await self._store_search(row.id, search, now, to_facilitator=slots)

    async def _people(self, row: ReferralRow) -> list[tuple[str, str]]:
        return await people_of(row, self.directory, self.facilitators)

    def _slots(
        self,
        answers: list[FreeBusy],
        people: list[tuple[str, str]],
        facilitator: Facilitator | None,
        window: Window,
        search_from: datetime,
    ) -> tuple[list[Slot], int]:
        # Only calendars Graph could read count: an unreadable one is not "free".
        readable = [answer.person for answer in answers]
        busy = [Busy(answer.person, start, end) for answer in answers for start, end in answer.busy]
        required = frozenset(
            person
            for person in readable
            if facilitator is not None and person.lower() == facilitator.email.lower()
        )
        slots = find_slots(
            busy,
            readable,
            window,
            self.working,
            search_from,
            self.rules.search_days,
            self.rules.count,
            required,
        )
        return slots, len(readable)

    async def _store_search(
        self,
        referral_id: int,
        search: dict[str, Any],
        now: datetime,
        to_facilitator: list[Slot] | None = None,
    ) -> None:
        async with self.sessions() as session, session.begin():
            row = await session.get(ReferralRow, referral_id)
            if row is None or row.status not in SCHEDULABLE:
                return  # withdrawn meanwhile: no times to offer
            before = (row.slot_search or {}).get("slots")
            row.slot_search = {**search, "at": now.isoformat()}
            messages = [triage_card(row.id)]
            # The facilitator hears of times found, not of every search finding the same.
            if to_facilitator and row.facilitator_id and search.get("slots") != before:
                card = slots_card(row.reference, to_facilitator, self.working)
                messages.append(
                    Message(
                        Kind.PERSON,
                        person_target(row.facilitator_id, row),
                        card_message(card),
                        row.id,
                    )
                )
            self.writer.add(session, messages, now)

    # --- booking, moving, cancelling ---------------------------------------------------

    async def sync(self, delivery: Delivery) -> None:
        """Makes the Outlook event match the referral: create, move or cancel it."""
        assert delivery.referral_id is not None
        async with self.sessions() as session:
            row = await session.get(ReferralRow, delivery.referral_id)
        if row is None or row.booking_state is None:
            return  # booked by hand, or gone
        note = str((delivery.activity or {}).get("note", ""))  # the admin's, encrypted
        try:
            wanted = row.status == ReferralStatus.SCHEDULED.value and row.session_at is not None
            if wanted and row.booking_state != BookingState.CANCELLING:
                await self._book_or_move(row)
            else:
                await self._cancel(row, note)
        except CalendarError as error:
            self._maybe_later(error, delivery)
            # Status and code only: Graph's message can name an attendee.
            log.warning(
                "calendar job for %s failed: %s %s", row.reference, error.status, error.code
            )
            # The card shows why, with Try again; nothing is queued again by itself.
            failed = {"booking_state": BookingState.FAILED, "booking_problem": error.message}
            await self._set(row.id, failed, [triage_card(row.id)], version=row.version)

    async def _book_or_move(self, row: ReferralRow) -> None:
        start = row.session_at
        assert start is not None
        end = start + timedelta(minutes=row.session_minutes or 60)
        event_id, event_at = row.meeting_event_id, row.meeting_event_at
        join_url, chat_id = row.meeting_join_url, row.meeting_chat_id
        if not event_id:
            attendees = await self._people(row)
            booked = await self.port.book(self._meeting(row, start, end, attendees))
            event_id, event_at = booked.event_id, booked.start or start
            join_url, chat_id = booked.join_url, booked.chat_id
            # Stored at once, unconditionally: the event exists whatever happens next, and
            # a cancellation must be able to find it.
            created = {"meeting_event_id": event_id, "meeting_event_at": event_at}
            await self._set(row.id, created, [])
        if event_at != start:
            # Moved by the admin, or a retry found the event made for an earlier time.
            try:
                await self.port.move(event_id, start, end, self._moved_note(start))
            except CalendarError as error:
                if error.status != 404:
                    raise
                log.info("event of %s was deleted in Outlook: booking a new one", row.reference)
                # A new transaction id, stored first, so a retry of this finds the new event.
                fresh = {**_NO_EVENT, "meeting_transaction_id": f"{row.reference}-{uuid4().hex}"}
                await self._set(row.id, fresh, [])
                async with self.sessions() as session:
                    again = await session.get_one(ReferralRow, row.id)
                return await self._book_or_move(again)
        problem = None
        try:
            if chat_id is None and join_url:
                chat_id = await self._chat_of(join_url)
            installed = row.meeting_app_installed
            if chat_id and not installed and self.rules.teams_app_id:
                # Stored first: Teams tells the bot of the installation at once, and the bot
                # then looks up which referral the chat is for.
                await self._set(row.id, {"meeting_chat_id": chat_id}, [], version=row.version)
                await self.port.install_app(chat_id, self.rules.teams_app_id)
                installed = True  # now, or already (409)
        except CalendarError as error:
            # The meeting is booked and invitations are out: joining its chat is a bonus.
            log.warning(
                "booked %s but could not join its chat: %s %s",
                row.reference,
                error.status,
                error.code,
            )
            problem = error.message  # for IT: the card says what to do (cards.triage)
            installed = False
        done = {
            "meeting_event_at": start,
            "meeting_join_url": join_url,
            "meeting_chat_id": chat_id,
            "meeting_transaction_id": None,
            "meeting_app_installed": installed,
            "booking_state": BookingState.BOOKED,
            "booking_problem": problem,
        }
        # People hear once per booking or move: a later run that only installs says nothing.
        first_time = row.booking_state != BookingState.BOOKED
        applied = await self._set(
            row.id, done, [triage_card(row.id)], tell_people=first_time, version=row.version
        )
        if not applied:
            await self._after_newer_decision(row.id)
        elif chat_id is None and self.rules.teams_app_id and problem is None:
            # Booked and people told; the meeting's chat shows up a little later.
            raise RetryLater(CHAT_NOT_VISIBLE_YET, "the meeting's chat is not visible yet")

    async def _chat_of(self, join_url: str) -> str | None:
        """The meeting's chat: from Graph's onlineMeeting for the join link, or else from
        the link itself (a classic join link carries the chat's thread id)."""
        try:
            found = await self.port.meeting_chat(join_url)
        except CalendarError as error:
            from_link = chat_id_of(join_url)
            if from_link is None:
                raise
            log.warning("meeting chat taken from the join link: %s %s", error.status, error.code)
            return from_link
        return found or chat_id_of(join_url)

    async def _after_newer_decision(self, referral_id: int) -> None:
        """An admin decided something while Graph was booking. If that left the event this
        job made with nothing to do (cancelled, withdrawn, booked by hand instead), cancel it;
        otherwise the newer decision's own job finishes the work."""
        async with self.sessions() as session, session.begin():
            row = await session.get_one(ReferralRow, referral_id)
            stray = row.meeting_event_id and (
                row.status != ReferralStatus.SCHEDULED.value or row.booking_state is None
            )
            if stray and row.booking_state != BookingState.CANCELLING:
                row.booking_state = BookingState.CANCELLING
                self.writer.add(
                    session, [Message(Kind.CALENDAR_SYNC, {}, None, row.id)], self.clock.now()
                )

    async def _cancel(self, row: ReferralRow, note: str) -> None:
        if row.meeting_event_id:
            await self.port.cancel(row.meeting_event_id, note or self._cancelled_note(row))
        # A meeting booked by hand replaces this one: its join link and chat stay.
        await self._set(row.id, _NO_EVENT, [])
        idle = {"booking_state": None, "booking_problem": None}
        await self._set(row.id, idle, [triage_card(row.id)], version=row.version)

    async def _set(
        self,
        referral_id: int,
        values: dict[str, Any],
        messages: list[Message],
        tell_people: bool = False,
        version: int | None = None,
    ) -> bool:
        """Stores what Graph did, with the messages it causes, in one transaction.

        With `version`, only if no admin has changed the referral since it was read (False
        if one has): a newer decision has queued its own job.
        """
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            change = update(ReferralRow).where(ReferralRow.id == referral_id).values(**values)
            if version is not None:
                change = change.where(ReferralRow.version == version)
            if rows_changed(await session.execute(change)) == 0:
                return False
            if tell_people:
                row = await session.get_one(ReferralRow, referral_id)
                await session.refresh(row)
                if row.status == ReferralStatus.SCHEDULED.value:
                    view = await self.triage.view_of(session, row)
                    messages = messages + self.news.booked(row, view, now)  # and reminders
            self.writer.add(session, messages, now)
            return True

    def _maybe_later(self, error: CalendarError, delivery: Delivery) -> None:
        maybe_later(error, delivery)

    # --- what the invitation says --------------------------------------------------------

    def _meeting(
        self, row: ReferralRow, start: datetime, end: datetime, attendees: list[tuple[str, str]]
    ) -> NewMeeting:
        transaction = row.meeting_transaction_id or transaction_id(row.reference, row.version)
        facilitator = self.facilitators.get(row.facilitator_id or "")
        model = self.news.models.label(row.model)
        # The reference and the purpose only: attendees may be from other organisations.
        body = (
            f"<p>A multi-agency reflective practice session ({html.escape(model)}) arranged "
            f"by {html.escape(self.rules.partnership)}, reference {html.escape(row.reference)}."
            "</p>"
            f"<p>Facilitator: {html.escape(row.facilitator_name or '-')}.</p>"
            "<p>The meeting chat may include people from other organisations and stays after "
            "the meeting: please keep case details out of it.</p>"
        )
        if facilitator is not None and not facilitator.email:
            log.warning("the facilitator of %s has no email: not invited by Graph", row.reference)
        return NewMeeting(
            transaction_id=transaction,
            subject=f"{model}: reflective practice session {row.reference}",
            body_html=body,
            start=start,
            end=end,
            time_zone=str(self.working.zone),
            attendees=attendees,
        )

    def _moved_note(self, start: datetime) -> str:
        return f"This session has moved to {long_when(start, self.working)}."

    def _cancelled_note(self, row: ReferralRow) -> str:
        if row.status == ReferralStatus.SCHEDULED.value:  # booked by hand instead
            return (
                f"This Teams meeting for {row.reference} is replaced by another one: "
                f"{self.rules.partnership} sends its details separately."
            )
        return (
            f"The reflective practice session {row.reference} has been cancelled by "
            f"{self.rules.partnership}. Business support will arrange another time."
        )


_NO_EVENT = {
    "meeting_event_id": None,
    "meeting_event_at": None,
    "meeting_transaction_id": None,
    "meeting_app_installed": False,
}
