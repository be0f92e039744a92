"""The outbox's plain deliveries (a message to a conversation, or 1:1 to a person), and
the post-or-update step that features use for cards they keep up to date in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.outbox import Delivery
from bot.teams.connector import ConnectorError
from bot.teams.proactive import Proactive


@dataclass
class Deliveries:
    proactive: Proactive

    async def to_conversation(self, delivery: Delivery) -> None:
        assert delivery.activity is not None
        await self.proactive.send(delivery.target, delivery.activity)

    async def to_person(self, delivery: Delivery) -> None:
        assert delivery.activity is not None
        await self.proactive.send_to_person(delivery.target, delivery.activity)

    async def post_or_update(
        self, reference: dict[str, Any], card_id: str | None, activity: dict[str, Any]
    ) -> str | None:
        """Updates the card in place; posts it if there is none yet (or it was deleted).

        Returns the new card's id when it was posted.
        """
        if card_id:
            try:
                await self.proactive.update(reference, card_id, activity)
                return None
            except ConnectorError as error:
                if error.status != 404:
                    raise
                # Someone deleted the card: post a fresh one below.
        return await self.proactive.send(reference, activity)
