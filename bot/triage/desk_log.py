"""The desk's own audit trail: its registrations, refused desk commands, reads of this trail.

These entries belong to no referral, so `audit RP-...` cannot list them; `audit desk` does.
Their detail names the tenant and the conversation (never shown as such: the listing says
"here" or "in another chat"), so one tenant's desk never lists another tenant's entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.audit import Action, AuditLine, lines_where
from bot.core.models import AuditEntry

DESK_ACTIONS = (
    Action.DESK_REGISTERED,
    Action.REFUSED,
    Action.AUDIT_READ,
    Action.REPORT_SHOWN,
    Action.REPORT_DOWNLOADED,
)
_FIELD = re.compile(r"\b(conversation|tenant)=(\S*)")


@dataclass(frozen=True)
class DeskDetail:
    """What a desk entry's detail holds: the command (if any), where, and in which tenant."""

    what: str
    conversation: str
    tenant: str

    def text(self) -> str:
        return " ".join(
            part
            for part in (self.what, f"conversation={self.conversation}", f"tenant={self.tenant}")
            if part
        )

    @classmethod
    def parse(cls, detail: str) -> DeskDetail:
        fields = dict(_FIELD.findall(detail))
        what = _FIELD.sub("", detail).strip()
        return cls(what, fields.get("conversation", ""), fields.get("tenant", ""))


def registered_in(line: AuditLine) -> str:
    """The conversation a registration entry names (before `audit desk` existed, the detail
    was that id alone)."""
    detail = DeskDetail.parse(line.detail)
    return detail.conversation or detail.what


async def desk_lines(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, conversation_id: str
) -> list[AuditLine]:
    """The desk's entries for this tenant, oldest first (and a registration of this very
    conversation from before tenants were recorded)."""
    async with sessions() as session:
        return await lines_where(
            session,
            AuditEntry.referral_id.is_(None),
            AuditEntry.action.in_(DESK_ACTIONS),
            or_(
                AuditEntry.detail.endswith(f" tenant={tenant_id}", autoescape=True),
                and_(
                    AuditEntry.action == Action.DESK_REGISTERED,
                    AuditEntry.detail == conversation_id,
                ),
            ),
        )
