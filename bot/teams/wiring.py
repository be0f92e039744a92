"""The Teams plumbing, put together: the adapter, proactive sends, who is an admin, whom
the bot can reach by email, and the middleware every turn passes through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.outbox import Kind
from bot.core.shared import Shared
from bot.teams.adapter import BotAdapter
from bot.teams.admins import AdminCheck
from bot.teams.auth import StrictAuthentication
from bot.teams.connector import ConnectorSender
from bot.teams.dedupe import DropDuplicates
from bot.teams.deliveries import Deliveries
from bot.teams.errors import on_turn_error
from bot.teams.meeting_roles import MeetingRoles
from bot.teams.people import LearnPeople, People
from bot.teams.proactive import Proactive
from bot.teams.routes import Feature
from bot.teams.tenant import TenantGate


@dataclass(frozen=True)
class Plumbing:
    feature: Feature  # the plain deliveries: to a conversation, to a person
    adapter: BotAdapter
    proactive: Proactive
    deliveries: Deliveries
    admins: AdminCheck
    people: People
    roles: MeetingRoles


def wiring(shared: Shared, *, engine: AsyncEngine, http: aiohttp.ClientSession) -> Plumbing:
    settings, clock = shared.settings, shared.clock
    sender = ConnectorSender(http, clock=clock)
    adapter = BotAdapter(StrictAuthentication.from_settings(settings), sender)
    proactive = Proactive(
        adapter=adapter, app_id=settings.microsoft_app_id, sessions=shared.database, clock=clock
    )
    people = People(
        sessions=shared.database,
        writer=shared.writer,
        proactive=proactive,
        clock=clock,
        cipher=shared.cipher,
    )
    deliveries = Deliveries(proactive, shared.writer)
    admins = AdminCheck(
        admin_ids=settings.admin_ids,
        group_conversation_id=settings.admin_group_conversation_id,
        is_member=adapter.is_member,
        clock=clock,
    )
    adapter.on_turn_error = on_turn_error
    adapter.use(
        TenantGate(settings.allowed_tenant_ids, settings.partnership_name, settings.extra_channels)
    )
    claim = timedelta(seconds=settings.activity_claim_seconds)
    adapter.use(DropDuplicates(engine, clock, lease=claim))
    adapter.use(LearnPeople(people))
    feature = Feature(
        deliveries={
            Kind.CONVERSATION: deliveries.to_conversation,
            Kind.PERSON: deliveries.to_person,
            Kind.LEARN_PERSON: people.learn,
            Kind.INVITEE: people.tell_invitee,
        }
    )
    return Plumbing(
        feature=feature,
        adapter=adapter,
        proactive=proactive,
        deliveries=deliveries,
        admins=admins,
        people=people,
        roles=MeetingRoles(clock, adapter.meeting_role),
    )
