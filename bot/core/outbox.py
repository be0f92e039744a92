"""Proactive messages go through a table, so none is lost to a crash, a 429 or a restart.

A message is written in the same transaction as the decision that causes it. The scheduler
delivers due messages: each is claimed first (a conditional UPDATE), so with several
instances on one database every message is sent once. A failure the connector may get over
(429, 5xx, a network error) is tried again later, after Retry-After where one was given.
A message for a moment ("1 minute left") carries `stale_after`: claimed later than that (held
up by retries, or left by an instance that died while sending it), it is not sent: it is
closed like a failure, its last_error starting "out of date", since sent late it would be wrong.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from opentelemetry.trace import Span
from sqlalchemy import case, delete, event, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import ColumnElement

from bot.core import telemetry
from bot.core.clock import Clock
from bot.core.crypto import Cipher
from bot.core.database import rows_changed
from bot.core.models import OutboxMessage, ReferralRow
from bot.core.outage import is_database_outage

log = logging.getLogger(__name__)


class SendFailed(RuntimeError):
    """The service a delivery went to refused it (the Bot Connector's errors subclass this)."""

    RETRYABLE = frozenset({429, 502, 503, 504})

    def __init__(self, message: str, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds, when the service said how long to wait


LEASE = timedelta(minutes=2)  # a claim held by an instance that died is free after this
MAX_ATTEMPTS = 12
BATCH = 50
KEEP_SENT = timedelta(days=7)
KEEP_FAILED = timedelta(days=30)
PRUNE_EVERY = timedelta(hours=1)
OUT_OF_DATE = "out of date"  # how last_error marks a message closed unsent for being late
# A delivery's outcome, as its span says (or OUT_OF_DATE); kinds and outcomes are constants.
SENT, RETRY, FAILED = "sent", "retry", "failed"
TRACED_KIND, TRACED_ATTEMPT, TRACED_OUTCOME = "outbox.kind", "outbox.attempt", "outbox.outcome"


class Kind:
    CONVERSATION = "conversation"  # target: a stored conversation reference
    PERSON = "person"  # target: {"person_id", "tenant_id", "service_url", "bot"}
    TRIAGE_CARD = "triage_card"  # post or update a referral's card on the triage desk
    # Post or update a session's live stage card / roles card in its meeting chat.
    SESSION_STAGE_CARD = "session_stage_card"
    SESSION_ROLES_CARD = "session_roles_card"
    # Collapse an earlier copy of a session's stage card to one line (posted afresh below).
    SESSION_CARD_MOVED = "session_card_moved"
    # Calendar work through Graph (bot.scheduling.bookings), run by its own outbox and scheduler.
    FIND_TIMES = "find_times"  # target: {} (the referral says whose calendars)
    CALENDAR_SYNC = "calendar_sync"  # make the Outlook event match the referral
    FACILITATOR_REMINDER = "facilitator_reminder"  # target: {"session_at", "which"}
    LEARN_PERSON = "learn_person"  # target: {"reference", "member_id"}: ask Teams for an email
    INVITEE = "invitee"  # target: a PERSON target whose person_id is found by its "email"
    # Post or update a session's feedback card in its meeting chat: target {"round"}.
    FEEDBACK_CARD = "feedback_card"
    # Post or update a further reflection's card on the triage desk (bot.feedback).
    FURTHER_REFLECTION_CARD = "further_reflection_card"
    # Book a further reflection meeting through Graph (the calendar outbox).
    FURTHER_REFLECTION_BOOKING = "further_reflection_booking"


# Graph calls may wait minutes on Retry-After: they must never hold up a session's prompts.
CALENDAR_KINDS = frozenset({Kind.FIND_TIMES, Kind.CALENDAR_SYNC, Kind.FURTHER_REFLECTION_BOOKING})


@dataclass
class Message:
    kind: str
    target: dict[str, Any]
    activity: dict[str, Any] | None = None
    referral_id: int | None = None
    due_at: datetime | None = None
    session_id: int | None = None
    stale_after: datetime | None = None  # not sent after this (it is for a moment)


def triage_card(referral_id: int) -> Message:
    """Post the referral's card on the triage desk, or bring the posted one up to date."""
    return Message(Kind.TRIAGE_CARD, {}, None, referral_id)


def person_target(person_id: str, row: ReferralRow) -> dict[str, Any]:
    """A 1:1 chat with someone in the referral's tenant, reached through its service URL."""
    reference = row.conversation_reference or {}
    return {
        "person_id": person_id,
        "tenant_id": row.tenant_id,
        "service_url": reference.get("serviceUrl", ""),
        "bot": reference.get("bot") or {},
    }


@dataclass
class Delivery:
    """One claimed message, decrypted, for a handler to deliver."""

    id: int
    kind: str
    target: dict[str, Any]
    activity: dict[str, Any] | None
    referral_id: int | None
    attempts: int
    session_id: int | None = None


class RetryLater(Exception):
    """The handler cannot deliver yet (no triage desk, say); try again after `after`."""

    def __init__(self, after: timedelta, reason: str) -> None:
        super().__init__(reason)
        self.after = after


Handler = Callable[[Delivery], Awaitable[None]]


@dataclass
class OutboxWriter:
    cipher: Cipher
    # Called once the transaction that queued messages commits (the scheduler's wake-up).
    on_commit: Callable[[], None] | None = None

    def add(self, session: AsyncSession, messages: list[Message], now: datetime) -> None:
        """Adds messages to the caller's transaction: they are sent only if it commits."""
        if messages and self.on_commit is not None:
            on_commit = self.on_commit
            event.listen(session.sync_session, "after_commit", lambda _: on_commit(), once=True)
        for message in messages:
            encrypted = (
                self.cipher.encrypt(json.dumps(message.activity))
                if message.activity is not None
                else None
            )
            session.add(
                OutboxMessage(
                    created_at=now,
                    due_at=message.due_at or now,
                    kind=message.kind,
                    target=message.target,
                    referral_id=message.referral_id,
                    session_id=message.session_id,
                    activity_encrypted=encrypted,
                    attempts=0,
                    stale_after=message.stale_after,
                )
            )


@dataclass
class Outbox:
    sessions: async_sessionmaker[AsyncSession]
    cipher: Cipher
    clock: Clock
    handlers: dict[str, Handler] = field(default_factory=dict)
    # Which kinds this outbox delivers: those in `only` (if given), never those in `skip`.
    only: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()
    # How long a claim holds: longer than one delivery can take, or a second instance takes
    # the message over while the first is still at it.
    lease: timedelta = LEASE
    _next_prune: datetime | None = field(default=None, init=False)
    # Claimed here and not yet finished: what to give back if the app stops mid-send.
    _held: set[int] = field(default_factory=set, init=False)
    _stopping: bool = field(default=False, init=False)

    async def run_due(self, now: datetime | None = None) -> datetime | None:
        """Delivers the messages due by `now`, a batch at a time.

        Returns when to run again: at once if the batch was full (more are waiting), else
        when the next waiting message falls due (a retry after Retry-After), if any.
        """
        now = now or self.clock.now()
        due = await self._due_ids(now)
        for message_id in due:
            if self._stopping:
                return None  # the app is stopping: what is left waits for another instance
            delivery = await self._claim(message_id, now)
            if delivery is not None:
                await self._deliver(delivery)
        if len(due) == BATCH:
            return self.clock.now()
        async with self.sessions() as session:
            return await session.scalar(
                select(func.min(OutboxMessage.due_at)).where(
                    OutboxMessage.sent_at.is_(None),
                    OutboxMessage.failed_at.is_(None),
                    OutboxMessage.due_at > now,
                    *self._kinds(),
                )
            )

    def stop_claiming(self) -> None:
        """The app is stopping: the delivery under way may finish; no further one starts."""
        self._stopping = True

    async def release_claims(self) -> int:
        """Gives back the claims of deliveries cut off by the stop, so another instance sends
        them at once rather than after the lease; the attempt does not count. (One cut off
        after Teams took it but before it was marked sent goes again: at least once.)"""
        held, self._held = sorted(self._held), set()
        if not held:
            return 0
        async with self.sessions() as session, session.begin():
            released = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(held),
                    OutboxMessage.sent_at.is_(None),
                    OutboxMessage.failed_at.is_(None),
                )
                .values(claimed_until=None, attempts=OutboxMessage.attempts - 1)
            )
        count = rows_changed(released)
        log.info("gave back %d outbox claim(s) on the way out", count)
        return count

    async def prune(self, now: datetime) -> datetime:
        """Forgets messages sent a while ago (the table would otherwise grow by every card
        redraw); returns when to prune again. Failed ones are kept longer, to look into."""
        if self._next_prune is not None and now < self._next_prune:
            return self._next_prune  # a wake-up for new messages is no reason to prune again
        async with self.sessions() as session, session.begin():
            # Two statements, so each can use its index.
            await session.execute(
                delete(OutboxMessage).where(OutboxMessage.sent_at < now - KEEP_SENT)
            )
            await session.execute(
                delete(OutboxMessage).where(OutboxMessage.failed_at < now - KEEP_FAILED)
            )
        self._next_prune = now + PRUNE_EVERY
        return self._next_prune

    async def pending(self) -> int:
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None)
                )
            )
            return int(count or 0)

    async def make_due(self, kind: str, now: datetime) -> None:
        """Brings waiting messages of a kind forward (a triage desk has just been set up)."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.kind == kind,
                    OutboxMessage.sent_at.is_(None),
                    OutboxMessage.failed_at.is_(None),
                )
                .values(due_at=now)
            )

    async def _due_ids(self, now: datetime) -> list[int]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.sent_at.is_(None),
                    OutboxMessage.failed_at.is_(None),
                    OutboxMessage.due_at <= now,
                    or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
                    *self._kinds(),
                )
                # Prompts people are waiting for go before card redraws and the like.
                .order_by(
                    case((OutboxMessage.kind == Kind.CONVERSATION, 0), else_=1), OutboxMessage.id
                )
                .limit(BATCH)
            )
            return list(rows.all())

    def _kinds(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.only:
            conditions.append(OutboxMessage.kind.in_(sorted(self.only)))
        if self.skip:
            conditions.append(OutboxMessage.kind.not_in(sorted(self.skip)))
        return conditions

    async def _claim(self, message_id: int, now: datetime) -> Delivery | None:
        async with self.sessions() as session, session.begin():
            claimed = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message_id,
                    OutboxMessage.sent_at.is_(None),
                    OutboxMessage.failed_at.is_(None),
                    or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
                )
                .values(claimed_until=now + self.lease, attempts=OutboxMessage.attempts + 1)
            )
            if rows_changed(claimed) != 1:
                return None  # another instance has it
            self._held.add(message_id)
            row = await session.get_one(OutboxMessage, message_id)
            if _out_of_date(row, self.clock.now()):
                self._held.discard(message_id)
                traced: dict[str, str | int] = {
                    TRACED_KIND: row.kind,
                    TRACED_ATTEMPT: row.attempts,
                    TRACED_OUTCOME: OUT_OF_DATE,
                }
                with telemetry.span(f"outbox {row.kind}", attributes=traced):
                    pass  # not sent: a span of its own, so the trace counts it
                return None
            activity = (
                json.loads(self.cipher.decrypt(row.activity_encrypted))
                if row.activity_encrypted is not None
                else None
            )
            return Delivery(
                row.id,
                row.kind,
                row.target,
                activity,
                row.referral_id,
                row.attempts,
                row.session_id,
            )

    async def _deliver(self, delivery: Delivery) -> bool:
        traced: dict[str, str | int] = {
            TRACED_KIND: delivery.kind,
            TRACED_ATTEMPT: delivery.attempts,
        }
        with telemetry.span(f"outbox {delivery.kind}", attributes=traced) as span:
            outcome = await self._attempt(delivery, span)
            span.set_attribute(TRACED_OUTCOME, outcome)
        return outcome == SENT

    async def _attempt(self, delivery: Delivery, span: Span) -> str:
        """Delivers the message or notes why not; the outcome: sent, retry or failed."""
        handler = self.handlers.get(delivery.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for outbox messages of kind {delivery.kind!r}")
            await handler(delivery)
        except RetryLater as wait:
            return await self._retry(delivery, wait.after, str(wait))
        except SendFailed as error:
            telemetry.failed(span, error)
            span.set_attribute(telemetry.HTTP_STATUS, error.status)
            if error.status in SendFailed.RETRYABLE:
                after = _backoff(delivery.attempts, error.retry_after)
                return await self._retry(delivery, after, error)
            if error.status == 403 and delivery.kind in (
                Kind.PERSON,
                Kind.INVITEE,
                Kind.FACILITATOR_REMINDER,
            ):
                # Someone without the app: theirs to fix, not a fault (bot.teams.deliveries
                # has tried them again by now). Ids only in the log.
                log.warning("outbox message %d (%s) given up: 403", delivery.id, delivery.kind)
                await self._finish(
                    delivery.id, failed_at=self.clock.now(), last_error=str(error)[:500]
                )
                return FAILED
            # 403 (removed from the chat), 404, 400: trying again will not help
            return await self._fail(delivery, error)
        except (aiohttp.ClientError, TimeoutError) as error:
            telemetry.failed(span, error)
            return await self._retry(delivery, _backoff(delivery.attempts, None), error)
        except Exception as error:  # noqa: BLE001 - one bad message must not stop the rest
            telemetry.failed(span, error)
            if is_database_outage(error):  # a handler's own database work: not the message's
                return await self._retry(
                    delivery, _backoff(delivery.attempts, None), "database down"
                )
            log.exception("outbox message %d could not be delivered", delivery.id)
            return await self._fail(delivery, error)
        await self._finish(delivery.id, sent_at=self.clock.now())
        return SENT

    async def _retry(self, delivery: Delivery, after: timedelta, reason: object) -> str:
        if delivery.attempts >= MAX_ATTEMPTS:
            return await self._fail(delivery, reason)
        log.warning(
            "outbox message %d not delivered (%s); trying again in %s",
            delivery.id,
            str(reason)[:200],
            after,
        )
        await self._finish(
            delivery.id, due_at=self.clock.now() + after, last_error=str(reason)[:500]
        )
        return RETRY

    async def _fail(self, delivery: Delivery, reason: object) -> str:
        log.error("outbox message %d given up: %s", delivery.id, str(reason)[:200])
        await self._finish(delivery.id, failed_at=self.clock.now(), last_error=str(reason)[:500])
        return FAILED

    async def _finish(self, message_id: int, **values: Any) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(claimed_until=None, **values)
            )
        self._held.discard(message_id)


def _out_of_date(row: OutboxMessage, now: datetime) -> bool:
    """Closes the claimed message unsent if its moment has passed (the caller commits)."""
    stale_after = row.stale_after
    if stale_after is None or now <= stale_after:
        return False
    late = now - stale_after
    log.info("outbox message %d not sent: out of date by %s", row.id, late)
    row.claimed_until = None
    row.failed_at = now
    row.last_error = f"{OUT_OF_DATE}: claimed {late} after its last useful moment; not sent"
    return True


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    return timedelta(seconds=min(3600.0, 5.0 * 2 ** (attempts - 1)))
