"""Who sent an activity, and from which tenant: read one way everywhere."""

from __future__ import annotations

from typing import Any

from botbuilder.core import TurnContext

from bot.core.audit import Actor


def tenant_of(context: TurnContext) -> str:
    activity = context.activity
    if activity.conversation is not None and activity.conversation.tenant_id:
        return str(activity.conversation.tenant_id)
    channel_data = activity.channel_data
    if isinstance(channel_data, dict) and isinstance(channel_data.get("tenant"), dict):
        return str(channel_data["tenant"].get("id", ""))
    return ""


def reference_of(context: TurnContext) -> dict[str, Any]:
    """Where to reach this conversation later (proactively): the activity's conversation
    reference as JSON, without the id of the activity it came from."""
    reference: dict[str, Any] = TurnContext.get_conversation_reference(context.activity).serialize()
    reference.pop("activityId", None)
    return reference


def person_id_of(context: TurnContext) -> str:
    """The Entra object id where Teams gives one (stable across chats), else the channel id."""
    sender = context.activity.from_property
    return str(sender.aad_object_id or sender.id)


def actor_of(context: TurnContext) -> Actor:
    return Actor(person_id_of(context), context.activity.from_property.name or "")
