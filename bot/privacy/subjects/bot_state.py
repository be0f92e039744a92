"""Dialog state: their 1:1 chat's (a referral left half written), and group chats' that name
them."""

from __future__ import annotations

import pickle
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import select

from bot.core.crypto import DecryptionError
from bot.core.models import BotStateRow
from bot.privacy.subjects.search import Search


async def bot_state(search: Search) -> None:
    from bot.teams.storage import load_state  # botbuilder's classes: only for this table

    subject = search.subject
    own = shared = 0
    for row in await search.session.scalars(select(BotStateRow).order_by(BotStateRow.key)):
        try:
            plain = search.cipher.decrypt_bytes(row.data)
        except DecryptionError:
            continue  # the sweep reports nothing it cannot read either
        theirs = any(chat in row.key for chat in subject.chats)
        if not theirs and not subject.mentioned_in_bytes(plain):
            continue
        own += theirs
        shared += not theirs
        try:
            state: Any = _plain(load_state(plain))
        except (pickle.UnpicklingError, AttributeError, ImportError, EOFError):
            state = "(dialog state that no longer loads)"
        key = {"key": row.key}
        search.add("bot_state", key, "data", state)
        search.add("bot_state", key, "updated_at", row.updated_at)
        if search.erase:
            await search.session.delete(row)
    search.found.did("bot_state", "of their 1:1 chat (unfinished forms): deleted", own)
    if not subject.chats:
        # Dialog state is kept by conversation: without a reference to their 1:1 chat (they
        # never submitted a referral nor were messaged there) it cannot be told theirs.
        search.found.notes.append(
            "their 1:1 chat with the bot is not known: a referral they left half written "
            "there goes with the retention purge (RETENTION_DRAFT_DAYS)"
        )
    search.found.did(
        "bot_state",
        "of group chats naming them: deleted",
        shared,
        "whatever was under way in those chats starts afresh",
    )


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
