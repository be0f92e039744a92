"""Reflective sessions: those that name them (facilitator, a role, who set it up), their
attendance, and what they wrote."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from bot.core.models import MeetingSession, SessionContribution, SessionParticipant
from bot.privacy.subjects.search import Search
from bot.privacy.subjects.searched import NAMED_BY_ID


async def meeting_sessions(search: Search) -> None:
    subject = search.subject
    kept = 0
    named_by_id = NAMED_BY_ID["meeting_sessions"]
    for row in await search.session.scalars(select(MeetingSession).order_by(MeetingSession.id)):
        key = {"id": row.id, "reference": row.reference}
        roles = {
            role: [h for h in holders if subject.is_them(h.get("id"))]
            for role, holders in (row.roles or {}).items()
        }
        roles = {role: holders for role, holders in roles.items() if holders}
        user = (row.conversation_reference or {}).get("user") or {}
        started_it = subject.is_them(user.get("aadObjectId"))
        acted = [c for c in named_by_id if subject.is_them(getattr(row, c))]
        if not (roles or started_it or acted):
            continue
        kept += 1
        for column in acted:
            search.add("meeting_sessions", key, column, getattr(row, column))
            name_column = named_by_id[column]
            if name_column is not None:
                subject.learn_name(getattr(row, name_column))
                search.add("meeting_sessions", key, name_column, getattr(row, name_column))
        search.add("meeting_sessions", key, "roles", roles)
        for holder in (h for holders in roles.values() for h in holders):
            subject.learn_name(holder.get("name"))
        if started_it:
            subject.learn_name(user.get("name"))
            search.add("meeting_sessions", key, "conversation_reference", {"user": user})
        if search.erase:
            search.pseudonymise("meeting_sessions", row)
            row.roles = {
                role: [_scrub_holder(search, h) for h in holders]
                for role, holders in (row.roles or {}).items()
            }
            row.conversation_reference = search.scrub_reference(row.conversation_reference)
    search.found.did(
        "meeting_sessions",
        "naming them (facilitator, a role, who set it up), kept with a pseudonym for them",
        kept,
        "the session's figures (model, stages, timings)",
    )


def _scrub_holder(search: Search, holder: dict[str, Any]) -> dict[str, Any]:
    if not search.subject.is_them(holder.get("id")):
        return holder
    return {**holder, "id": search.pseudonym(str(holder["id"])), "name": ""}


async def session_participants(search: Search) -> None:
    rows = list(
        await search.session.execute(
            select(SessionParticipant, MeetingSession.reference)
            .join(MeetingSession, MeetingSession.id == SessionParticipant.session_id)
            .where(SessionParticipant.person_id.in_(sorted(search.subject.ids)))
            .order_by(SessionParticipant.session_id)
        )
    )
    for row, reference in rows:
        key = {"session_id": row.session_id, "person_id": row.person_id, "session": reference}
        search.subject.learn_name(row.name)
        search.add_row("session_participants", key, row)
    if search.erase:
        # The id is part of the key: changed by statement, not through the loaded rows.
        for row, _ in rows:
            await search.session.execute(
                update(SessionParticipant)
                .where(
                    SessionParticipant.session_id == row.session_id,
                    SessionParticipant.person_id == row.person_id,
                )
                .values(person_id=search.pseudonym(row.person_id), name="")
                .execution_options(synchronize_session=False)
            )
    search.found.did(
        "session_participants",
        "kept with a pseudonym for them and no name",
        len(rows),
        "the partnership's attendance figures",
    )


async def session_contributions(search: Search) -> None:
    rows = await search.their_rows(
        SessionContribution, SessionContribution.author_id, SessionContribution.id
    )
    for row in rows:
        search.subject.learn_name(row.author_name)
        key = {"id": row.id, "session_id": row.session_id}
        search.add_row("session_contributions", key, row)
        if search.erase:
            await search.session.delete(row)
    search.found.did("session_contributions", "they wrote: deleted", len(rows))
