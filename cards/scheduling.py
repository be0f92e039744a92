"""Booking news: when and where a session is, the times found, the facilitator's reminders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.protocols import ModelCatalogue
from bot.core.working_days import WorkingCalendar
from bot.scheduling.slots import Slot, describe
from bot.triage.views import TriageView
from cards.common import long_when, notice_card, with_join
from cards.triage import label_model


def booked_card(
    view: TriageView,
    calendar: WorkingCalendar,
    models: ModelCatalogue,
    *,
    for_facilitator: bool = False,
) -> dict[str, Any]:
    """When and where the session is: to the referrer and the facilitator, 1:1 only."""
    assert view.session_at is not None
    when_text = long_when(view.session_at, calendar)
    lines = [f"{label_model(view.model, models)}, {when_text}."]
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
        "Accent",
    )
    return with_join(card, view.meeting_join_url)


def invitee_card(
    view: TriageView, calendar: WorkingCalendar, models: ModelCatalogue
) -> dict[str, Any]:
    """To an invitee the bot can reach: the time and the link, nothing of the case."""
    assert view.session_at is not None
    card = notice_card(
        f"You are invited to a reflective session ({view.reference})",
        [
            f"{view.referrer_name} ({view.referrer_agency}) has invited you to a "
            f"{label_model(view.model, models)} session, {long_when(view.session_at, calendar)}.",
            "The meeting chat carries the reference only: keep case details out of it.",
        ],
        [{"title": "Facilitator", "value": view.facilitator_name or "-"}],
        "Accent",
    )
    return with_join(card, view.meeting_join_url)


def slots_card(reference: str, slots: list[Slot], calendar: WorkingCalendar) -> dict[str, Any]:
    """The facilitator sees the times business support is offered, to say which suits."""
    return notice_card(
        f"Times found for {reference}",
        [
            "Business support is booking one of these times for the session you "
            "facilitate. If one suits you better, tell them now:",
            *(f"- {describe(slot, calendar)}" for slot in slots),
        ],
    )


@dataclass(frozen=True)
class ReminderFacts:
    """What a facilitator's reminder says: the booked session, as it stands now."""

    reference: str
    model_label: str
    session_at: datetime
    join_url: str | None
    app_installed: bool


def reminder_card(facts: ReminderFacts, calendar: WorkingCalendar, *, soon: bool) -> dict[str, Any]:
    local = calendar.local(facts.session_at)
    when_text = long_when(facts.session_at, calendar)
    headline = (
        f"{facts.reference} starts at {local:%H:%M}"
        if soon
        else f"Reminder: you facilitate {facts.reference} on {when_text}"
    )
    lines = [f"{facts.model_label}, {when_text}."]
    if not facts.app_installed:
        lines.append("Add me to the meeting so I can keep time in its chat.")
    card = notice_card(headline, lines, color="Accent")
    return with_join(card, facts.join_url)
