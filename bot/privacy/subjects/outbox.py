"""The outbox: messages to them, messages to others that name them, and messages to group
chats whose stored reference names them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.core.models import OutboxMessage
from bot.privacy.subjects.search import Search
from bot.privacy.subjects.values import dumps


async def outbox(search: Search) -> None:
    to_them = naming = by_reference = waiting = 0
    for row in await search.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)):
        key = {"id": row.id, "kind": row.kind}
        activity = search.readable(row.activity_encrypted)
        if _to_them(search, row.target):
            to_them += 1
            search.add_row("outbox", key, row)
        elif activity is not None and search.subject.mentioned_in(dumps(activity)):
            # A message to someone else that names them (a card with their name on it).
            naming += 1
            search.add("outbox", key, "activity_encrypted", activity)
        elif search.subject.named_in(row.target):
            # To a group chat whose stored reference came from something they said there.
            by_reference += 1
            search.add("outbox", key, "target", row.target)
            if search.erase:
                row.target = search.scrub_reference(row.target)
            continue
        else:
            continue
        waiting += row.sent_at is None and row.failed_at is None
        if search.erase:
            await search.session.delete(row)
    search.found.did("outbox", "messages to them: deleted", to_them)
    search.found.did("outbox", "messages to others naming them: deleted", naming)
    search.found.did(
        "outbox",
        "messages to group chats, kept with a pseudonym for them in the chat's reference",
        by_reference,
        "they are for everyone in that chat",
    )
    search.found.note(waiting, "of the messages deleted had not been sent yet: they will not be")


def _to_them(search: Search, target: Any) -> bool:
    if not isinstance(target, dict):
        return False
    return (
        search.subject.is_them(target.get("person_id"))
        or search.subject.has_email(target.get("email"))
        or target.get("member_id") in search.subject.teams_ids
        or search.their_reference(target)
        or search.their_reference(target.get("reference"))
    )
