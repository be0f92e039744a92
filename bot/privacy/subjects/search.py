"""One request's search: its state, and what every table's search shares (recording what it
finds, reading encrypted values, pseudonymising the person where a row stays)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.core.crypto import Cipher, DecryptionError
from bot.core.models import Base
from bot.core.pseudonym import pseudonym
from bot.privacy.retention import blank
from bot.privacy.subjects.findings import Findings, Item
from bot.privacy.subjects.searched import NAMED_BY_ID
from bot.privacy.subjects.subject import Subject
from bot.privacy.subjects.values import dumps, jsonable

Row = TypeVar("Row", bound=Base)


class Search:
    """One request's search, table by table; with `erase`, each finding is also acted on."""

    def __init__(self, session: AsyncSession, cipher: Cipher, subject: Subject, erase: bool):
        self.session = session
        self.cipher = cipher
        self.subject = subject
        self.erase = erase
        self.found = Findings(subject, _pseudonym_of(cipher, subject))
        self.their_referrals: set[int] = set()
        self._reported: set[tuple[str, str, str]] = set()

    async def their_rows(
        self,
        model: type[Row],
        person_id: InstrumentedAttribute[str] | InstrumentedAttribute[str | None],
        *order_by: Any,
    ) -> list[Row]:
        """The rows of `model` whose `person_id` column is one of their ids."""
        query = select(model).where(person_id.in_(sorted(self.subject.ids))).order_by(*order_by)
        return list(await self.session.scalars(query))

    def add(self, table: str, key: dict[str, Any], column: str, value: Any) -> None:
        self._reported.add(_place(table, key, column))
        self.found.add(Item(table, key, column, jsonable(value)))

    def add_row(self, table: str, key: dict[str, Any], row: Any) -> None:
        """Every column of a row that is theirs, encrypted ones decrypted."""
        for column in Base.metadata.tables[table].columns:
            self.add(table, key, column.name, self.readable(getattr(row, column.name)))

    def reported(self, table: str, key: dict[str, Any], column: str) -> bool:
        return _place(table, key, column) in self._reported

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
        columns = Base.metadata.tables[table].columns
        for id_column, name_column in NAMED_BY_ID[table].items():
            if self.subject.is_them(getattr(row, id_column)):
                setattr(row, id_column, self.pseudonym(getattr(row, id_column)))
                if name_column is not None:
                    name = getattr(row, name_column)
                    setattr(row, name_column, blank(columns[name_column], name))

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


def _pseudonym_of(cipher: Cipher, subject: Subject) -> str:
    if subject.ids:
        return pseudonym(cipher, sorted(subject.ids)[0])
    return pseudonym(cipher, f"email {sorted(subject.emails)[0]}" if subject.emails else "")


def _place(table: str, key: dict[str, Any], column: str) -> tuple[str, str, str]:
    """A value's place by its row's primary key (an item's key may add context to it)."""
    primary = [c.name for c in Base.metadata.tables[table].primary_key.columns]
    return table, dumps([key.get(name) for name in primary]), column
