"""botbuilder `Storage` on our database, with eTag optimistic concurrency.

Items (dialog state holds `DialogState`, `DialogInstance` and our dataclasses) are pickled
and then Fernet-encrypted: a half-finished referral in dialog state is as sensitive as a
submitted one. Unpickling is safe here because Fernet authenticates every item: only data
this app wrote with its key can reach `pickle.loads`, and an allow-list of modules stops
even a leaked key from making it run code. State names each class by its import path: when a
class kept in state moves, add its old module to `_MOVED_MODULES`, so that state pickled before
the move still loads (a half-finished referral goes on rather than starting afresh).
"""

from __future__ import annotations

import io
import logging
import pickle
import uuid
from collections.abc import Mapping
from typing import Any, cast

from botbuilder.core import Storage
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.crypto import Cipher, DecryptionError
from bot.core.models import BotStateRow, utcnow

log = logging.getLogger(__name__)

ETAG_KEY = "e_tag"
ANY_ETAG = "*"
TABLE = cast(Table, BotStateRow.__table__)


# What dialog state may hold. Fernet already stops anyone without the key from writing
# state; this list means even a leaked key cannot make unpickling run arbitrary code.
# Modules match by their whole name (`bot.referrals.model` admits no `bot.referrals_x`);
# the packages admit their own modules only.
_ALLOWED_MODULES = frozenset({"bot.referrals.model", "cards.verbs", "datetime"})
_ALLOWED_PACKAGES = ("dialogs.", "botbuilder.dialogs.")
_ALLOWED_BUILTINS = {
    "set",
    "frozenset",
    "list",
    "dict",
    "tuple",
    "str",
    "int",
    "float",
    "bool",
    "bytes",
}


def _model_id(value: str) -> str:
    """Stands in for the `ModelName` enum that state pickled before models became data holds:
    a model is now its protocol file's id, a plain string."""
    return str(value)


# Old module -> its new home, for state pickled before the move into feature packages.
_MOVED_MODULES = {
    "bot.referral": "bot.referrals.model",
    "bot.settings": "bot.core.settings",
}
# Classes that are gone, by (module, name) after _MOVED_MODULES: what gives their value now.
_RETIRED_CLASSES = {("bot.core.settings", "ModelName"): _model_id}


def _may_hold(module: str, name: str) -> bool:
    if module == "builtins":
        return name in _ALLOWED_BUILTINS
    return module in _ALLOWED_MODULES or module.startswith(_ALLOWED_PACKAGES)


class _StateUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        refused = pickle.UnpicklingError(f"state may not hold {module}.{name}")
        module = _MOVED_MODULES.get(module, module)
        if (module, name) in _RETIRED_CLASSES:
            return _RETIRED_CLASSES[module, name]
        # A dotted name would walk attributes out of an allowed module (to `uuid.os.system`,
        # say), so only a class defined in the named module itself is given back.
        if "." in name or not _may_hold(module, name):
            raise refused
        found = super().find_class(module, name)
        if not isinstance(found, type) or found.__module__ != module:
            raise refused
        return found


def load_state(data: bytes) -> Any:
    """Unpickles a stored item, refusing anything outside the allow-list (UnpicklingError)."""
    return _StateUnpickler(io.BytesIO(data)).load()


class ETagConflictError(KeyError):
    """Someone else saved this item since it was read; the caller should reload."""


def _etag_of(item: Any) -> str | None:
    if isinstance(item, Mapping):
        return item.get(ETAG_KEY)
    return getattr(item, ETAG_KEY, None)


def _set_etag(item: Any, etag: str | None) -> None:
    if isinstance(item, dict):
        item[ETAG_KEY] = etag
    elif hasattr(item, ETAG_KEY):
        setattr(item, ETAG_KEY, etag)


class SqlStorage(Storage):
    def __init__(self, engine: AsyncEngine, cipher: Cipher) -> None:
        self._engine = engine
        self._cipher = cipher

    async def read(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        query = select(TABLE.c.key, TABLE.c.etag, TABLE.c.data).where(TABLE.c.key.in_(keys))
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        items: dict[str, Any] = {}
        for key, etag, data in rows:
            try:
                item = load_state(self._cipher.decrypt_bytes(data))
            except (DecryptionError, pickle.UnpicklingError, AttributeError, ImportError) as error:
                # Unreadable (another key, a class that moved): start this conversation afresh
                # rather than fail every turn, cancel and restart included.
                log.warning(
                    "stored state %s cannot be read (%s): starting afresh",
                    key,
                    type(error).__name__,
                )
                continue
            _set_etag(item, etag)
            items[key] = item
        return items

    async def write(self, changes: dict[str, Any]) -> None:
        if changes is None:
            raise TypeError("changes are required when writing")
        async with self._engine.begin() as connection:
            for key, item in changes.items():
                await self._write_one(connection, key, item)

    async def _write_one(self, connection: Any, key: str, item: Any) -> None:
        expected = _etag_of(item)
        new_etag = uuid.uuid4().hex
        _set_etag(item, new_etag)
        values = {
            "etag": new_etag,
            "data": self._cipher.encrypt_bytes(
                pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
            ),
            "updated_at": utcnow(),
        }
        if expected and expected != ANY_ETAG:
            changed = await connection.execute(
                update(TABLE).where(TABLE.c.key == key, TABLE.c.etag == expected).values(values)
            )
            if changed.rowcount == 0:
                _set_etag(item, expected)
                raise ETagConflictError(f"eTag conflict on {key!r}: it changed since it was read")
            return
        # "*" or no eTag at all: last writer wins, as botbuilder's storages do.
        changed = await connection.execute(update(TABLE).where(TABLE.c.key == key).values(values))
        if changed.rowcount:
            return
        try:
            async with connection.begin_nested():
                await connection.execute(insert(TABLE).values(key=key, **values))
        except IntegrityError as error:
            _set_etag(item, expected)
            raise ETagConflictError(f"{key!r} was created by someone else meanwhile") from error

    async def delete(self, keys: list[str]) -> None:
        if not keys:
            return
        async with self._engine.begin() as connection:
            await connection.execute(delete(TABLE).where(TABLE.c.key.in_(keys)))
