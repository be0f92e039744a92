"""Who is told what when a referral's status changes: the messages a decision causes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.models import ReferralRow
from bot.outbox import Kind, Message, triage_card
from bot.referral import ReferralStatus
from bot.triage import Change, TriageView
from bot.working_days import WorkingCalendar
from cards.send import card_message
from cards.triage_cards import label_kind, label_model, notice_card, question_card, status_card


@dataclass(frozen=True)
class Notices:
    partnership: str
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)

    def after_decision(
        self, row: ReferralRow, view: TriageView, change: Change, question_id: int | None
    ) -> list[Message]:
        messages = [triage_card(row.id)]
        to_referrer = self.referrer_card(view, change, question_id)
        if to_referrer is not None:
            messages.append(
                Message(
                    Kind.CONVERSATION, row.conversation_reference, card_message(to_referrer), row.id
                )
            )
        if view.status is ReferralStatus.ACCEPTED and change.facilitator_id:
            messages.append(
                Message(
                    Kind.PERSON,
                    _person_target(change.facilitator_id, row),
                    card_message(self.facilitator_card(view)),
                    row.id,
                )
            )
        if view.status is ReferralStatus.SCHEDULED and row.facilitator_id:
            messages.append(
                Message(
                    Kind.PERSON,
                    _person_target(row.facilitator_id, row),
                    card_message(self.booked_card(view, for_facilitator=True)),
                    row.id,
                )
            )
        return messages

    def booked_card(self, view: TriageView, *, for_facilitator: bool = False) -> dict[str, Any]:
        """When and where the session is: to the referrer and the facilitator, 1:1 only."""
        assert view.session_at is not None
        when_text = _long_when(view.session_at, self.calendar)
        lines = [f"{label_model(view.model)}, {when_text}."]
        if for_facilitator:
            lines.append(
                "Add me to the meeting (Apps in the meeting, or @mention me in its chat): when "
                "it starts I post the group agreement and the roles, and keep time."
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
        if view.meeting_join_url:
            card["actions"] = [
                {
                    "type": "Action.OpenUrl",
                    "title": "Join the meeting",
                    "url": view.meeting_join_url,
                }
            ]
        return card

    def referrer_card(
        self, view: TriageView, change: Change, question_id: int | None
    ) -> dict[str, Any] | None:
        status = view.status
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


def _person_target(person_id: str, row: ReferralRow) -> dict[str, Any]:
    reference = row.conversation_reference or {}
    return {
        "person_id": person_id,
        "tenant_id": row.tenant_id,
        "service_url": reference.get("serviceUrl", ""),
        "bot": reference.get("bot") or {},
    }


def _long_when(moment: datetime, calendar: WorkingCalendar) -> str:
    local = calendar.local(moment)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M}"
