"""The facilitator's reminders: the working day before a session, and shortly before it.

They are outbox messages due at those times, queued when the session is booked. Each one
carries the start it was made for: a reminder for a session that has since moved or been
cancelled finds the referral changed and is dropped, so nothing has to be taken back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.models import ReferralRow
from bot.core.outbox import Delivery, Kind, Message, person_target
from bot.core.protocols import ModelCatalogue
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import ReferralStatus
from bot.teams.proactive import Proactive
from bot.teams.send import card_message
from cards.scheduling import ReminderFacts, reminder_card

log = logging.getLogger(__name__)

DAY_BEFORE = "day_before"
SOON = "soon"


def facilitator_reminders(
    row: ReferralRow,
    now: datetime,
    calendar: WorkingCalendar,
    day_before_hour: int,
    minutes_before: int,
) -> list[Message]:
    """The reminders still to come for the referral's session, as outbox messages."""
    start = row.session_at
    if start is None or not row.facilitator_id:
        return []
    session_day = calendar.local(start).date()
    day_before = datetime.combine(
        calendar.previous_working_day(session_day), time(day_before_hour), calendar.zone
    )
    times = {DAY_BEFORE: day_before, SOON: start - timedelta(minutes=minutes_before)}
    target = person_target(row.facilitator_id, row)
    return [
        Message(
            Kind.FACILITATOR_REMINDER,
            # The version too: a session moved away and back must not remind twice.
            {**target, "session_at": start.isoformat(), "which": which, "version": row.version},
            None,
            row.id,
            due_at=due,
        )
        for which, due in times.items()
        if due > now
    ]


@dataclass
class FacilitatorReminders:
    sessions: async_sessionmaker[AsyncSession]
    proactive: Proactive
    calendar: WorkingCalendar
    models: ModelCatalogue

    async def deliver(self, delivery: Delivery) -> None:
        assert delivery.referral_id is not None
        async with self.sessions() as session:
            row = await session.get(ReferralRow, delivery.referral_id)
        target: dict[str, Any] = delivery.target
        start = row.session_at if row is not None else None
        if (
            row is None
            or row.status != ReferralStatus.SCHEDULED.value
            or start is None
            or start.isoformat() != target.get("session_at")
            or row.facilitator_id != target.get("person_id")
            or row.version != target.get("version")
        ):
            log.info("reminder %d dropped: the session has changed since", delivery.id)
            return
        facts = ReminderFacts(
            reference=row.reference,
            model_label=self.models.label(row.model),
            session_at=start,
            join_url=row.meeting_join_url,
            app_installed=row.meeting_app_installed,
        )
        card = reminder_card(facts, self.calendar, soon=target.get("which") == SOON)
        await self.proactive.send_to_person(target, card_message(card))
