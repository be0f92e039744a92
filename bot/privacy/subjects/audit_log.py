"""The audit log: entries of their actions, and entries by others whose detail names them."""

from __future__ import annotations

from sqlalchemy import or_, select

from bot.core.models import AuditEntry
from bot.privacy.subjects.search import Search


async def audit_log(search: Search) -> None:
    rows = await search.their_rows(AuditEntry, AuditEntry.actor_id, AuditEntry.id)
    for row in rows:
        search.subject.learn_name(row.actor_name)
        search.add_row("audit_log", {"id": row.id}, row)
        if search.erase:
            search.pseudonymise("audit_log", row)
    search.found.did(
        "audit_log",
        "entries of their actions kept, actor replaced by a pseudonym",
        len(rows),
        "the audit trail of decisions must stay complete",
    )


async def audit_details(search: Search) -> None:
    """Entries by others whose detail names them (an admin assigning them to facilitate).

    Run last: by then every name stored beside their ids is known."""
    names = sorted(search.subject.names, key=len, reverse=True)
    if not names:
        return
    rows = list(
        await search.session.scalars(
            select(AuditEntry)
            .where(or_(*(AuditEntry.detail.contains(n, autoescape=True) for n in names)))
            .order_by(AuditEntry.id)
        )
    )
    rows = [row for row in rows if search.subject.mentioned_in(row.detail)]
    for row in rows:
        search.add("audit_log", {"id": row.id}, "detail", row.detail)
        if search.erase:
            for name in names:
                row.detail = row.detail.replace(name, search.found.pseudonym)
    search.found.did(
        "audit_log",
        "entries by others naming them in the detail, name replaced by a pseudonym",
        len(rows),
        "the audit trail must stay complete",
    )
