"""Who is told what when a referral's status changes: the messages a decision causes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.models import ReferralRow
from bot.outbox import Kind, Message, triage_card
from bot.referral import ReferralStatus
from bot.triage import Change, TriageView
from cards.send import card_message
from cards.triage_cards import label_kind, label_model, notice_card, question_card, status_card


@dataclass(frozen=True)
class Notices:
    partnership: str

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
        return messages

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
