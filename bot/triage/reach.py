"""Whom the messages about a referral could not reach in Teams, read from the outbox.

A 1:1 message to someone without the app fails with 403; bot.teams.deliveries tries it again
for about a day, and the outbox keeps CANNOT_REACH as its last error, waiting or given up.
The latest message to each person says where they stand: one sent since means they have
added the app, and so does a 1:1 chat the bot has opened with them since; one not tried yet
may reach them (if not, its 403 redraws the card).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import OutboxMessage, PersonalChat, ReferralRow
from bot.core.outbox import Kind
from bot.teams.deliveries import CANNOT_REACH
from bot.triage.views import Recipient, Unreachable


async def cannot_reach(session: AsyncSession, row: ReferralRow) -> tuple[Unreachable, ...]:
    messages = await session.execute(
        select(
            OutboxMessage.kind,
            OutboxMessage.target,
            OutboxMessage.due_at,
            OutboxMessage.sent_at,
            OutboxMessage.failed_at,
            OutboxMessage.last_error,
        )
        .where(
            OutboxMessage.referral_id == row.id,
            OutboxMessage.kind.in_((Kind.PERSON, Kind.INVITEE)),
        )
        .order_by(OutboxMessage.id)
    )
    latest: dict[tuple[str, str], Any] = {}
    for message in messages:
        latest[_whom(message.kind, message.target)] = message
    found = []
    for (kind, whom), message in latest.items():
        if message.sent_at is not None or not (message.last_error or "").startswith(CANNOT_REACH):
            continue
        recipient = _recipient(row, kind, whom)
        if recipient is None:
            continue  # no longer part of this referral (another facilitator chosen since)
        failed_at = message.failed_at
        if kind == Kind.PERSON and await _chat_opened_since(session, whom, failed_at):
            continue
        next_try = None if failed_at is not None else message.due_at
        found.append(Unreachable(recipient[0], recipient[1], next_try))
    return tuple(found)


def _whom(kind: str, target: dict[str, Any]) -> tuple[str, str]:
    """A person messaged 1:1: by Entra object id, or an invitee by email."""
    return kind, str(target.get("email") if kind == Kind.INVITEE else target.get("person_id"))


def _recipient(row: ReferralRow, kind: str, whom: str) -> tuple[str, Recipient] | None:
    if kind == Kind.PERSON:
        if whom != row.facilitator_id:
            return None
        return row.facilitator_name or "The facilitator", Recipient.FACILITATOR
    for invitee in row.invitees or []:
        if str(invitee.get("email", "")).strip().lower() == whom:
            agency = str(invitee.get("agency") or "").strip()
            name = str(invitee.get("name") or whom).strip()
            return (f"{name} ({agency})" if agency else name), Recipient.INVITEE
    return None


async def _chat_opened_since(
    session: AsyncSession, person_id: str, failed_at: datetime | None
) -> bool:
    """Whether the bot has reached them since (for this referral or another): a chat opened
    after the last try failed. Sent messages are pruned sooner than failed ones."""
    if failed_at is None:
        return False
    chat = await session.get(PersonalChat, person_id)
    return chat is not None and (chat.updated_at or failed_at) > failed_at
