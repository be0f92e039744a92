"""Messages the bot starts: to a stored conversation, or to a person's 1:1 chat.

Both go through the adapter's own proactive turn, so replies use the same sender (with its
429 handling) and the same credentials as replies in a user's turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
)
from msrest.exceptions import HttpOperationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.clock import Clock
from bot.core.models import PersonalChat
from bot.teams.adapter import BotAdapter
from bot.teams.connector import ConnectorError, retry_after_seconds
from bot.teams.proactive_flag import proactive_turn


@dataclass
class Proactive:
    adapter: BotAdapter
    app_id: str
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock

    async def send(self, reference: dict[str, Any], activity: dict[str, Any]) -> str:
        """Sends `activity` to the conversation; returns the id the connector gave it."""
        sent: list[str] = []

        async def send_it(context: TurnContext) -> None:
            response = await context.send_activity(Activity().deserialize(activity))
            sent.append(response.id if response and response.id else "")

        await self._continue(reference, send_it)
        return sent[0] if sent else ""

    async def update(
        self, reference: dict[str, Any], activity_id: str, activity: dict[str, Any]
    ) -> None:
        """Replaces an activity the bot sent earlier (a card, updated in place)."""

        async def update_it(context: TurnContext) -> None:
            replacement = Activity().deserialize(activity)
            replacement.id = activity_id
            replacement.conversation = context.activity.conversation
            await context.update_activity(replacement)

        await self._continue(reference, update_it)

    async def member(self, reference: dict[str, Any], member_id: str) -> dict[str, Any] | None:
        """A member's details (email, UPN, name) in the referenced conversation."""
        found: list[dict[str, Any] | None] = []

        async def ask(context: TurnContext) -> None:
            conversation = context.activity.conversation.id
            found.append(await self.adapter.member(context, conversation, member_id))

        await self._continue(reference, ask)
        return found[0] if found else None

    async def meeting_role(
        self, reference: dict[str, Any], meeting_id: str, participant_id: str, tenant_id: str
    ) -> str | None:
        """Someone's role in the meeting of the referenced chat, outside any turn."""
        found: list[str | None] = []

        async def ask(context: TurnContext) -> None:
            found.append(
                await self.adapter.meeting_role(context, meeting_id, participant_id, tenant_id)
            )

        await self._continue(reference, ask)
        return found[0] if found else None

    async def send_to_person(self, target: dict[str, Any], activity: dict[str, Any]) -> str:
        """Sends to a person's 1:1 chat with the bot, opening the chat if need be.

        `target`: person_id (Entra object id), tenant_id, service_url and the bot's account.
        Teams opens the chat only if the app is installed for the person (or in a team
        they belong to); otherwise the connector answers 403, raised as a `ConnectorError`
        like every refusal here, so the outbox can tell it from a fault.
        """
        stored = await self._personal_chat(target["person_id"])
        if stored is not None:
            return await self.send(stored, activity)
        sent: list[str] = []

        async def send_it(context: TurnContext) -> None:
            response = await context.send_activity(Activity().deserialize(activity))
            sent.append(response.id if response and response.id else "")
            reference = TurnContext.get_conversation_reference(context.activity).serialize()
            await self._remember(target["person_id"], reference)

        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount().deserialize(target.get("bot") or {}),
            members=[ChannelAccount(id=target["person_id"])],
            tenant_id=target.get("tenant_id"),
            channel_data={"tenant": {"id": target.get("tenant_id")}},
        )
        with proactive_turn():
            try:
                await self.adapter.create_conversation(
                    self.app_id, send_it, parameters, "msteams", target["service_url"]
                )
            except HttpOperationError as refused:  # botbuilder's msrest client made this call
                status = getattr(refused.response, "status_code", None)
                if not isinstance(status, int):
                    raise
                raise _connector_error(status, refused) from None
        return sent[0] if sent else ""

    async def _continue(self, reference: dict[str, Any], logic: Any) -> None:
        with proactive_turn():
            await self.adapter.continue_conversation(
                ConversationReference().deserialize(reference), logic, self.app_id
            )

    async def _personal_chat(self, person_id: str) -> dict[str, Any] | None:
        async with self.sessions() as session:
            row = await session.get(PersonalChat, person_id)
            return dict(row.conversation_reference) if row is not None else None

    async def _remember(self, person_id: str, reference: dict[str, Any]) -> None:
        async with self.sessions() as session, session.begin():
            await session.merge(
                PersonalChat(
                    person_id=person_id,
                    conversation_reference=reference,
                    updated_at=self.clock.now(),
                )
            )


def _connector_error(status: int, refused: HttpOperationError) -> ConnectorError:
    """msrest's refusal as our sender's, with its status, so the outbox treats both alike."""
    headers = getattr(refused.response, "headers", None) or {}
    header = headers.get("Retry-After")
    told = retry_after_seconds(header, -1.0) if header else None
    return ConnectorError(
        status, str(refused.message), told if told is not None and told >= 0 else None
    )
