"""Triage desks they registered, or whose stored reference came from something they said;
further reflection meetings they decided on at the desk."""

from __future__ import annotations

from sqlalchemy import select

from bot.core.models import FurtherReflection, TriageDesk
from bot.privacy.subjects.search import Search


async def triage_desks(search: Search) -> None:
    kept = 0
    for row in await search.session.scalars(select(TriageDesk)):
        key = {"tenant_id": row.tenant_id}
        user = (row.conversation_reference or {}).get("user") or {}
        registered = search.subject.is_them(row.registered_by_id)
        in_reference = search.subject.is_them(user.get("aadObjectId"))
        if not (registered or in_reference):
            continue
        kept += 1
        search.add("triage_desks", key, "registered_by_id", registered and row.registered_by_id)
        if in_reference:
            search.subject.learn_name(user.get("name"))
            search.add("triage_desks", key, "conversation_reference", {"user": user})
        if search.erase:
            search.pseudonymise("triage_desks", row)
            row.conversation_reference = search.scrub_reference(row.conversation_reference)
    search.found.did(
        "triage_desks",
        "they registered, kept with a pseudonym for them",
        kept,
        "the desk stays where it is",
    )


async def further_reflections(search: Search) -> None:
    rows = await search.their_rows(
        FurtherReflection, FurtherReflection.decided_by_id, FurtherReflection.session_id
    )
    for row in rows:
        search.add(
            "further_reflections",
            {"session_id": row.session_id},
            "decided_by_id",
            row.decided_by_id,
        )
        if search.erase:
            search.pseudonymise("further_reflections", row)
    search.found.did(
        "further_reflections",
        "they decided at the desk, kept with a pseudonym for them",
        len(rows),
        "the desk's record of the meeting stays",
    )
