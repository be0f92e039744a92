"""What the bot stores, column by column: how sensitive it is, how long it is kept, who reads it.

Every column of every table is here (tests/test_data_map.py fails on one that is not). The
README's data-protection tables are printed from it (`make data-map`); a test fails when the
README differs. The purge (bot.privacy.retention) carries out the rules named here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Column, LargeBinary, MetaData

from bot.core.sealed import SealedJSON, SealedText


class Category(StrEnum):
    SPECIAL = "special category"  # about a child's case: what is stuck, answers, notes
    PERSONAL = "personal"  # names, emails, where to reach someone, what they wrote
    PSEUDONYMOUS = "pseudonymous"  # ids that name a person only with Entra's help
    NONE = "none"  # no one can be told apart by it


class Rule(StrEnum):
    """How long a value is kept. The periods are settings (RETENTION_*_DAYS)."""

    CASE = "erased RETENTION_CASE_DAYS after the referral closes"
    CASE_PSEUDONYM = "replaced by a pseudonym RETENTION_CASE_DAYS after the referral closes"
    FIGURES = "kept: the partnership's anonymous counts"
    PEOPLE = "erased RETENTION_PEOPLE_DAYS after the person last used the bot"
    DRAFTS = "erased RETENTION_DRAFT_DAYS after it last changed"
    AUDIT = "kept; the actor is replaced by a pseudonym after RETENTION_AUDIT_DAYS"
    DESK = "kept while the desk is registered (replaced when it moves)"
    SENT = "erased 7 days after sending (30 if it failed), or with the referral"
    ACTIVITIES = "erased a day after the activity came"
    ALWAYS = "kept: numbering and bookkeeping"


# Rules under which a value is never erased nor pseudonymised: only data that identifies no one.
KEPT = {Rule.FIGURES, Rule.ALWAYS, Rule.DESK}


@dataclass(frozen=True)
class Table:
    about: str
    readers: str
    columns: dict[str, tuple[Category, Rule]] = field(default_factory=dict)


S, P, Y, N = Category.SPECIAL, Category.PERSONAL, Category.PSEUDONYMOUS, Category.NONE
BOTH_DATABASES = "operators with database access see ciphertext only; with the keys, all of it"

DATA_MAP: dict[str, Table] = {
    "referrals": Table(
        "A referral: what is stuck in a child's case, who referred it, what triage decided.",
        "the referrer (their own, in their 1:1 chat); the triage desk's admins (the narrative "
        "only in Details, which is audited); " + BOTH_DATABASES,
        {
            "id": (N, Rule.FIGURES),
            "reference": (N, Rule.FIGURES),
            "draft_id": (N, Rule.FIGURES),
            "status": (N, Rule.FIGURES),
            "created_at": (N, Rule.FIGURES),
            "updated_at": (N, Rule.FIGURES),
            "confirmed_at": (N, Rule.FIGURES),
            "purged_at": (N, Rule.FIGURES),
            "tenant_id": (N, Rule.FIGURES),
            "referrer_id": (Y, Rule.CASE_PSEUDONYM),
            "referrer_name": (P, Rule.CASE),
            "conversation_reference": (P, Rule.CASE),
            "kind": (N, Rule.FIGURES),
            "theme": (N, Rule.FIGURES),
            "model": (N, Rule.FIGURES),
            "rethink_strategy": (N, Rule.FIGURES),
            "agency": (N, Rule.FIGURES),
            "role": (N, Rule.FIGURES),
            "is_lead_professional": (N, Rule.FIGURES),
            "manager_agreed": (N, Rule.FIGURES),
            "manager_name": (P, Rule.CASE),
            "manager_email": (P, Rule.CASE),
            "invitees": (P, Rule.CASE),
            "availability": (P, Rule.CASE),
            "urgency": (N, Rule.FIGURES),
            "further_answers_encrypted": (S, Rule.CASE),
            "narrative_encrypted": (S, Rule.CASE),
            "version": (N, Rule.FIGURES),
            "decided_by_id": (Y, Rule.CASE_PSEUDONYM),
            "decided_by_name": (P, Rule.CASE),
            "decided_at": (N, Rule.FIGURES),
            "facilitator_id": (Y, Rule.CASE_PSEUDONYM),
            "facilitator_name": (P, Rule.CASE),
            "decision_note_encrypted": (S, Rule.CASE),
            "signpost": (N, Rule.FIGURES),
            "triage_card_id": (N, Rule.CASE),
            "triage_conversation_id": (N, Rule.CASE),
            "reminder_due_at": (N, Rule.FIGURES),
            "session_at": (N, Rule.FIGURES),
            "meeting_join_url": (Y, Rule.CASE),
            "meeting_chat_id": (Y, Rule.CASE),
            "session_minutes": (N, Rule.FIGURES),
            "booking_state": (N, Rule.FIGURES),
            "booking_problem": (P, Rule.CASE),
            "meeting_transaction_id": (N, Rule.CASE),
            "meeting_event_id": (Y, Rule.CASE),
            "meeting_event_at": (N, Rule.FIGURES),
            "meeting_app_installed": (N, Rule.FIGURES),
            "slot_search": (N, Rule.CASE),
        },
    ),
    "referral_questions": Table(
        "An admin's request for more information about a referral, and the referrer's answer.",
        "the admin who asked and the referrer; the answer only in the desk's Details view; "
        + BOTH_DATABASES,
        {
            "id": (N, Rule.CASE),
            "referral_id": (N, Rule.CASE),
            "asked_by_id": (Y, Rule.CASE),
            "asked_by_name": (P, Rule.CASE),
            "asked_at": (N, Rule.CASE),
            "question_encrypted": (S, Rule.CASE),
            "answer_encrypted": (S, Rule.CASE),
            "answered_at": (N, Rule.CASE),
        },
    ),
    "meeting_sessions": Table(
        "A reflective session run in a meeting chat: its plan, roles and timing.",
        "the people in that meeting chat (stage and roles cards); " + BOTH_DATABASES,
        {
            "id": (N, Rule.FIGURES),
            "reference": (N, Rule.FIGURES),
            "referral_id": (N, Rule.FIGURES),
            "tenant_id": (N, Rule.FIGURES),
            "conversation_id": (Y, Rule.CASE_PSEUDONYM),
            "conversation_reference": (P, Rule.CASE),
            "meeting_id": (Y, Rule.CASE),
            "model": (N, Rule.FIGURES),
            "protocol": (N, Rule.FIGURES),
            "plan": (N, Rule.FIGURES),
            "no_notes": (N, Rule.FIGURES),
            "independent_facilitator": (N, Rule.FIGURES),
            "facilitator_id": (Y, Rule.CASE_PSEUDONYM),
            "facilitator_name": (P, Rule.CASE),
            "roles": (P, Rule.CASE),
            "status": (N, Rule.FIGURES),
            "version": (N, Rule.FIGURES),
            "step": (N, Rule.FIGURES),
            "ends_at": (N, Rule.FIGURES),
            "remaining_seconds": (N, Rule.FIGURES),
            "allotted_seconds": (N, Rule.FIGURES),
            "running_since": (N, Rule.FIGURES),
            "warned": (N, Rule.FIGURES),
            "time_up_sent": (N, Rule.FIGURES),
            "time_spent": (N, Rule.FIGURES),
            "next_tick_at": (N, Rule.FIGURES),
            "refreshed_at": (N, Rule.FIGURES),
            "last_activity_at": (N, Rule.FIGURES),
            "feedback_card_id": (N, Rule.CASE),
            "follow_up_card_id": (N, Rule.CASE),
            "stage_card_id": (N, Rule.CASE),
            "roles_card_id": (N, Rule.CASE),
            "stage_card_posts": (N, Rule.FIGURES),
            "below_stage_card": (N, Rule.FIGURES),
            "reached_step": (N, Rule.FIGURES),
            "created_by_id": (Y, Rule.CASE_PSEUDONYM),
            "created_at": (N, Rule.FIGURES),
            "started_at": (N, Rule.FIGURES),
            "ended_at": (N, Rule.FIGURES),
            "purged_at": (N, Rule.FIGURES),
        },
    ),
    "session_participants": Table(
        "Who took part in a session, for attendance figures and the feedback afterwards.",
        BOTH_DATABASES,
        {
            "session_id": (N, Rule.FIGURES),
            "person_id": (Y, Rule.CASE_PSEUDONYM),
            "name": (P, Rule.CASE),
            "role": (N, Rule.FIGURES),
            "joined_at": (N, Rule.FIGURES),
            "feedback_status": (N, Rule.FIGURES),
            "feedback_due_at": (N, Rule.FIGURES),
            "follow_up_due_at": (N, Rule.FIGURES),
            "agency": (N, Rule.FIGURES),
            "feedback_asked_at": (N, Rule.FIGURES),
            "feedback_reminded_at": (N, Rule.FIGURES),
            "feedback_answered_at": (N, Rule.FIGURES),
            "follow_up_asked_at": (N, Rule.FIGURES),
            "follow_up_reminded_at": (N, Rule.FIGURES),
            "follow_up_answered_at": (N, Rule.FIGURES),
        },
    ),
    "feedback_responses": Table(
        "One person's answers after a session or three months on: scores and yes/no answers, "
        "and what they wrote. Stored against the session, without who answered.",
        "nobody in Teams individually: the desk's `report` shows counts and averages, none "
        "drawn from fewer than 3 people; " + BOTH_DATABASES,
        {
            "id": (N, Rule.FIGURES),
            "session_id": (N, Rule.FIGURES),
            "tenant_id": (N, Rule.FIGURES),
            "model": (N, Rule.FIGURES),
            "round": (N, Rule.FIGURES),
            "agency": (N, Rule.FIGURES),
            "answered_on": (N, Rule.FIGURES),
            "score": (N, Rule.FIGURES),
            "answers": (N, Rule.FIGURES),
            "words": (S, Rule.CASE),
        },
    ),
    "further_reflections": Table(
        "A further reflection meeting the desk is asked to book three months after a session.",
        "the triage desk's admins; " + BOTH_DATABASES,
        {
            "session_id": (N, Rule.FIGURES),
            "tenant_id": (N, Rule.FIGURES),
            "referral_id": (N, Rule.FIGURES),
            "due_on": (N, Rule.FIGURES),
            "state": (N, Rule.FIGURES),
            "version": (N, Rule.FIGURES),
            "card_id": (N, Rule.CASE),
            "session_at": (N, Rule.FIGURES),
            "join_url": (Y, Rule.CASE),
            "event_id": (Y, Rule.CASE),
            "transaction_id": (N, Rule.CASE),
            "problem": (P, Rule.CASE),
            "decided_by_id": (Y, Rule.CASE_PSEUDONYM),
            "decided_at": (N, Rule.FIGURES),
            "created_at": (N, Rule.FIGURES),
        },
    ),
    "session_contributions": Table(
        "A hope, blocker, enabler or action typed into a session card (never in no-notes mode).",
        "nobody in Teams (the session's cards show how many, never what); " + BOTH_DATABASES,
        {
            "id": (N, Rule.CASE),
            "session_id": (N, Rule.CASE),
            "step": (N, Rule.CASE),
            "kind": (N, Rule.CASE),
            "author_id": (Y, Rule.CASE),
            "author_name": (P, Rule.CASE),
            "created_at": (N, Rule.CASE),
            "content_encrypted": (S, Rule.CASE),
        },
    ),
    "people": Table(
        "Someone who has talked to the bot 1:1, with the work email Teams gave for them.",
        "nobody in Teams; the bot, to tell invitees of a session; " + BOTH_DATABASES,
        {
            "person_id": (Y, Rule.PEOPLE),
            "tenant_id": (N, Rule.PEOPLE),
            "name": (P, Rule.PEOPLE),
            "email": (P, Rule.PEOPLE),
            "upn": (P, Rule.PEOPLE),
            "email_hash": (Y, Rule.PEOPLE),
            "upn_hash": (Y, Rule.PEOPLE),
            "first_seen_at": (N, Rule.PEOPLE),
            "last_seen_at": (N, Rule.PEOPLE),
            "learnt_at": (N, Rule.PEOPLE),
        },
    ),
    "personal_chats": Table(
        "Where to reach someone in their 1:1 chat with the bot.",
        "nobody in Teams; the bot, to send messages; " + BOTH_DATABASES,
        {
            "person_id": (Y, Rule.PEOPLE),
            "conversation_reference": (P, Rule.PEOPLE),
            "updated_at": (N, Rule.PEOPLE),
        },
    ),
    "bot_state": Table(
        "Each conversation's dialog state: a referral being written, before it is sent.",
        "the person writing it; " + BOTH_DATABASES,
        {
            "key": (Y, Rule.DRAFTS),
            "etag": (N, Rule.DRAFTS),
            "data": (S, Rule.DRAFTS),
            "updated_at": (N, Rule.DRAFTS),
        },
    ),
    "outbox": Table(
        "Messages waiting to be sent (and, for a week, sent ones), with where they go.",
        "the people they are sent to; " + BOTH_DATABASES,
        {
            "id": (N, Rule.SENT),
            "created_at": (N, Rule.SENT),
            "due_at": (N, Rule.SENT),
            "kind": (N, Rule.SENT),
            "target": (P, Rule.SENT),
            "referral_id": (N, Rule.SENT),
            "session_id": (N, Rule.SENT),
            "activity_encrypted": (S, Rule.SENT),
            "attempts": (N, Rule.SENT),
            "claimed_until": (N, Rule.SENT),
            "sent_at": (N, Rule.SENT),
            "failed_at": (N, Rule.SENT),
            "last_error": (N, Rule.SENT),
            "stale_after": (N, Rule.SENT),
        },
    ),
    "audit_log": Table(
        "Who did what to which referral, and when. Never case text.",
        "operators (`python -m bot.core.audit REF`) and admins (`audit REF` in the desk)",
        {
            "id": (N, Rule.ALWAYS),
            "at": (N, Rule.ALWAYS),
            "actor_id": (Y, Rule.AUDIT),
            "actor_name": (P, Rule.AUDIT),
            "action": (N, Rule.ALWAYS),
            "referral_id": (N, Rule.ALWAYS),
            "detail": (N, Rule.ALWAYS),
        },
    ),
    "triage_desks": Table(
        "The channel or group chat where a tenant's admins triage referrals.",
        "the bot; " + BOTH_DATABASES,
        {
            "tenant_id": (N, Rule.DESK),
            "conversation_id": (N, Rule.DESK),
            "conversation_reference": (P, Rule.DESK),
            "registered_by_id": (Y, Rule.DESK),
            "registered_at": (N, Rule.DESK),
        },
    ),
    "processed_activities": Table(
        "Ids of activities already handled, so Teams' retries are not handled twice.",
        "the bot",
        {
            "activity_id": (N, Rule.ACTIVITIES),
            "seen_at": (N, Rule.ACTIVITIES),
            "claimed_until": (N, Rule.ACTIVITIES),
            "claimed_by": (N, Rule.ACTIVITIES),
        },
    ),
    "digests_sent": Table(
        "Which weekly digests have gone, so each goes once.",
        "the bot",
        {
            "tenant_id": (N, Rule.ALWAYS),
            "week_of": (N, Rule.ALWAYS),
            "sent_at": (N, Rule.ALWAYS),
        },
    ),
    "reference_counters": Table(
        "The last referral number used in each year.",
        "the bot",
        {"year": (N, Rule.ALWAYS), "last_number": (N, Rule.ALWAYS)},
    ),
}


def unmapped(metadata: MetaData) -> list[str]:
    """Columns in the schema that the map does not classify, as table.column."""
    return [
        f"{table.name}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.columns
        if column.name not in DATA_MAP.get(table.name, Table("", "")).columns
    ]


def stale(metadata: MetaData) -> list[str]:
    """Columns the map classifies that the schema no longer has."""
    present = {(t.name, column.name) for t in metadata.sorted_tables for column in t.columns}
    return [
        f"{name}.{column}"
        for name, table in DATA_MAP.items()
        for column in table.columns
        if (name, column) not in present
    ]


def is_encrypted(column: Column[Any]) -> bool:
    """Sealed columns hold Fernet tokens as text; every binary column holds them as bytes."""
    return isinstance(column.type, SealedText | SealedJSON | LargeBinary)


def encrypted(metadata: MetaData) -> list[str]:
    """Columns stored encrypted, as table.column."""
    return [
        f"{table.name}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.columns
        if is_encrypted(column)
    ]


def markdown(metadata: MetaData) -> str:
    """The README's data-protection tables, one per database table."""
    secret = set(encrypted(metadata))
    parts: list[str] = []
    for name, table in DATA_MAP.items():
        parts += [f"##### `{name}`", "", f"{table.about} Read by: {table.readers}.", ""]
        parts += ["| Column | Data | Kept | At rest |", "|---|---|---|---|"]
        for column, (category, rule) in table.columns.items():
            at_rest = "encrypted" if f"{name}.{column}" in secret else "plain"
            parts.append(f"| `{column}` | {category} | {rule} | {at_rest} |")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


START, END = "<!-- data-map:start -->", "<!-- data-map:end -->"


def with_map(readme: str, metadata: MetaData) -> str:
    """The README with the section between the data-map markers printed afresh."""
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n\n{markdown(metadata)}\n{END}{tail}"


def main() -> None:
    """Prints the map; with a README's path, rewrites its data-map section (make data-map)."""
    from bot.core.models import Base

    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
        path.write_text(with_map(path.read_text(encoding="utf-8"), Base.metadata), "utf-8")
    else:
        sys.stdout.write(markdown(Base.metadata))


if __name__ == "__main__":
    main()
