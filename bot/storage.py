"""botbuilder `Storage` on our database, with eTag optimistic concurrency.

Items are serialised with jsonpickle, as botbuilder's own Blob and Cosmos storages do (dialog
state holds `DialogState` and `PromptOptions` objects), then encrypted: a half-finished
referral in dialog state is as sensitive as a submitted one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import jsonpickle
from botbuilder.core import Storage
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.crypto import Cipher
from bot.models import BotStateRow, utcnow

ETAG_KEY = "e_tag"
ANY_ETAG = "*"


class ETagConflictError(KeyError):
    """Someone else saved this item since it was read; the caller should reload."""


def _etag_of(item: Any) -> str | None:
    if isinstance(item, Mapping):
        return item.get(ETAG_KEY)
    return getattr(item, ETAG_KEY, None)


def _set_etag(item: Any, etag: str) -> None:
    if isinstance(item, dict):
        item[ETAG_KEY] = etag
    elif hasattr(item, ETAG_KEY):
        setattr(item, ETAG_KEY, etag)


class SqlStorage(Storage):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: Cipher) -> None:
        self._sessions = sessions
        self._cipher = cipher

    async def read(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        async with self._sessions() as session:
            rows = (
                await session.scalars(select(BotStateRow).where(BotStateRow.key.in_(keys)))
            ).all()
        items: dict[str, Any] = {}
        for row in rows:
            item = jsonpickle.decode(self._cipher.decrypt(row.data), keys=True)
            _set_etag(item, row.etag)
            items[row.key] = item
        return items

    async def write(self, changes: dict[str, Any]) -> None:
        if changes is None:
            raise TypeError("changes are required when writing")
        async with self._sessions() as session, session.begin():
            for key, item in changes.items():
                await self._write_one(session, key, item)

    async def _write_one(self, session: AsyncSession, key: str, item: Any) -> None:
        expected = _etag_of(item)
        new_etag = uuid.uuid4().hex
        _set_etag(item, new_etag)
        data = self._cipher.encrypt(jsonpickle.encode(item, keys=True))
        now = utcnow()
        if expected and expected != ANY_ETAG:
            result = await session.execute(
                update(BotStateRow)
                .where(BotStateRow.key == key, BotStateRow.etag == expected)
                .values(etag=new_etag, data=data, updated_at=now)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                _set_etag(item, expected)
                raise ETagConflictError(f"eTag conflict on {key!r}: it changed since it was read")
            return
        existing = await session.get(BotStateRow, key)
        if existing is None:
            try:
                async with session.begin_nested():
                    session.add(BotStateRow(key=key, etag=new_etag, data=data, updated_at=now))
            except IntegrityError as error:
                _set_etag(item, expected or "")
                raise ETagConflictError(f"{key!r} was created by someone else meanwhile") from error
        else:  # "*" or no eTag at all: last writer wins, as botbuilder's storages do
            existing.etag, existing.data, existing.updated_at = new_etag, data, now

    async def delete(self, keys: list[str]) -> None:
        if not keys:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(delete(BotStateRow).where(BotStateRow.key.in_(keys)))
