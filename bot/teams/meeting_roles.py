"""A person's role in a Teams meeting (Organizer, Presenter, Attendee), read from the connector.

`TeamsInfo.get_meeting_participant` calls the connector's synchronous msrest operation on
the event loop, which would stall every other session while it waits (and in 4.17.1 it
asks for the wrong URL); the adapter makes the same REST call on aiohttp instead
(`BotAdapter.meeting_role`). Answers are remembered for a few minutes: controls are
pressed often.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import aiohttp
from botbuilder.core import TurnContext

from bot.core.clock import Clock
from bot.teams.connector import ConnectorError

log = logging.getLogger(__name__)

REMEMBER_FOR = timedelta(minutes=5)
MAX_REMEMBERED = 10_000  # then expired answers are dropped
RoleLookup = Callable[[TurnContext, str, str, str], Awaitable[str | None]]


def meeting_id_of(context: TurnContext) -> str | None:
    channel_data = context.activity.channel_data
    if isinstance(channel_data, dict) and isinstance(channel_data.get("meeting"), dict):
        meeting_id = channel_data["meeting"].get("id")
        return str(meeting_id) if meeting_id else None
    return None


class MeetingRoles:
    def __init__(self, clock: Clock, lookup: RoleLookup) -> None:
        self._clock = clock
        self._lookup = lookup
        self._known: dict[tuple[str, str], tuple[str, datetime]] = {}

    async def role_of(
        self, context: TurnContext, meeting_id: str, participant_id: str, tenant_id: str
    ) -> str | None:
        key = (meeting_id, participant_id)
        now = self._clock.now()
        known = self._known.get(key)
        if known is not None and known[1] > now:
            return known[0]
        try:
            role = await self._lookup(context, meeting_id, participant_id, tenant_id)
        except (ConnectorError, aiohttp.ClientError, TimeoutError):
            # Not in the meeting (404), no permission (403), or the connector is away:
            # nobody gets a facilitator's powers on a guess. Not remembered: try again next time.
            log.warning("could not read a meeting participant's role", exc_info=True)
            return None
        if role is None:
            return None  # not in the meeting yet (or no permission yet): ask again next time
        if len(self._known) > MAX_REMEMBERED:
            self._known = {k: v for k, v in self._known.items() if v[1] > now}
        self._known[key] = (role, now + REMEMBER_FOR)
        return role
