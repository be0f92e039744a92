"""Columns encrypted at rest without the stores knowing: people's names, emails, references.

A sealed column stores a Fernet token as text and reads back what was stored. The cipher
belongs to the engine (`bot.core.database.create_engine(url, cipher=...)`), so each app, each
operator command and each test reads with its own keys. Fernet is randomised: a sealed column
cannot be compared with a value in SQL; where the bot looks something up by value it stores a
keyed hash beside it (`Cipher.lookup_hash`).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from bot.core.crypto import Cipher

_ATTRIBUTE = "reflective_practice_cipher"


def seal_with(dialect: Dialect, cipher: Cipher) -> None:
    """Gives an engine's dialect (one per engine) the cipher its sealed columns use."""
    setattr(dialect, _ATTRIBUTE, cipher)


def cipher_of(dialect: Dialect) -> Cipher:
    cipher = getattr(dialect, _ATTRIBUTE, None)
    if cipher is None:
        raise RuntimeError(
            "this engine reads or writes sealed (encrypted) columns but has no cipher: "
            "create it with create_engine(url, cipher=...)"
        )
    return cipher  # type: ignore[no-any-return]


class SealedText(TypeDecorator[str]):
    """Text encrypted at rest."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return cipher_of(dialect).encrypt(value).decode("ascii")

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return cipher_of(dialect).decrypt(value.encode("ascii"))


class SealedJSON(TypeDecorator[Any]):
    """A JSON value (a conversation reference, a list of invitees) encrypted at rest."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return cipher_of(dialect).encrypt(plain).decode("ascii")

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(cipher_of(dialect).decrypt(value.encode("ascii")))
