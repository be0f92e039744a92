"""Who may triage: admins named in settings, or members of one configured conversation."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import aiohttp
from botbuilder.core import TurnContext

from bot.core.clock import Clock
from bot.teams.connector import ConnectorError

log = logging.getLogger(__name__)

MemberLookup = Callable[[TurnContext, str, str], Awaitable[bool]]
REMEMBER_FOR = timedelta(minutes=5)  # a removed admin loses access within this


class AdminCheck:
    def __init__(
        self,
        admin_ids: list[str],
        group_conversation_id: str,
        is_member: MemberLookup,
        clock: Clock,
    ) -> None:
        self._ids = {admin_id.lower() for admin_id in admin_ids}
        self._group = group_conversation_id
        self._is_member = is_member
        self._clock = clock
        # Members seen lately, until when: a press should not cost a connector call each time.
        self._members: dict[str, datetime] = {}

    @property
    def configured(self) -> bool:
        return bool(self._ids or self._group)

    async def is_admin(self, context: TurnContext) -> bool:
        sender = context.activity.from_property
        ids = {str(i).lower() for i in (sender.aad_object_id, sender.id) if i}
        if ids & self._ids:
            return True
        if not self._group:
            return False
        key = str(sender.aad_object_id or sender.id)
        now = self._clock.now()
        if self._members.get(key, now) > now:
            return True
        try:
            member = await self._is_member(context, self._group, key)
        except (ConnectorError, aiohttp.ClientError, TimeoutError):
            log.warning("could not read the admin group's members", exc_info=True)
            return False  # not cached: the next press asks again
        if member:
            # Only a yes is remembered: someone just added to the group is let in at once.
            self._members[key] = now + REMEMBER_FOR
        return member
