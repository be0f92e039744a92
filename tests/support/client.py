"""Talks to the bot over real HTTP, as Teams does, and reads what it sent back."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import aiohttp

from cards.common import inputs_of, nodes
from tests.support.connector import FakeConnector

TENANT = "00000000-0000-0000-0000-0000000000aa"


class TeamsUser:
    """One person in a 1:1 chat with the bot."""

    _counter = itertools.count(1)

    def __init__(
        self,
        bot_url: str,
        connector: FakeConnector,
        session: aiohttp.ClientSession,
        *,
        name: str = "Sam Practitioner",
        tenant: str = TENANT,
        conversation_type: str = "personal",
        token: str | None = None,
        aad_id: str | None = None,
        conversation_id: str | None = None,
        meeting_id: str | None = None,
    ) -> None:
        self.bot_url = bot_url
        self.connector = connector
        self.session = session
        number = next(self._counter)
        self.user_id = f"29:user-{number}"
        self.aad_id = aad_id or str(uuid.uuid4())
        self.name = name
        self.tenant = tenant
        self.conversation_id = conversation_id or f"a:conversation-{uuid.uuid4().hex[:12]}"
        self.conversation_type = conversation_type
        self.meeting_id = meeting_id
        self.token = token
        self.last_status = 0
        self.answers: list[str] = []  # the body of every HTTP response the bot gave this user

    def activity(self, **fields: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "type": "message",
            "id": f"incoming-{uuid.uuid4().hex}",
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": {"id": self.user_id, "name": self.name, "aadObjectId": self.aad_id},
            "recipient": {"id": "28:bot", "name": "Reflective practice"},
            "conversation": {
                "id": self.conversation_id,
                "conversationType": self.conversation_type,
                "tenantId": self.tenant,
            },
            "channelData": self._channel_data(),
            "locale": "en-GB",
        }
        base.update(fields)
        return base

    def _channel_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"tenant": {"id": self.tenant}}
        if self.conversation_type == "channel":
            data["channel"] = {"id": self.conversation_id}
            data["team"] = {"id": self.conversation_id}
        if self.meeting_id:
            data["meeting"] = {"id": self.meeting_id}
        return data

    async def invoke(self, verb: str, data: dict[str, Any]) -> dict[str, Any]:
        """Presses an Action.Execute button; returns the invoke response's body."""
        body = await self.invoke_any(verb, data)
        assert isinstance(body, dict), (self.last_status, body)
        return body

    async def invoke_any(self, verb: str, data: dict[str, Any]) -> Any:
        """Presses an Action.Execute button and takes any answer: the body as JSON, or as
        text when it is not JSON (a 400 from the envelope check)."""
        activity = self.activity(
            type="invoke",
            name="adaptiveCard/action",
            value={
                "action": {"type": "Action.Execute", "verb": verb, "data": data},
                "trigger": "manual",
            },
        )
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.post(
            f"{self.bot_url}api/messages", json=activity, headers=headers
        ) as response:
            self.last_status = response.status
            text = await response.text()
        self.answers.append(text)
        try:
            return json.loads(text) if text else None
        except json.JSONDecodeError:
            return text

    async def post(self, activity: dict[str, Any]) -> list[dict[str, Any]]:
        """Posts one activity; returns what the bot sent to this conversation meanwhile."""
        before = len(self.connector.activities)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.post(
            f"{self.bot_url}api/messages", json=activity, headers=headers
        ) as response:
            self.last_status = response.status
            self.answers.append((await response.read()).decode("utf-8", "replace"))
        return [
            sent
            for sent in self.connector.activities[before:]
            if sent.get("conversation", {}).get("id") == self.conversation_id
        ]

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self.post(self.activity(text=text))

    async def press(self, data: dict[str, Any], **inputs: Any) -> list[dict[str, Any]]:
        """Presses an Action.Submit button: Teams merges the inputs with the button's data,
        and gives the id of the message that carried the card as `replyToId` (here: the latest
        card sent to this chat with a button carrying exactly `data`, if there is one)."""
        activity = self.activity(value={**inputs, **data})
        card_id = self._card_with_button(data)
        if card_id:
            activity["replyToId"] = card_id
        return await self.post(activity)

    def _card_with_button(self, data: dict[str, Any]) -> str | None:
        for sent in reversed(self.connector.activities):
            if sent.get("conversation", {}).get("id") != self.conversation_id:
                continue
            if any(data == found for card in cards_in([sent]) for found in submit_actions(card)):
                return str(sent.get("id") or "") or None
        return None

    async def install(self) -> list[dict[str, Any]]:
        return await self.post(
            self.activity(
                type="conversationUpdate",
                membersAdded=[{"id": "28:bot"}],
                text=None,
            )
        )


def cards_in(activities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        attachment["content"]
        for activity in activities
        for attachment in activity.get("attachments") or []
        if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive"
    ]


def texts_in(activities: list[dict[str, Any]]) -> list[str]:
    return [activity["text"] for activity in activities if activity.get("text")]


def card_text(card: dict[str, Any]) -> str:
    """Every piece of text on a card, for assertions."""
    keys = ("text", "title", "label", "value", "errorMessage")
    return "\n".join(
        node[key] for node in nodes(card) for key in keys if isinstance(node.get(key), str)
    )


def submit_actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The data of every Action.Submit on the card, wherever it sits."""
    return [node.get("data") or {} for node in nodes(card) if node.get("type") == "Action.Submit"]


def input_values(card: dict[str, Any]) -> dict[str, str]:
    """The prefilled value of every input on the card, by id."""
    return {node["id"]: str(node.get("value", "")) for node in inputs_of(card) if "id" in node}
