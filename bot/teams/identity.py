"""Who sent an activity, and from which tenant: read one way everywhere."""

from __future__ import annotations

from typing import Any

from botbuilder.core import TurnContext

from bot.core.audit import Actor


def tenants_named(context: TurnContext) -> set[str]:
    """Every tenant the activity names, lower-cased: Teams puts it in the conversation and in
    channelData, and the two must agree (the gate refuses an activity where they do not)."""
    activity = context.activity
    named: set[str] = set()
    if activity.conversation is not None and activity.conversation.tenant_id:
        named.add(str(activity.conversation.tenant_id).lower())
    channel_data = activity.channel_data
    if isinstance(channel_data, dict) and isinstance(channel_data.get("tenant"), dict):
        tenant_id = channel_data["tenant"].get("id")
        if tenant_id:
            named.add(str(tenant_id).lower())
    return named


def tenant_of(context: TurnContext) -> str:
    """The activity's tenant: the one it names ("" when it names none, or several)."""
    named = tenants_named(context)
    return named.pop() if len(named) == 1 else ""


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
