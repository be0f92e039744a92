"""A person's role in a Teams meeting (Organizer, Presenter, Attendee), read from the connector.

`TeamsInfo.get_meeting_participant` calls the connector's synchronous msrest operation on
the event loop, which would stall every other session while it waits; here the call runs
in a worker thread. Answers are remembered for a few minutes: controls are pressed often.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from botbuilder.core import BotAdapter, TurnContext
from botframework.connector.teams import TeamsConnectorClient
from msrest.exceptions import ClientRequestError, HttpOperationError

from bot.clock import Clock

log = logging.getLogger(__name__)

REMEMBER_FOR = timedelta(minutes=5)
RoleLookup = Callable[[TurnContext, str, str, str], Awaitable[str | None]]


def meeting_id_of(context: TurnContext) -> str | None:
    channel_data = context.activity.channel_data
    if isinstance(channel_data, dict) and isinstance(channel_data.get("meeting"), dict):
        meeting_id = channel_data["meeting"].get("id")
        return str(meeting_id) if meeting_id else None
    return None


async def fetch_meeting_role(
    context: TurnContext, meeting_id: str, participant_id: str, tenant_id: str
) -> str | None:
    """GET /v1/meetings/{id}/participants/{id}: the person's role, or None if not in it."""
    client = context.turn_state.get(BotAdapter.BOT_CONNECTOR_CLIENT_KEY)
    credentials = client.config.credentials
    service_url = context.activity.service_url

    def call() -> str | None:
        teams = TeamsConnectorClient(credentials, service_url)
        participant = teams.teams.fetch_participant(meeting_id, participant_id, tenant_id)
        meeting = getattr(participant, "meeting", None)
        return str(meeting.role) if meeting is not None and meeting.role else None

    return await asyncio.to_thread(call)


class MeetingRoles:
    def __init__(self, clock: Clock, lookup: RoleLookup = fetch_meeting_role) -> None:
        self._clock = clock
        self._lookup = lookup
        self._known: dict[tuple[str, str], tuple[str | None, datetime]] = {}

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
        except (HttpOperationError, ClientRequestError, OSError):
            # Not in the meeting (404), no permission (403), or the connector is away:
            # nobody gets a facilitator's powers on a guess. Not remembered: try again next time.
            log.warning("could not read a meeting participant's role", exc_info=True)
            return None
        self._known[key] = (role, now + REMEMBER_FOR)
        return role
