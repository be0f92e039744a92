"""Database tables. The schema is owned by Alembic migrations in `migrations/`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class BotStateRow(Base):
    """One botbuilder Storage item (conversation, user or dialog state), encrypted."""

    __tablename__ = "bot_state"

    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    etag: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    tenant_id: Mapped[str] = mapped_column(String(64))
    referrer_id: Mapped[str] = mapped_column(String(256), index=True)
    referrer_name: Mapped[str] = mapped_column(String(256))
    # Where to reach the referrer later (proactive messages); ids and a service URL only.
    conversation_reference: Mapped[dict[str, Any]] = mapped_column(JSON)
    kind: Mapped[str] = mapped_column(String(32))
    theme: Mapped[str | None] = mapped_column(String(32), nullable=True)
    model: Mapped[str] = mapped_column(String(32))
    rethink_strategy: Mapped[int | None] = mapped_column(Integer, nullable=True)
    agency: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(120))
    is_lead_professional: Mapped[bool]
    manager_agreed: Mapped[bool]
    manager_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    manager_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    # Invitees are professionals: name, agency, email. No child's details live here.
    invitees: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    availability: Mapped[str | None] = mapped_column(String(500), nullable=True)
    urgency: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # What is stuck and what help is wanted: special-category data, Fernet-encrypted.
    narrative_encrypted: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEntry(Base):
    """Who did what to which referral, and when. Never holds narrative text."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor_id: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    referral_id: Mapped[int | None] = mapped_column(
        ForeignKey("referrals.id", ondelete="SET NULL"), nullable=True, index=True
    )
    detail: Mapped[str] = mapped_column(Text, default="")


class ProcessedActivity(Base):
    """Activity ids already handled: Teams re-sends a request it thinks was lost."""

    __tablename__ = "processed_activities"

    activity_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
