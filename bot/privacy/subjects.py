"""Subject requests: everything the bot stores about one person, exported or erased.

    python -m bot.privacy.subjects export [--person ID] [--email ADDRESS] [--out FILE]
    python -m bot.privacy.subjects erase [--person ID] [--email ADDRESS] [--dry-run]

(one of --person and --email at least; both where known, since referrals name managers and
invitees by email only).

A person is named by their Entra object id (referrals, sessions, the audit log, ...), by email
(a referral's manager and invitees, messages to invitees) and by name beside either. An email
also finds their id through the `people` table (by its keyed hash), where the bot has met them.
`SEARCHED` says, for every personal or pseudonymous column of the data map, how it is searched
(tests/test_subject_requests.py fails on a column it does not cover), and after the search a
sweep reads every value of every table, decrypted, for their ids, emails and names: the export
includes anything else it finds, and an erasure reports whatever still names them.

The export is JSON, decrypted: each item is one column of one row, with its table and row key.
Erasure deletes what is theirs alone (their `people` and `personal_chats` rows, dialog state,
contributions, messages to them) and pseudonymises them where a row must stay (the audit trail,
decisions, a referral's anonymous figures). Both write an audit entry that names the subject by
pseudonym only (bot.privacy.pseudonym), with counts.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import pickle
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, date, datetime
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core import audit
from bot.core.audit import Action, Actor
from bot.core.crypto import Cipher, DecryptionError
from bot.core.models import (
    AuditEntry,
    Base,
    BotStateRow,
    MeetingSession,
    OutboxMessage,
    Person,
    PersonalChat,
    ReferralQuestion,
    ReferralRow,
    SessionContribution,
    SessionParticipant,
    TriageDesk,
)
from bot.core.sealed import SealedJSON
from bot.privacy.data_map import DATA_MAP, KEPT, Category
from bot.privacy.pseudonym import pseudonym
from bot.referrals.model import ReferralStatus

OPERATOR = Actor("operator", "operator")
NOTICE = (
    "Everything the reflective practice bot stores about this person, decrypted. Some items "
    "hold data about other people: a referral's narrative and answers are about a child and "
    "the professionals around them, and questions, decisions and sessions name others. Review "
    "and redact third-party data before releasing this to the person."
)
OPEN = {
    ReferralStatus.SUBMITTED,
    ReferralStatus.MORE_INFO_REQUESTED,
    ReferralStatus.ACCEPTED,
    ReferralStatus.SCHEDULED,
}


class Found(StrEnum):
    """How a column is searched for the person."""

    ID = "compared with their Entra object id"
    NAME = "the name beside an id or email of theirs: erased or blanked with it"
    EMAIL = "compared, lower case, with their email"
    JSON = "searched for their id or email (a conversation reference, a list of people)"
    TEXT = "searched for their ids, emails and names"
    THEIR_ROW = "part of a row that is theirs, found by another column"
    NOT_A_PERSON = "names a meeting or a chat, not a person"


# Every personal or pseudonymous column in the data map, and how it is searched.
SEARCHED: dict[str, dict[str, Found]] = {
    "referrals": {
        "referrer_id": Found.ID,
        "referrer_name": Found.NAME,
        "conversation_reference": Found.JSON,
        "manager_name": Found.NAME,
        "manager_email": Found.EMAIL,
        "invitees": Found.JSON,
        "availability": Found.THEIR_ROW,
        "decided_by_id": Found.ID,
        "decided_by_name": Found.NAME,
        "facilitator_id": Found.ID,
        "facilitator_name": Found.NAME,
        "booking_problem": Found.THEIR_ROW,
        "meeting_join_url": Found.NOT_A_PERSON,
        "meeting_chat_id": Found.NOT_A_PERSON,
        "meeting_event_id": Found.NOT_A_PERSON,
    },
    "referral_questions": {"asked_by_id": Found.ID, "asked_by_name": Found.NAME},
    "meeting_sessions": {
        "conversation_id": Found.NOT_A_PERSON,
        "conversation_reference": Found.JSON,
        "meeting_id": Found.NOT_A_PERSON,
        "facilitator_id": Found.ID,
        "facilitator_name": Found.NAME,
        "roles": Found.JSON,
        "created_by_id": Found.ID,
    },
    "session_participants": {"person_id": Found.ID, "name": Found.NAME},
    "session_contributions": {"author_id": Found.ID, "author_name": Found.NAME},
    "people": {
        "person_id": Found.ID,
        "name": Found.NAME,
        "email": Found.EMAIL,
        "upn": Found.EMAIL,
        "email_hash": Found.EMAIL,
        "upn_hash": Found.EMAIL,
    },
    "personal_chats": {"person_id": Found.ID, "conversation_reference": Found.JSON},
    "bot_state": {"key": Found.TEXT, "data": Found.TEXT},
    "outbox": {"target": Found.JSON, "activity_encrypted": Found.TEXT},
    "audit_log": {"actor_id": Found.ID, "actor_name": Found.NAME, "detail": Found.TEXT},
    "triage_desks": {"conversation_reference": Found.JSON, "registered_by_id": Found.ID},
}

# Id columns and the name column beside each: pseudonymised and blanked together.
NAMED_BY_ID: dict[str, dict[str, str | None]] = {
    "referrals": {
        "referrer_id": "referrer_name",
        "decided_by_id": "decided_by_name",
        "facilitator_id": "facilitator_name",
    },
    "referral_questions": {"asked_by_id": "asked_by_name"},
    "meeting_sessions": {"facilitator_id": "facilitator_name", "created_by_id": None},
    "session_participants": {"person_id": "name"},
    "session_contributions": {"author_id": "author_name"},
    "audit_log": {"actor_id": "actor_name"},
    "people": {"person_id": "name"},
    "personal_chats": {"person_id": None},
    "triage_desks": {"registered_by_id": None},
}


@dataclass
class Subject:
    """The person a request is about, and every way the database names them."""

    ids: set[str] = field(default_factory=set)  # Entra object ids
    emails: set[str] = field(default_factory=set)  # lower case
    names: set[str] = field(default_factory=set)  # as stored beside their ids and emails
    teams_ids: set[str] = field(default_factory=set)  # their Teams user ids (29:...)
    chats: set[str] = field(default_factory=set)  # their 1:1 conversations with the bot
    asked_for: str = ""
    _compiled: tuple[frozenset[str], re.Pattern[str]] | None = field(default=None, repr=False)

    def is_them(self, person_id: Any) -> bool:
        return isinstance(person_id, str) and person_id in self.ids

    def has_email(self, email: Any) -> bool:
        return isinstance(email, str) and email.strip().lower() in self.emails

    def named_in(self, value: Any) -> bool:
        """Whether a JSON value holds one of their ids or emails anywhere."""
        if isinstance(value, str):
            return value in self.ids or value in self.teams_ids or self.has_email(value)
        if isinstance(value, dict):
            return any(self.named_in(item) for item in value.values())
        if isinstance(value, list | tuple):
            return any(self.named_in(item) for item in value)
        return False

    def mentioned_in(self, text: str) -> bool:
        """Whether text holds one of their ids, emails or names, as a whole word."""
        return bool(text) and self._pattern().search(text) is not None

    def mentioned_in_bytes(self, data: bytes) -> bool:
        """The same in pickled state, where any byte may stand beside a string: no word
        boundaries there, just the text itself."""
        text = data.decode("utf-8", "replace")
        lowered = text.lower()
        return any(n in text for n in self._needles() if n not in self.emails) or any(
            e in lowered for e in self.emails
        )

    def _needles(self) -> set[str]:
        return {n for n in self.ids | self.teams_ids | self.emails | self.names if n}

    def _pattern(self) -> re.Pattern[str]:
        needles = frozenset(self._needles())
        if self._compiled is None or self._compiled[0] != needles:
            words = "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
            # Never matches when there is nothing to look for.
            body = f"(?<![\\w.+:-])(?:{words})(?![\\w-])" if words else "(?!x)x"
            self._compiled = (needles, re.compile(body, re.IGNORECASE))
        return self._compiled[1]

    def learn_reference(self, reference: Any) -> None:
        """Their Teams id and, for a 1:1 chat, its conversation id, from a reference of theirs."""
        if not isinstance(reference, dict):
            return
        user = reference.get("user") or {}
        if not self.is_them(user.get("aadObjectId")):
            return
        if user.get("id"):
            self.teams_ids.add(str(user["id"]))
        if user.get("name"):
            self.names.add(str(user["name"]))
        conversation = reference.get("conversation") or {}
        if conversation.get("conversationType") == "personal" and conversation.get("id"):
            self.chats.add(str(conversation["id"]))

    def learn_name(self, name: Any) -> None:
        if isinstance(name, str) and name.strip():
            self.names.add(name)


@dataclass(frozen=True)
class Item:
    """One stored value about the person: where it is and what it holds (decrypted)."""

    table: str
    key: dict[str, Any]
    column: str
    value: Any

    def as_json(self) -> dict[str, Any]:
        return {"table": self.table, "key": self.key, "column": self.column, "value": self.value}


@dataclass(frozen=True)
class Outcome:
    """What an erasure did to some rows of a table, and why what was kept is kept."""

    table: str
    what: str
    rows: int
    why: str = ""

    def line(self) -> str:
        return f"{self.table}: {self.rows} {self.what}" + (f": {self.why}" if self.why else "")


@dataclass
class Findings:
    """A search's result: the items found and, when erasing, what was done."""

    subject: Subject
    pseudonym: str
    items: list[Item] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # After an erasure: values that still name the person (kept; the operator should look).
    remaining: list[Item] = field(default_factory=list)
    dry_run: bool = False

    def add(self, item: Item) -> None:
        if item.value not in (None, "", [], {}):
            self.items.append(item)

    def did(self, table: str, what: str, rows: int, why: str = "") -> None:
        if rows:
            self.outcomes.append(Outcome(table, what, rows, why))

    def note(self, count: int, text: str) -> None:
        if count:
            self.notes.append(f"{count} {text}")

    def rows_by_table(self) -> dict[str, int]:
        rows: dict[str, set[str]] = {}
        for item in self.items:
            rows.setdefault(item.table, set()).add(_dumps(item.key))
        return {table: len(keys) for table, keys in rows.items()}

    def changed_by_table(self) -> dict[str, int]:
        changed: dict[str, int] = {}
        for outcome in self.outcomes:
            changed[outcome.table] = changed.get(outcome.table, 0) + outcome.rows
        return changed

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "subject": {
                "asked_for": self.subject.asked_for,
                "entra_object_ids": sorted(self.subject.ids),
                "emails": sorted(self.subject.emails),
                "pseudonym": self.pseudonym,
            },
            "exported_at": now.isoformat(),
            "notice": NOTICE,
            "rows_by_table": self.rows_by_table(),
            "items": [item.as_json() for item in self.items],
        }

    def report(self) -> str:
        if not self.outcomes and not self.remaining:
            return "Nothing stored names this person."
        heading = "Would do (dry run, nothing changed):" if self.dry_run else "Done:"
        lines = [heading, *(f"  {outcome.line()}" for outcome in self.outcomes)]
        lines += [f"  Note: {note}" for note in self.notes]
        if self.remaining:
            lines.append("Still naming them, kept (look at these by hand):")
            lines += [f"  {i.table} {_key_text(i.key)} {i.column}" for i in self.remaining]
        lines.append(f"The audit log names them as {self.pseudonym}.")
        return "\n".join(lines)


class Search:
    """One request's search, table by table; with `erase`, each finding is also acted on."""

    def __init__(self, session: AsyncSession, cipher: Cipher, subject: Subject, erase: bool):
        self.session = session
        self.cipher = cipher
        self.subject = subject
        self.erase = erase
        self.found = Findings(subject, _subject_pseudonym(cipher, subject))
        self.their_referrals: set[int] = set()
        self._reported: set[tuple[str, str, str]] = set()

    # --- what is found, and what is done with it ----------------------------------------------

    def add(self, table: str, key: dict[str, Any], column: str, value: Any) -> None:
        self._reported.add(_place(table, key, column))
        self.found.add(Item(table, key, column, _jsonable(value)))

    def add_row(self, table: str, key: dict[str, Any], row: Any) -> None:
        """Every column of a row that is theirs, encrypted ones decrypted."""
        for column in Base.metadata.tables[table].columns:
            self.add(table, key, column.name, self.readable(getattr(row, column.name)))

    def readable(self, value: Any) -> Any:
        """A Fernet token decrypted (JSON parsed); anything else as it is."""
        if not isinstance(value, bytes):
            return value
        try:
            text = self.cipher.decrypt(value)
        except (DecryptionError, UnicodeDecodeError):
            return "(cannot be decrypted with the configured keys)"
        if text[:1] in ("{", "["):
            try:
                return json.loads(text)
            except ValueError:
                pass
        return text

    def pseudonym(self, person_id: str) -> str:
        return pseudonym(self.cipher, person_id)

    def pseudonymise(self, table: str, row: Any) -> None:
        """Replaces their ids in the row by pseudonyms and blanks the names beside them."""
        for id_column, name_column in NAMED_BY_ID[table].items():
            if self.subject.is_them(getattr(row, id_column)):
                setattr(row, id_column, self.pseudonym(getattr(row, id_column)))
                if name_column is not None:
                    setattr(row, name_column, _blank(table, name_column, getattr(row, name_column)))

    def scrub_reference(self, reference: Any) -> Any:
        """A conversation reference with their account in it replaced by pseudonyms."""
        if not isinstance(reference, dict):
            return reference
        if isinstance(reference.get("reference"), dict):  # an outbox target holding one
            return {**reference, "reference": self.scrub_reference(reference["reference"])}
        user = reference.get("user")
        if not isinstance(user, dict) or not self.subject.is_them(user.get("aadObjectId")):
            return reference
        return {
            **reference,
            "user": {
                **user,
                "id": self.pseudonym(str(user.get("id") or "")),
                "aadObjectId": self.pseudonym(str(user["aadObjectId"])),
                "name": "",
            },
        }

    def their_reference(self, reference: Any) -> bool:
        """Whether a conversation reference is of their own 1:1 chat with the bot."""
        if not isinstance(reference, dict):
            return False
        conversation = reference.get("conversation") or {}
        user = reference.get("user") or {}
        return conversation.get("id") in self.subject.chats or (
            conversation.get("conversationType") == "personal"
            and self.subject.is_them(user.get("aadObjectId"))
        )

    # --- the tables -------------------------------------------------------------------------

    async def people(self) -> None:
        rows = list(
            await self.session.scalars(
                select(Person).where(Person.person_id.in_(sorted(self.subject.ids)))
            )
        )
        for row in rows:
            self.add_row("people", {"person_id": row.person_id}, row)
            if self.erase:
                await self.session.delete(row)
        self.found.did("people", "deleted", len(rows))

    async def personal_chats(self) -> None:
        rows = list(
            await self.session.scalars(
                select(PersonalChat).where(PersonalChat.person_id.in_(sorted(self.subject.ids)))
            )
        )
        for row in rows:
            self.subject.learn_reference(row.conversation_reference)
            self.add_row("personal_chats", {"person_id": row.person_id}, row)
            if self.erase:
                await self.session.delete(row)
        self.found.did("personal_chats", "deleted (where to reach them 1:1)", len(rows))

    async def referrals(self) -> None:
        made = still_open = manager = invited = decided = 0
        for row in await self.session.scalars(select(ReferralRow).order_by(ReferralRow.id)):
            key = {"id": row.id, "reference": row.reference}
            if self.subject.is_them(row.referrer_id):
                made += 1
                still_open += row.status in OPEN
                self.their_referrals.add(row.id)
                self.subject.learn_name(row.referrer_name)
                self.subject.learn_reference(row.conversation_reference)
                self.add_row("referrals", key, row)
                if self.erase:
                    self._erase_their_referral(row)
                continue
            if self.subject.has_email(row.manager_email):
                manager += 1
                self.subject.learn_name(row.manager_name)
                self.add("referrals", key, "manager_name", row.manager_name)
                self.add("referrals", key, "manager_email", row.manager_email)
                if self.erase:
                    row.manager_name = row.manager_email = None
            theirs = [i for i in row.invitees or [] if self.subject.has_email(i.get("email"))]
            if theirs:
                invited += 1
                for invitee in theirs:
                    self.subject.learn_name(invitee.get("name"))
                self.add("referrals", key, "invitees", theirs)
                if self.erase:
                    row.invitees = [i for i in row.invitees if i not in theirs]
            acted = [c for c in NAMED_BY_ID["referrals"] if self.subject.is_them(getattr(row, c))]
            decided += bool(acted)
            for id_column in acted:
                name_column = NAMED_BY_ID["referrals"][id_column] or ""
                self.subject.learn_name(getattr(row, name_column))
                self.add("referrals", key, id_column, getattr(row, id_column))
                self.add("referrals", key, name_column, getattr(row, name_column))
            if self.erase:
                self.pseudonymise("referrals", row)
        self.found.did(
            "referrals",
            "they made, kept without their name, their case text or the people they named",
            made,
            "the partnership's anonymous counts (status, kind, model, agency, dates)",
        )
        self.found.note(
            still_open,
            "of the referrals they made are still open: nothing more can be sent to them "
            "about these, and the triage desk should withdraw or decline them",
        )
        self.found.did("referrals", "naming them as manager: name and email blanked", manager)
        self.found.did("referrals", "inviting them: their invitee entry removed", invited)
        self.found.did(
            "referrals",
            "they decided or facilitated, kept with a pseudonym for them",
            decided,
            "the record of decisions must stay complete",
        )

    def _erase_their_referral(self, row: ReferralRow) -> None:
        """What the retention purge does to a closed case, now: the case text and the
        referrer's details go, the anonymous figures stay. Other people's names stay only
        where they record a decision (who decided, who facilitates)."""
        others = {
            name
            for id_column, name in NAMED_BY_ID["referrals"].items()
            if name is not None and not self.subject.is_them(getattr(row, id_column))
        }
        for column, (category, rule) in DATA_MAP["referrals"].columns.items():
            erased = category in (Category.SPECIAL, Category.PERSONAL) and rule not in KEPT
            if erased and column not in others:
                setattr(row, column, _blank("referrals", column, getattr(row, column)))
        self.pseudonymise("referrals", row)

    async def questions(self) -> None:
        on_theirs = asked = 0
        rows = await self.session.scalars(
            select(ReferralQuestion)
            .where(
                or_(
                    ReferralQuestion.referral_id.in_(sorted(self.their_referrals)),
                    ReferralQuestion.asked_by_id.in_(sorted(self.subject.ids)),
                )
            )
            .order_by(ReferralQuestion.id)
        )
        for row in rows:
            key = {"id": row.id, "referral_id": row.referral_id}
            if row.referral_id in self.their_referrals:
                on_theirs += 1
                self.add_row("referral_questions", key, row)
                if self.erase:
                    await self.session.delete(row)
                continue
            # A question they asked about someone else's referral: the answer is not theirs.
            asked += 1
            self.subject.learn_name(row.asked_by_name)
            for column in ("asked_by_id", "asked_by_name", "asked_at"):
                self.add("referral_questions", key, column, getattr(row, column))
            question = self.readable(row.question_encrypted)
            self.add("referral_questions", key, "question_encrypted", question)
            if self.erase:
                self.pseudonymise("referral_questions", row)
        self.found.did(
            "referral_questions", "about referrals they made, with answers: deleted", on_theirs
        )
        self.found.did(
            "referral_questions",
            "they asked, kept with a pseudonym for them",
            asked,
            "part of another person's referral and its record",
        )

    async def sessions(self) -> None:
        kept = 0
        named_by_id = NAMED_BY_ID["meeting_sessions"]
        for row in await self.session.scalars(select(MeetingSession).order_by(MeetingSession.id)):
            key = {"id": row.id, "reference": row.reference}
            roles = {
                role: [h for h in holders if self.subject.is_them(h.get("id"))]
                for role, holders in (row.roles or {}).items()
            }
            roles = {role: holders for role, holders in roles.items() if holders}
            user = (row.conversation_reference or {}).get("user") or {}
            started_it = self.subject.is_them(user.get("aadObjectId"))
            acted = [c for c in named_by_id if self.subject.is_them(getattr(row, c))]
            if not (roles or started_it or acted):
                continue
            kept += 1
            for column in acted:
                self.add("meeting_sessions", key, column, getattr(row, column))
                name_column = named_by_id[column]
                if name_column is not None:
                    self.subject.learn_name(getattr(row, name_column))
                    self.add("meeting_sessions", key, name_column, getattr(row, name_column))
            self.add("meeting_sessions", key, "roles", roles)
            for holder in (h for holders in roles.values() for h in holders):
                self.subject.learn_name(holder.get("name"))
            if started_it:
                self.subject.learn_name(user.get("name"))
                self.add("meeting_sessions", key, "conversation_reference", {"user": user})
            if self.erase:
                self.pseudonymise("meeting_sessions", row)
                row.roles = {
                    role: [self._scrub_holder(h) for h in holders]
                    for role, holders in (row.roles or {}).items()
                }
                row.conversation_reference = self.scrub_reference(row.conversation_reference)
        self.found.did(
            "meeting_sessions",
            "naming them (facilitator, a role, who set it up), kept with a pseudonym for them",
            kept,
            "the session's figures (model, stages, timings)",
        )

    def _scrub_holder(self, holder: dict[str, Any]) -> dict[str, Any]:
        if not self.subject.is_them(holder.get("id")):
            return holder
        return {**holder, "id": self.pseudonym(str(holder["id"])), "name": ""}

    async def participants(self) -> None:
        rows = list(
            await self.session.execute(
                select(SessionParticipant, MeetingSession.reference)
                .join(MeetingSession, MeetingSession.id == SessionParticipant.session_id)
                .where(SessionParticipant.person_id.in_(sorted(self.subject.ids)))
                .order_by(SessionParticipant.session_id)
            )
        )
        for row, reference in rows:
            key = {"session_id": row.session_id, "person_id": row.person_id, "session": reference}
            self.subject.learn_name(row.name)
            self.add_row("session_participants", key, row)
        if self.erase:
            # The id is part of the key: changed by statement, not through the loaded rows.
            for row, _ in rows:
                await self.session.execute(
                    update(SessionParticipant)
                    .where(
                        SessionParticipant.session_id == row.session_id,
                        SessionParticipant.person_id == row.person_id,
                    )
                    .values(person_id=self.pseudonym(row.person_id), name="")
                    .execution_options(synchronize_session=False)
                )
        self.found.did(
            "session_participants",
            "kept with a pseudonym for them and no name",
            len(rows),
            "the partnership's attendance figures",
        )

    async def contributions(self) -> None:
        rows = list(
            await self.session.scalars(
                select(SessionContribution)
                .where(SessionContribution.author_id.in_(sorted(self.subject.ids)))
                .order_by(SessionContribution.id)
            )
        )
        for row in rows:
            self.subject.learn_name(row.author_name)
            key = {"id": row.id, "session_id": row.session_id}
            self.add_row("session_contributions", key, row)
            if self.erase:
                await self.session.delete(row)
        self.found.did("session_contributions", "they wrote: deleted", len(rows))

    async def desks(self) -> None:
        kept = 0
        for row in await self.session.scalars(select(TriageDesk)):
            key = {"tenant_id": row.tenant_id}
            user = (row.conversation_reference or {}).get("user") or {}
            registered = self.subject.is_them(row.registered_by_id)
            in_reference = self.subject.is_them(user.get("aadObjectId"))
            if not (registered or in_reference):
                continue
            kept += 1
            self.add("triage_desks", key, "registered_by_id", registered and row.registered_by_id)
            if in_reference:
                self.subject.learn_name(user.get("name"))
                self.add("triage_desks", key, "conversation_reference", {"user": user})
            if self.erase:
                self.pseudonymise("triage_desks", row)
                row.conversation_reference = self.scrub_reference(row.conversation_reference)
        self.found.did(
            "triage_desks",
            "they registered, kept with a pseudonym for them",
            kept,
            "the desk stays where it is",
        )

    async def audit_log(self) -> None:
        rows = list(
            await self.session.scalars(
                select(AuditEntry)
                .where(AuditEntry.actor_id.in_(sorted(self.subject.ids)))
                .order_by(AuditEntry.id)
            )
        )
        for row in rows:
            self.subject.learn_name(row.actor_name)
            self.add_row("audit_log", {"id": row.id}, row)
            if self.erase:
                self.pseudonymise("audit_log", row)
        self.found.did(
            "audit_log",
            "entries of their actions kept, actor replaced by a pseudonym",
            len(rows),
            "the audit trail of decisions must stay complete",
        )

    async def audit_details(self) -> None:
        """Entries by others whose detail names them (an admin assigning them to facilitate).

        Run last: by then every name stored beside their ids is known."""
        names = sorted(self.subject.names, key=len, reverse=True)
        if not names:
            return
        rows = list(
            await self.session.scalars(
                select(AuditEntry)
                .where(or_(*(AuditEntry.detail.contains(n, autoescape=True) for n in names)))
                .order_by(AuditEntry.id)
            )
        )
        rows = [row for row in rows if self.subject.mentioned_in(row.detail)]
        for row in rows:
            self.add("audit_log", {"id": row.id}, "detail", row.detail)
            if self.erase:
                for name in names:
                    row.detail = row.detail.replace(name, self.found.pseudonym)
        self.found.did(
            "audit_log",
            "entries by others naming them in the detail, name replaced by a pseudonym",
            len(rows),
            "the audit trail must stay complete",
        )

    async def outbox(self) -> None:
        to_them = naming = by_reference = waiting = 0
        for row in await self.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)):
            key = {"id": row.id, "kind": row.kind}
            activity = self.readable(row.activity_encrypted)
            if self._to_them(row.target):
                to_them += 1
                self.add_row("outbox", key, row)
            elif activity is not None and self.subject.mentioned_in(_dumps(activity)):
                # A message to someone else that names them (a card with their name on it).
                naming += 1
                self.add("outbox", key, "activity_encrypted", activity)
            elif self.subject.named_in(row.target):
                # To a group chat whose stored reference came from something they said there.
                by_reference += 1
                self.add("outbox", key, "target", row.target)
                if self.erase:
                    row.target = self.scrub_reference(row.target)
                continue
            else:
                continue
            waiting += row.sent_at is None and row.failed_at is None
            if self.erase:
                await self.session.delete(row)
        self.found.did("outbox", "messages to them: deleted", to_them)
        self.found.did("outbox", "messages to others naming them: deleted", naming)
        self.found.did(
            "outbox",
            "messages to group chats, kept with a pseudonym for them in the chat's reference",
            by_reference,
            "they are for everyone in that chat",
        )
        self.found.note(waiting, "of the messages deleted had not been sent yet: they will not be")

    def _to_them(self, target: Any) -> bool:
        if not isinstance(target, dict):
            return False
        return (
            self.subject.is_them(target.get("person_id"))
            or self.subject.has_email(target.get("email"))
            or target.get("member_id") in self.subject.teams_ids
            or self.their_reference(target)
            or self.their_reference(target.get("reference"))
        )

    async def bot_state(self) -> None:
        from bot.teams.storage import load_state  # botbuilder's classes: only for this table

        own = shared = 0
        for row in await self.session.scalars(select(BotStateRow).order_by(BotStateRow.key)):
            try:
                plain = self.cipher.decrypt_bytes(row.data)
            except DecryptionError:
                continue  # the sweep reports nothing it cannot read either
            theirs = any(chat in row.key for chat in self.subject.chats)
            if not theirs and not self.subject.mentioned_in_bytes(plain):
                continue
            own += theirs
            shared += not theirs
            try:
                state: Any = _plain(load_state(plain))
            except (pickle.UnpicklingError, AttributeError, ImportError, EOFError):
                state = "(dialog state that no longer loads)"
            key = {"key": row.key}
            self.add("bot_state", key, "data", state)
            self.add("bot_state", key, "updated_at", row.updated_at)
            if self.erase:
                await self.session.delete(row)
        self.found.did("bot_state", "of their 1:1 chat (unfinished forms): deleted", own)
        if not self.subject.chats:
            # Dialog state is kept by conversation: without a reference to their 1:1 chat (they
            # never submitted a referral nor were messaged there) it cannot be told theirs.
            self.found.notes.append(
                "their 1:1 chat with the bot is not known: a referral they left half written "
                "there goes with the retention purge (RETENTION_DRAFT_DAYS)"
            )
        self.found.did(
            "bot_state",
            "of group chats naming them: deleted",
            shared,
            "whatever was under way in those chats starts afresh",
        )

    async def sweep(self, new_only: bool) -> list[Item]:
        """Every value of every table, decrypted, that names them: all of them, or those the
        search has not reported."""
        named: list[Item] = []
        for table in Base.metadata.sorted_tables:
            key_columns = [column.name for column in table.primary_key.columns]
            for row in (await self.session.execute(select(table))).mappings():
                key = {name: _jsonable(row[name]) for name in key_columns}
                for column, value in row.items():
                    if not self._names_them(value):
                        continue
                    if new_only and _place(table.name, key, column) in self._reported:
                        continue
                    readable = self.readable(value)
                    if table.name == "bot_state" and column == "data":
                        readable = "(dialog state naming them)"
                    named.append(Item(table.name, key, column, _jsonable(readable)))
        return named

    def _names_them(self, value: Any) -> bool:
        if isinstance(value, bytes):
            try:
                return self.subject.mentioned_in_bytes(self.cipher.decrypt_bytes(value))
            except DecryptionError:
                return False
        return self.subject.mentioned_in(value if isinstance(value, str) else _dumps(value))

    async def run(self) -> Findings:
        # People and chats first, then referrals: their emails, names, Teams ids and 1:1
        # conversations, with which the later tables are searched.
        await self.people()
        await self.personal_chats()
        await self.referrals()
        await self.questions()
        await self.sessions()
        await self.participants()
        await self.contributions()
        await self.desks()
        await self.audit_log()
        await self.outbox()
        await self.bot_state()
        await self.audit_details()
        await self.session.flush()
        return self.found


async def resolve(
    session: AsyncSession, cipher: Cipher, person_id: str | None, email: str | None
) -> Subject:
    """The person asked for, with the ids and emails the `people` table knows for them."""
    subject = Subject(asked_for=" ".join(filter(None, (person_id, email))))
    if person_id and person_id.strip():
        subject.ids.add(person_id.strip())
    if email and email.strip():
        address = email.strip().lower()
        subject.emails.add(address)
        hashes = cipher.lookup_hashes(address)
        subject.ids.update(
            await session.scalars(
                select(Person.person_id).where(
                    or_(Person.email_hash.in_(hashes), Person.upn_hash.in_(hashes))
                )
            )
        )
    for person in await session.scalars(
        select(Person).where(Person.person_id.in_(sorted(subject.ids)))
    ):
        subject.emails.update(address.lower() for address in (person.email, person.upn) if address)
        subject.learn_name(person.name)
    return subject


async def export(
    sessions: async_sessionmaker[AsyncSession],
    cipher: Cipher,
    *,
    person_id: str | None = None,
    email: str | None = None,
    actor: Actor = OPERATOR,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Everything stored about the person, as JSON (Findings.as_json); audited."""
    now = now or datetime.now(UTC)
    async with sessions() as session:
        subject = await resolve(session, cipher, person_id, email)
        search = Search(session, cipher, subject, erase=False)
        found = await search.run()
        for item in await search.sweep(new_only=True):
            found.add(item)
        rows = found.rows_by_table()
        detail = f"subject {found.pseudonym}; {len(found.items)} items; " + _counts_text(rows)
        session.add(audit.entry(actor, Action.SUBJECT_EXPORTED, detail=detail))
        await session.commit()
    return found.as_json(now)


async def erase(
    sessions: async_sessionmaker[AsyncSession],
    cipher: Cipher,
    *,
    person_id: str | None = None,
    email: str | None = None,
    actor: Actor = OPERATOR,
    dry_run: bool = False,
) -> Findings:
    """Erases or pseudonymises everything stored about the person, in one transaction, and
    audits it. A dry run is the same erasure rolled back, and not audited (nothing changed)."""
    async with sessions() as session:
        subject = await resolve(session, cipher, person_id, email)
        search = Search(session, cipher, subject, erase=True)
        found = await search.run()
        found.remaining = await search.sweep(new_only=False)
        found.dry_run = dry_run
        if dry_run:
            await session.rollback()
            return found
        detail = f"subject {found.pseudonym}; " + _counts_text(found.changed_by_table())
        session.add(audit.entry(actor, Action.SUBJECT_ERASED, detail=detail))
        await session.commit()
    return found


def _subject_pseudonym(cipher: Cipher, subject: Subject) -> str:
    if subject.ids:
        return pseudonym(cipher, sorted(subject.ids)[0])
    return pseudonym(cipher, f"email {sorted(subject.emails)[0]}" if subject.emails else "")


def _place(table: str, key: dict[str, Any], column: str) -> tuple[str, str, str]:
    """A value's place by its row's primary key (an item's key may add context to it)."""
    primary = [c.name for c in Base.metadata.tables[table].primary_key.columns]
    return table, _dumps([key.get(name) for name in primary]), column


def _blank(table: str, column: str, value: Any) -> Any:
    definition = Base.metadata.tables[table].columns[column]
    if value is None or definition.nullable:
        return None
    if isinstance(definition.type, SealedJSON):
        return type(value)()  # {} or []
    return ""


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {rows}" for name, rows in counts.items()) or "nothing found"


def _key_text(key: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in key.items())


def _plain(value: Any) -> Any:
    """Dialog state (botbuilder's classes and our dataclasses) as plain JSON values."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(item) for name, item in asdict(value).items()}
    if isinstance(value, dict):
        return {str(name): _plain(item) for name, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "__dict__"):
        return {name: _plain(item) for name, item in vars(value).items()}
    return str(value)


def _jsonable(value: Any) -> Any:
    return json.loads(_dumps(value))


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, sort_keys=True)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _operator() -> Actor:
    try:
        return Actor("operator", getpass.getuser())
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return OPERATOR


async def _run(arguments: argparse.Namespace) -> int:
    from bot.core.database import create_engine, session_factory
    from bot.core.settings import Settings

    settings = Settings()
    if not settings.encryption_keys:
        print("ENCRYPTION_KEYS is not set: stored data cannot be read.", file=sys.stderr)
        return 2
    cipher = Cipher(settings.encryption_keys)
    engine = create_engine(settings.database_url, settings.database_timeout_seconds, cipher=cipher)
    sessions = session_factory(engine)
    who = {"person_id": arguments.person, "email": arguments.email}
    try:
        if arguments.command == "export":
            exported = await export(sessions, cipher, actor=_operator(), **who)
            _write(exported, arguments.out)
            rows = exported["rows_by_table"]
            print(
                f"{len(exported['items'])} items from {sum(rows.values())} rows"
                + (f" ({_counts_text(rows)})" if rows else "")
                + (f", written to {arguments.out}" if arguments.out else "")
                + ". Review third-party data in it before releasing it.",
                file=sys.stderr,
            )
        else:
            found = await erase(
                sessions, cipher, actor=_operator(), dry_run=arguments.dry_run, **who
            )
            print(found.report())
    finally:
        await engine.dispose()
    return 0


def _write(exported: dict[str, Any], out: str | None) -> None:
    text = json.dumps(exported, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    # Personal data: readable by the operator only.
    descriptor = os.open(Path(out), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Answer a subject access or erasure request about one person."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    exporting = commands.add_parser("export", help="everything stored about them, as JSON")
    erasing = commands.add_parser("erase", help="erase or pseudonymise it")
    for command in (exporting, erasing):
        command.add_argument("--person", help="their Entra object id")
        command.add_argument("--email", help="their work email (finds their id where known)")
    exporting.add_argument("--out", help="write the JSON here (else to standard output)")
    erasing.add_argument(
        "--dry-run", action="store_true", help="say what would be done; change nothing"
    )
    arguments = parser.parse_args(argv)
    if not (arguments.person or arguments.email):
        parser.error("say whom: --person ID, --email ADDRESS, or both")
    sys.exit(asyncio.run(_run(arguments)))


if __name__ == "__main__":
    main()
