"""Database tables. The schema is owned by Alembic migrations in `migrations/`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.core.sealed import SealedJSON, SealedText


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, stored in UTC and always read back aware, on either database.

    SQLite keeps no time zone: it writes an aware datetime's wall time without its offset and
    hands back naive datetimes, which cannot be compared with the clock's aware ones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    pass


class BotStateRow(Base):
    """One botbuilder Storage item (conversation, user or dialog state), encrypted."""

    __tablename__ = "bot_state"

    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    etag: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ReferenceCounter(Base):
    """The last number used for readable references in a year (RP-2026-0001, ...)."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer)


class ReferralRow(Base):
    __tablename__ = "referrals"
    __table_args__ = (UniqueConstraint("draft_id", name="uq_referrals_draft_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    # The draft it came from: a unique key, so a repeated Submit cannot store it twice.
    draft_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # When the "Referral received" card was sent: claimed before it is, so two Submits
    # racing (two presses, two activities) show it once; given back if sending fails.
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    referrer_id: Mapped[str] = mapped_column(String(256), index=True)
    # People's names, emails and conversation references are sealed (encrypted at rest): who
    # is around a child's case says which services are involved.
    referrer_name: Mapped[str] = mapped_column(SealedText())
    # Where to reach the referrer later (proactive messages).
    conversation_reference: Mapped[dict[str, Any]] = mapped_column(SealedJSON())
    kind: Mapped[str] = mapped_column(String(32))
    theme: Mapped[str | None] = mapped_column(String(32), nullable=True)
    model: Mapped[str] = mapped_column(String(32))
    rethink_strategy: Mapped[int | None] = mapped_column(Integer, nullable=True)
    agency: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(120))
    is_lead_professional: Mapped[bool]
    manager_agreed: Mapped[bool]
    manager_name: Mapped[str | None] = mapped_column(SealedText(), nullable=True)
    manager_email: Mapped[str | None] = mapped_column(SealedText(), nullable=True)
    # Invitees are professionals: name, agency, email. No child's details live here.
    invitees: Mapped[list[dict[str, str]]] = mapped_column(SealedJSON())
    availability: Mapped[str | None] = mapped_column(SealedText(), nullable=True)
    urgency: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The form's further questions (bot.referrals.model.FormQuestion), answered: JSON
    # [{"key", "label", "value"}], labelled as at submission, Fernet-encrypted like the
    # narrative (free text may say more than it should); None when there are none.
    further_answers_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # What is stuck and what help is wanted: special-category data, Fernet-encrypted.
    narrative_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # When the retention purge erased the case text and names (bot.privacy.retention): what
    # is left is the partnership's anonymous figures.
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    # Triage. `version` goes up with every decision: a card carries the version it showed,
    # so of two admins pressing at once only the first changes anything.
    version: Mapped[int] = mapped_column(Integer, default=0)
    decided_by_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    decided_by_name: Mapped[str | None] = mapped_column(SealedText(), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    facilitator_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    facilitator_name: Mapped[str | None] = mapped_column(SealedText(), nullable=True)
    # A decline reason or withdrawal note may name the case: encrypted like the narrative.
    decision_note_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    signpost: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The triage card in the desk conversation, so it can be updated in place.
    triage_card_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    triage_conversation_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # When an untriaged referral brings a reminder to the desk; cleared once it is sent.
    reminder_due_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), nullable=True, index=True
    )
    # The session: when, the Teams meeting's join link, and its chat (from the link), so the
    # bot knows which referral a meeting chat is for when the meeting starts.
    session_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    meeting_join_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    meeting_chat_id: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    session_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Booking through Graph (bot.scheduling.bookings): what the admin asked for is above; these say
    # where the Outlook event has got to: booking_state is a bot.referrals.model.BookingState, or
    # None when booked by hand; booking_problem says why it failed, for the admin.
    booking_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    booking_problem: Mapped[str | None] = mapped_column(SealedText(), nullable=True)
    # Kept until the event is stored, so a retry after a crash finds the same event.
    meeting_transaction_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    meeting_event_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    meeting_event_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), nullable=True
    )  # the start the Outlook event has now (moving it catches up with session_at)
    meeting_app_installed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last "find times": {"state", "at", "slots": [{"start", "end", "free", "of"}], ...}
    slot_search: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class TriageDesk(Base):
    """The channel or group chat where a tenant's admins triage referrals."""

    __tablename__ = "triage_desks"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(256))
    conversation_reference: Mapped[dict[str, Any]] = mapped_column(SealedJSON())
    registered_by_id: Mapped[str] = mapped_column(String(256))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ReferralQuestion(Base):
    """An admin's "more information, please" and the referrer's answer, both encrypted."""

    __tablename__ = "referral_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    asked_by_id: Mapped[str] = mapped_column(String(256))
    asked_by_name: Mapped[str] = mapped_column(SealedText())
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    question_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    answer_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class PersonalChat(Base):
    """Where to reach a person 1:1, for proactive messages."""

    __tablename__ = "personal_chats"

    person_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    conversation_reference: Mapped[dict[str, Any]] = mapped_column(SealedJSON())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Person(Base):
    """Someone who has talked to the bot 1:1, with the email Teams gave for them, so that a
    session's invitees (known by email only) can be told in Teams without Graph."""

    __tablename__ = "people"
    __table_args__ = (
        Index("ix_people_tenant_email_hash", "tenant_id", "email_hash"),
        Index("ix_people_tenant_upn_hash", "tenant_id", "upn_hash"),
    )

    person_id: Mapped[str] = mapped_column(String(256), primary_key=True)  # Entra object id
    tenant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(SealedText())
    email: Mapped[str | None] = mapped_column(SealedText(), nullable=True)  # lower case
    upn: Mapped[str | None] = mapped_column(SealedText(), nullable=True)  # lower case
    # Keyed hashes of the email and UPN (Cipher.lookup_hash): how an invitee is found.
    email_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    upn_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # When they last wrote to the bot 1:1 (to the day): their details are kept from then.
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    learnt_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class OutboxMessage(Base):
    """A proactive message waiting to be sent; the scheduler delivers it, retrying if need be.

    Claims (`claimed_until`) make each message go once when several instances share the
    database. The activity is encrypted: it may carry a question about a case.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        # The waiting messages only: the table also holds a week of sent ones.
        Index(
            "ix_outbox_waiting",
            "due_at",
            postgresql_where=text("sent_at IS NULL AND failed_at IS NULL"),
            sqlite_where=text("sent_at IS NULL AND failed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    # "conversation" (a stored reference), "person" (a 1:1 chat, created if need be) or
    # "triage_card" (post or update the referral's card on the desk).
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[dict[str, Any]] = mapped_column(SealedJSON())  # may hold an email
    # Indexed: each draw of a referral's card looks up whom its messages could not reach.
    referral_id: Mapped[int | None] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), nullable=True, index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("meeting_sessions.id", ondelete="CASCADE"), nullable=True, index=True
    )
    activity_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True, index=True)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # A message for a moment ("1 minute left") is not sent once this has passed.
    stale_after: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class DigestSent(Base):
    """One weekly digest per desk per week, however many instances are running."""

    __tablename__ = "digests_sent"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    week_of: Mapped[date] = mapped_column(Date, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AuditEntry(Base):
    """Who did what to which referral, and when. Never holds narrative text."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    actor_id: Mapped[str] = mapped_column(String(256))
    actor_name: Mapped[str] = mapped_column(SealedText(), default="")
    action: Mapped[str] = mapped_column(String(64))
    referral_id: Mapped[int | None] = mapped_column(
        ForeignKey("referrals.id", ondelete="SET NULL"), nullable=True, index=True
    )
    detail: Mapped[str] = mapped_column(Text, default="")


class ProcessedActivity(Base):
    """Activity ids already handled: Teams re-sends a request it thinks was lost."""

    __tablename__ = "processed_activities"

    activity_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    # While a turn runs, its claim holds until this moment and is renewed; None once the turn
    # has finished. A claim whose process died expires, so Teams' retry is processed.
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # A token of the turn holding the claim: a turn whose lease was taken over cannot renew,
    # finish or give back the claim of the turn that took it.
    claimed_by: Mapped[str | None] = mapped_column(String(32))


class MeetingSession(Base):
    """A reflective session run in a meeting (or group) chat, with its durable stage timer.

    Holds the plan it started with (the protocol's steps, as JSON), who holds which role and
    where the timing stands. `next_tick_at` is when the timer service must next look at it
    (a warning, the end of a stage, a card refresh); claims on it make each prompt fire once
    with several instances. Never holds what anyone said or typed: that is in
    `session_contributions`, encrypted, and not at all in no-notes mode.
    """

    __tablename__ = "meeting_sessions"
    __table_args__ = (
        # One session at a time per chat, however many people press Start at once.
        Index(
            "uq_meeting_sessions_live_conversation",
            "conversation_id",
            unique=True,
            postgresql_where=text("status <> 'ended'"),
            sqlite_where=text("status <> 'ended'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32))
    referral_id: Mapped[int | None] = mapped_column(
        ForeignKey("referrals.id", ondelete="SET NULL"), nullable=True, index=True
    )
    tenant_id: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str] = mapped_column(String(256))
    conversation_reference: Mapped[dict[str, Any]] = mapped_column(SealedJSON())
    meeting_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    model: Mapped[str] = mapped_column(String(64))
    protocol: Mapped[dict[str, Any]] = mapped_column(JSON)  # the protocol as it was at start
    plan: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # its steps, cycles unrolled
    no_notes: Mapped[bool] = mapped_column(Boolean, default=False)
    independent_facilitator: Mapped[bool] = mapped_column(Boolean, default=False)
    facilitator_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    facilitator_name: Mapped[str | None] = mapped_column(SealedText(), nullable=True)
    # role key -> [{"id", "name"}]: who took which role (names of professionals only)
    roles: Mapped[dict[str, Any]] = mapped_column(SealedJSON())

    # The timing. `version` goes up with every change a button can make: a button carries
    # the version it was drawn with, so a double press or an old card acts at most once.
    status: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    step: Mapped[int] = mapped_column(Integer, default=0)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    remaining_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    allotted_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    running_since: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    warned: Mapped[bool] = mapped_column(Boolean, default=False)
    time_up_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    time_spent: Mapped[list[float]] = mapped_column(JSON)  # seconds per step
    next_tick_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True, index=True)
    refreshed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # When someone last used it (a button, a role, a contribution): a session nobody uses
    # long past its planned end is ended by the timer.
    last_activity_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    # The feedback cards posted in the chat (bot.feedback), redrawn as people answer.
    feedback_card_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    follow_up_card_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # The cards in the chat, updated in place.
    stage_card_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    roles_card_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # The live stage card stays the bot's latest message, or has one short prompt beneath it
    # (bot.sessions.store): how often it has been posted (its buttons carry the number, so a
    # press on an earlier copy is known), and how many bot messages are below it now.
    stage_card_posts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    below_stage_card: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The furthest step started (-1: none): a stage's contribution form is posted only the
    # first time the stage is reached.
    reached_step: Mapped[int] = mapped_column(Integer, default=-1, server_default="-1")

    created_by_id: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # Indexed: the further reflections fall due by when their session ended.
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True, index=True)
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class SessionParticipant(Base):
    """Who took part: for the feedback after the session and the 3-month follow-up."""

    __tablename__ = "session_participants"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("meeting_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    name: Mapped[str] = mapped_column(SealedText())
    role: Mapped[str | None] = mapped_column(String(64), nullable=True)
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # "not_due" while the session runs; "due" once it ends (a later feature sends it).
    feedback_status: Mapped[str] = mapped_column(String(16), default="not_due", index=True)
    feedback_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # Indexed: the feedback job looks for the questions months on that have fallen due.
    follow_up_due_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), nullable=True, index=True
    )
    # Their organisation, as they gave it with their feedback: attendance by agency.
    agency: Mapped[str | None] = mapped_column(String(120), nullable=True)
    # The feedback after the session and the question three months on (bot.feedback): when
    # each was asked, reminded (once, never more) and answered (once).
    feedback_asked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    feedback_reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    feedback_answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    follow_up_asked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    follow_up_reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    follow_up_answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class FeedbackResponse(Base):
    """One person's answers after a session, or three months on: against the session, never
    the child, and without who gave them (the participant row says only that they answered).
    Scores and yes/no answers are the partnership's figures and outlive the retention purge;
    the words are erased with the case."""

    __tablename__ = "feedback_responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("meeting_sessions.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(64))
    # "after" (the session) or "follow_up" (three months on): bot.feedback.model.Round
    round: Mapped[str] = mapped_column(String(16))
    agency: Mapped[str | None] = mapped_column(String(120), nullable=True)
    answered_on: Mapped[date] = mapped_column(Date, index=True)  # the day, not the moment
    # How the session felt (after) or how much it changed their practice (follow-up), 1-5.
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The model's own questions: {question key: 1-5, or "yes" / "no"}; no free text.
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What they wrote, if anything: sealed, and erased with the case.
    words: Mapped[str | None] = mapped_column(SealedText(), nullable=True)


class FurtherReflection(Base):
    """A further reflection meeting the desk is asked to book three months after a session
    (a model's `further_reflection`), through Graph where it is set up, by hand otherwise."""

    __tablename__ = "further_reflections"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("meeting_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(String(64))
    referral_id: Mapped[int | None] = mapped_column(
        ForeignKey("referrals.id", ondelete="SET NULL"), nullable=True, index=True
    )
    due_on: Mapped[date] = mapped_column(Date)
    # "waiting" (for the desk), "booking" (Graph at work), "booked", "failed", "not_needed"
    state: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)  # as for a referral's card
    card_id: Mapped[str | None] = mapped_column(String(256), nullable=True)  # on the desk
    session_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    join_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    event_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    transaction_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    problem: Mapped[str | None] = mapped_column(SealedText(), nullable=True)
    decided_by_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SessionContribution(Base):
    """A hope, blockers and enablers, or an action typed into a session card; encrypted.

    Never written in no-notes mode.
    """

    __tablename__ = "session_contributions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("meeting_sessions.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    # Who wrote it: to replace their own earlier answer, never shown where it is anonymous.
    author_id: Mapped[str] = mapped_column(String(256))
    author_name: Mapped[str] = mapped_column(SealedText())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    content_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
