"""Who may use the bot: Teams only (unless a setting adds a channel for development), and
only the configured Entra tenants, named consistently; others get a polite refusal.

Other channels matter because there the caller chooses `from.id` and the tenant: an
activity from webchat could name an admin's id and read the admin-only digest.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from botbuilder.core import InvokeResponse, Middleware, TurnContext
from botbuilder.schema import Activity, ActivityTypes

from bot.teams.identity import tenants_named
from bot.teams.proactive_flag import is_proactive

log = logging.getLogger(__name__)

TEAMS = "msteams"
REFUSAL = (
    "Sorry, this bot is only for staff of the organisations in {partnership}. "
    "Nothing you sent has been kept."
)


class TenantGate(Middleware):
    def __init__(
        self,
        allowed_tenant_ids: list[str],
        partnership: str,
        extra_channels: list[str] | None = None,
    ) -> None:
        self._allowed = {tenant.lower() for tenant in allowed_tenant_ids}
        self._partnership = partnership
        self._channels = {TEAMS, *(channel.lower() for channel in extra_channels or [])}

    async def on_turn(self, context: TurnContext, logic: Callable[[], Awaitable]) -> None:
        # The bot's own proactive turns go only to conversations it stored from allowed ones.
        if is_proactive():
            await logic()
            return
        channel = str(context.activity.channel_id or "").lower()
        if channel not in self._channels:
            log.warning("refused an activity from channel %r", channel[:40] or "(none)")
            await _refuse_invoke(context)  # no reply: the bot does not talk on that channel
            return
        named = tenants_named(context)
        if len(named) > 1:
            log.warning("refused an activity naming two different tenants")
            await _refuse_invoke(context)
            return
        tenant = next(iter(named), "")
        if not self._allowed or tenant in self._allowed:
            await logic()
            return
        log.warning("refused an activity from tenant %r", tenant[:40] or "(none)")
        if context.activity.type == ActivityTypes.message:
            await context.send_activity(REFUSAL.format(partnership=self._partnership))
        await _refuse_invoke(context)
        # Nothing else runs: no state is loaded or saved for this turn.


async def _refuse_invoke(context: TurnContext) -> None:
    if context.activity.type == ActivityTypes.invoke:
        await context.send_activity(
            Activity(
                type=ActivityTypes.invoke_response,
                value=InvokeResponse(status=int(HTTPStatus.FORBIDDEN)),
            )
        )
