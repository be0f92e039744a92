"""Reminds the triage desk of a referral nobody has triaged within the working days set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.database import rows_changed
from bot.core.models import ReferralRow, TriageDesk
from bot.core.outbox import Kind, Message, OutboxWriter
from bot.core.protocols import ModelCatalogue
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import ReferralStatus
from bot.teams.send import card_message
from cards.triage import label_kind, label_model, overdue_card


@dataclass
class Reminders:
    sessions: async_sessionmaker[AsyncSession]
    outbox: OutboxWriter
    calendar: WorkingCalendar
    models: ModelCatalogue

    async def send_due(self, now: datetime) -> int:
        """Queues a reminder for each referral now overdue; each is reminded once."""
        async with self.sessions() as session:
            due = (
                await session.execute(
                    select(ReferralRow.id, ReferralRow.reminder_due_at).where(
                        ReferralRow.reminder_due_at <= now,
                        ReferralRow.status == ReferralStatus.SUBMITTED.value,
                    )
                )
            ).all()
        sent = 0
        for referral_id, due_at in due:
            sent += await self._remind(referral_id, due_at, now)
        return sent

    async def _remind(self, referral_id: int, due_at: datetime | None, now: datetime) -> int:
        async with self.sessions() as session, session.begin():
            row = await session.get_one(ReferralRow, referral_id)
            desk = await session.get(TriageDesk, row.tenant_id)
            if desk is None:
                return 0  # no desk yet: it stays due and goes once a desk is registered
            # The claim: only the instance whose UPDATE matches sends the reminder.
            claimed = await session.execute(
                update(ReferralRow)
                .where(ReferralRow.id == referral_id, ReferralRow.reminder_due_at == due_at)
                .values(reminder_due_at=None)
                .execution_options(synchronize_session=False)
            )
            if rows_changed(claimed) != 1:
                return 0
            card = self._card(row, now)
            self.outbox.add(
                session,
                [Message(Kind.CONVERSATION, desk.conversation_reference, card, referral_id)],
                now,
            )
            return 1

    def _card(self, row: ReferralRow, now: datetime) -> dict:
        days = self.calendar.working_days_between(row.created_at, now)
        kind = label_kind(row.kind, row.theme)
        model = label_model(row.model, self.models, row.rethink_strategy)
        return card_message(overdue_card(row.reference, days, kind, model))
