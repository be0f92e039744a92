"""The person a request is about, and every way the database names them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.crypto import Cipher
from bot.core.models import Person


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
