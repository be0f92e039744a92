"""Who is told what when a referral's status changes: the messages a decision causes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.core.models import ReferralRow
from bot.core.outbox import Kind, Message, person_target, triage_card
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import BookingState, ReferralStatus
from bot.scheduling.reminders import facilitator_reminders
from bot.scheduling.slots import Slot, describe
from bot.teams.send import card_message
from bot.triage.store import Change, TriageView
from cards.triage import label_kind, label_model, notice_card, question_card, status_card


@dataclass(frozen=True)
class Notices:
    partnership: str
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    # The facilitator's reminders (bot.scheduling.reminders): the working day before at this
    # hour, and this many minutes before the start.
    day_before_hour: int = 9
    minutes_before: int = 15

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
                messages += self.booked(row, view, row.updated_at, by_hand=True)
            return messages
        to_referrer = self.referrer_card(view, change, question_id)
        if to_referrer is not None:
            messages.append(self._to_referrer(row, to_referrer))
        if view.status is ReferralStatus.ACCEPTED and change.facilitator_id:
            messages.append(self._to_facilitator(row, self.facilitator_card(view)))
        if change.cancelled_at is not None:  # cancelled, or withdrawn once scheduled
            card = self.cancelled_card(view, change.cancelled_at)
            if row.facilitator_id:
                messages.append(self._to_facilitator(row, card))
            if row.booking_state is None:
                # No Outlook meeting to cancel: those told in Teams hear it there.
                messages += self._to_invitees(row, card)
        return messages

    def booked(
        self, row: ReferralRow, view: TriageView, now: datetime, *, by_hand: bool = False
    ) -> list[Message]:
        """The referrer and the facilitator hear when and where; reminders are queued."""
        messages = [self._to_referrer(row, self.booked_card(view))]
        if row.facilitator_id:
            card = self.booked_card(view, for_facilitator=True)
            messages.append(self._to_facilitator(row, card))
        if by_hand:
            # No Outlook invitation from the bot, so tell the invitees it can reach in
            # Teams (bot.teams.people); the referrer forwards it to the rest.
            messages += self._to_invitees(row, self.invitee_card(view))
        return messages + facilitator_reminders(
            row, now, self.calendar, self.day_before_hour, self.minutes_before
        )

    def _to_referrer(self, row: ReferralRow, card: dict[str, Any]) -> Message:
        return Message(Kind.CONVERSATION, row.conversation_reference, card_message(card), row.id)

    def _to_invitees(self, row: ReferralRow, card: dict[str, Any]) -> list[Message]:
        emails = {str(i.get("email", "")).strip().lower() for i in row.invitees or []}
        # The person is filled in on delivery, if the bot knows who has the email.
        return [
            Message(
                Kind.INVITEE, {**person_target("", row), "email": email}, card_message(card), row.id
            )
            for email in sorted(emails)
            if email
        ]

    def _to_facilitator(self, row: ReferralRow, card: dict[str, Any]) -> Message:
        assert row.facilitator_id is not None
        target = person_target(row.facilitator_id, row)
        return Message(Kind.PERSON, target, card_message(card), row.id)

    def model_name(self, model: str) -> str:
        return label_model(model)

    def booked_card(self, view: TriageView, *, for_facilitator: bool = False) -> dict[str, Any]:
        """When and where the session is: to the referrer and the facilitator, 1:1 only."""
        assert view.session_at is not None
        when_text = long_when(view.session_at, self.calendar)
        lines = [f"{label_model(view.model)}, {when_text}."]
        if for_facilitator and view.meeting_app_installed:  # the bot joined its chat
            lines.append(
                "I have joined the meeting's chat: when the meeting starts I post the group "
                "agreement and the roles there, and keep time."
            )
        elif for_facilitator:
            lines.append(
                "Add me to the meeting (Apps in the meeting, or @mention me in its chat): when "
                "it starts I post the group agreement and the roles, and keep time."
            )
        elif view.booked_by_graph:
            lines.append(
                "The people you invited have the invitation in Outlook. The meeting chat "
                "carries the reference only: keep case details out of it."
            )
        else:
            lines.append(
                "Please forward the invitation to the people you invited if they have not had "
                "it. The meeting chat carries the reference only: keep case details out of it."
            )
        card = notice_card(
            f"The session for {view.reference} is booked",
            lines,
            [{"title": "Facilitator", "value": view.facilitator_name or "-"}],
            "Good",
        )
        return _with_join(card, view.meeting_join_url)

    def referrer_card(
        self, view: TriageView, change: Change, question_id: int | None
    ) -> dict[str, Any] | None:
        status = view.status
        if change.cancelled_at is not None and status is ReferralStatus.ACCEPTED:
            return self.cancelled_card(view, change.cancelled_at)
        if status is ReferralStatus.MORE_INFO_REQUESTED and question_id is not None:
            card = question_card(view.reference, question_id, change.question or "")
        elif status is ReferralStatus.ACCEPTED:
            card = status_card(
                "Your referral has been accepted",
                "Good",
                view.reference,
                status,
                [
                    f"It will be a {label_model(view.model)} session"
                    + (
                        f", facilitated by {view.facilitator_name}."
                        if view.facilitator_name
                        else "."
                    ),
                    "Business support will be in touch to arrange a time.",
                ],
            )
        elif status is ReferralStatus.SCHEDULED:
            card = self.booked_card(view)
        elif status is ReferralStatus.DECLINED:
            card = status_card(
                "Your referral has not been taken forward",
                "Attention",
                view.reference,
                status,
                [
                    line
                    for line in (
                        f"Reason: {change.note}" if change.note else "",
                        f"Where to go instead: {change.signpost}" if change.signpost else "",
                        f"If you are unsure, contact the {self.partnership} quoting "
                        f"{view.reference}.",
                    )
                    if line
                ],
            )
        elif status is ReferralStatus.WITHDRAWN:
            card = status_card(
                "Your referral has been closed",
                "Default",
                view.reference,
                status,
                [
                    "Business support has closed it as withdrawn or a duplicate. "
                    f"If that is wrong, contact the {self.partnership} quoting {view.reference}."
                ],
            )
        else:
            return None
        return card

    def invitee_card(self, view: TriageView) -> dict[str, Any]:
        """To an invitee the bot can reach: the time and the link, nothing of the case."""
        assert view.session_at is not None
        card = notice_card(
            f"You are invited to a reflective session ({view.reference})",
            [
                f"{view.referrer_name} ({view.referrer_agency}) has invited you to a "
                f"{label_model(view.model)} session, {long_when(view.session_at, self.calendar)}.",
                "The meeting chat carries the reference only: keep case details out of it.",
            ],
            [{"title": "Facilitator", "value": view.facilitator_name or "-"}],
            "Good",
        )
        return _with_join(card, view.meeting_join_url)

    def cancelled_card(self, view: TriageView, was_at: datetime) -> dict[str, Any]:
        return notice_card(
            f"The session for {view.reference} is cancelled",
            [
                f"The session that was booked for {long_when(was_at, self.calendar)} will not "
                "take place. Business support will arrange another time.",
            ],
            color="Warning",
        )

    def slots_card(self, reference: str, slots: list[Slot]) -> dict[str, Any]:
        """The facilitator sees the times business support is offered, to say which suits."""
        return notice_card(
            f"Times found for {reference}",
            [
                "Business support is booking one of these times for the session you "
                "facilitate. If one suits you better, tell them now:",
                *(f"- {describe(slot, self.calendar)}" for slot in slots),
            ],
        )

    def reminder_card(self, row: ReferralRow, *, soon: bool) -> dict[str, Any]:
        assert row.session_at is not None
        local = self.calendar.local(row.session_at)
        when_text = long_when(row.session_at, self.calendar)
        headline = (
            f"{row.reference} starts at {local:%H:%M}"
            if soon
            else f"Reminder: you facilitate {row.reference} on {when_text}"
        )
        lines = [f"{label_model(row.model)}, {when_text}."]
        if not row.meeting_app_installed:
            lines.append("Add me to the meeting so I can keep time in its chat.")
        card = notice_card(headline, lines, color="Accent")
        return _with_join(card, row.meeting_join_url)

    def facilitator_card(self, view: TriageView) -> dict[str, Any]:
        return notice_card(
            f"You are facilitating {view.reference}",
            [
                "Business support has assigned you to facilitate this session. "
                "They will arrange the time with you."
            ],
            [
                {"title": "Model", "value": label_model(view.model, view.rethink_strategy)},
                {"title": "Kind", "value": label_kind(view.kind, view.theme)},
                {"title": "Agencies", "value": ", ".join(view.agencies) or "-"},
                {"title": "Invitees", "value": str(view.invitee_count)},
            ],
            "Good",
        )


def _with_join(card: dict[str, Any], join_url: str | None) -> dict[str, Any]:
    """The card with a Join button, when there is a meeting link."""
    if join_url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Join the meeting", "url": join_url}]
    return card


def long_when(moment: datetime, calendar: WorkingCalendar) -> str:
    local = calendar.local(moment)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M}"
