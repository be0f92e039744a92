"""The weekly digest for the triage desk: counts, and the referrals waiting longest."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.models import DigestSent, ReferralRow, TriageDesk
from bot.core.outbox import Kind, Message, OutboxWriter
from bot.core.protocols import ModelCatalogue
from bot.core.working_days import WorkingCalendar
from bot.referrals.model import STATUS_LABELS, ReferralStatus
from bot.teams.send import card_message
from bot.triage.views import OPEN, DigestFigures
from cards.triage import digest_card, label_kind

OLDEST_SHOWN = 5


@dataclass
class Digests:
    sessions: async_sessionmaker[AsyncSession]
    outbox: OutboxWriter
    calendar: WorkingCalendar
    models: ModelCatalogue
    weekday: int  # 0 = Monday
    hour: int

    async def send_due(self, now: datetime) -> int:
        """Queues this week's digest for every desk once its time has come; once per week."""
        week_of = self._week_of(now)
        due_at = datetime.combine(
            week_of + timedelta(days=self.weekday), time(self.hour), self.calendar.zone
        )
        if now < due_at:
            return 0
        async with self.sessions() as session:
            desks = list(await session.scalars(select(TriageDesk)))
        sent = 0
        for desk in desks:
            # A desk set up after this week's digest time gets its first one next week.
            if self.calendar.local(desk.registered_at) < due_at:
                sent += await self._send_once(desk, week_of, now)
        return sent

    async def card(self, tenant_id: str, now: datetime) -> dict[str, Any]:
        async with self.sessions() as session:
            rows = await _referrals_of(session, tenant_id)
        return digest_card(figures_of(rows, now, self.calendar, self.models), self.calendar)

    async def _send_once(self, desk: TriageDesk, week_of: date, now: datetime) -> int:
        try:
            async with self.sessions() as session, session.begin():
                # The claim: one row per desk per week, whichever instance inserts it.
                await session.execute(
                    insert(DigestSent).values(
                        tenant_id=desk.tenant_id, week_of=week_of, sent_at=now
                    )
                )
                rows = await _referrals_of(session, desk.tenant_id)
                figures = figures_of(rows, now, self.calendar, self.models)
                activity = card_message(digest_card(figures, self.calendar))
                self.outbox.add(
                    session,
                    [Message(Kind.CONVERSATION, desk.conversation_reference, activity)],
                    now,
                )
        except IntegrityError:
            return 0
        return 1

    def _week_of(self, now: datetime) -> date:
        today = self.calendar.local(now).date()
        return today - timedelta(days=today.weekday())


async def _referrals_of(session: AsyncSession, tenant_id: str) -> list[ReferralRow]:
    return list(
        await session.scalars(select(ReferralRow).where(ReferralRow.tenant_id == tenant_id))
    )


def figures_of(
    rows: list[ReferralRow], now: datetime, calendar: WorkingCalendar, models: ModelCatalogue
) -> DigestFigures:
    week_ago = now - timedelta(days=7)
    recent = [row for row in rows if calendar.local(row.created_at) >= calendar.local(week_ago)]
    waiting = sorted(
        (row for row in rows if ReferralStatus(row.status) in OPEN),
        key=lambda row: calendar.local(row.created_at),
    )
    by_status = Counter(STATUS_LABELS[ReferralStatus(row.status)] for row in rows)
    return DigestFigures(
        period_end=now,
        received=len(recent),
        waiting=len(waiting),
        counts=[
            ("All referrals by status", by_status),
            ("Received this week by kind", Counter(label_kind(r.kind, None) for r in recent)),
            ("Received this week by model", Counter(models.label(r.model) for r in recent)),
            ("Received this week by referrer's agency", Counter(r.agency for r in recent)),
        ],
        oldest=[
            (
                row.reference,
                f"{STATUS_LABELS[ReferralStatus(row.status)]}, "
                f"{calendar.working_days_between(row.created_at, now)} working days",
            )
            for row in waiting[:OLDEST_SHOWN]
        ],
    )
