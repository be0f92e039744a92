"""Their own rows: `people` (their name and emails) and `personal_chats` (their 1:1 chat)."""

from __future__ import annotations

from bot.core.models import Person, PersonalChat
from bot.privacy.subjects.search import Search


async def people(search: Search) -> None:
    rows = await search.their_rows(Person, Person.person_id)
    for row in rows:
        search.add_row("people", {"person_id": row.person_id}, row)
        if search.erase:
            await search.session.delete(row)
    search.found.did("people", "deleted", len(rows))


async def personal_chats(search: Search) -> None:
    rows = await search.their_rows(PersonalChat, PersonalChat.person_id)
    for row in rows:
        search.subject.learn_reference(row.conversation_reference)
        search.add_row("personal_chats", {"person_id": row.person_id}, row)
        if search.erase:
            await search.session.delete(row)
    search.found.did("personal_chats", "deleted (where to reach them 1:1)", len(rows))
