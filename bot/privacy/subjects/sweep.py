"""After the search, every value of every table, decrypted, read for their ids, emails and
names: what the export adds, and what an erasure reports as still naming them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.core.crypto import DecryptionError
from bot.core.models import Base
from bot.privacy.subjects.findings import Item
from bot.privacy.subjects.search import Search
from bot.privacy.subjects.values import dumps, jsonable


async def sweep(search: Search, new_only: bool) -> list[Item]:
    """Every value that names them: all of them, or those the search has not reported."""
    named: list[Item] = []
    for table in Base.metadata.sorted_tables:
        key_columns = [column.name for column in table.primary_key.columns]
        for row in (await search.session.execute(select(table))).mappings():
            key = {name: jsonable(row[name]) for name in key_columns}
            for column, value in row.items():
                if not _names_them(search, value):
                    continue
                if new_only and search.reported(table.name, key, column):
                    continue
                readable = search.readable(value)
                if table.name == "bot_state" and column == "data":
                    readable = "(dialog state naming them)"
                named.append(Item(table.name, key, column, jsonable(readable)))
    return named


def _names_them(search: Search, value: Any) -> bool:
    if isinstance(value, bytes):
        try:
            return search.subject.mentioned_in_bytes(search.cipher.decrypt_bytes(value))
        except DecryptionError:
            return False
    return search.subject.mentioned_in(value if isinstance(value, str) else dumps(value))
