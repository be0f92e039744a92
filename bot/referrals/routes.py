"""The referrals feature's commands outside the form: a referrer's own list."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.protocols import ModelCatalogue
from bot.referrals.store import ReferralStore
from bot.teams.activity_handler import PRIVATE_ONLY
from bot.teams.identity import person_id_of
from bot.teams.turn import Turn, is_personal, send_card
from cards.referrals import my_referrals_card


@dataclass(frozen=True)
class MyReferrals:
    store: ReferralStore
    models: ModelCatalogue

    async def show(self, context: Turn) -> None:
        if not is_personal(context):
            await context.send_activity(PRIVATE_ONLY)
            return
        referrals = await self.store.list_for_referrer(person_id_of(context))
        await send_card(context, my_referrals_card(referrals, self.models))
