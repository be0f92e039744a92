"""Only the configured Entra tenants may use the bot; others get a polite refusal."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from botbuilder.core import Middleware, TurnContext
from botbuilder.schema import ActivityTypes

from bot.teams.identity import tenant_of
from bot.teams.proactive_flag import is_proactive

log = logging.getLogger(__name__)

REFUSAL = (
    "Sorry, this bot is only for staff of the organisations in {partnership}. "
    "Nothing you sent has been kept."
)


class TenantGate(Middleware):
    def __init__(self, allowed_tenant_ids: list[str], partnership: str) -> None:
        self._allowed = {tenant.lower() for tenant in allowed_tenant_ids}
        self._partnership = partnership

    async def on_turn(self, context: TurnContext, logic: Callable[[], Awaitable]) -> None:
        # The bot's own proactive turns go only to conversations it stored from allowed ones.
        if not self._allowed or is_proactive() or tenant_of(context).lower() in self._allowed:
            await logic()
            return
        log.warning("refused an activity from tenant %r", tenant_of(context) or "(none)")
        if context.activity.type == ActivityTypes.message:
            await context.send_activity(REFUSAL.format(partnership=self._partnership))
        # Nothing else runs: no state is loaded or saved for this turn.
