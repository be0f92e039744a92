"""The sessions feature, put together: the meeting chat's commands, buttons and cards, and
the stage timers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.core.changes import Changes
from bot.core.outbox import Kind
from bot.core.shared import Shared
from bot.sessions.deliveries import SessionCardDelivery
from bot.sessions.links import RoomLinks
from bot.sessions.meeting import MeetingHandler
from bot.sessions.pages import LivePages
from bot.sessions.prompts import SessionMessages
from bot.sessions.store import SessionStore
from bot.sessions.tab import MeetingChat, TeamsTab
from bot.teams.admins import AdminCheck
from bot.teams.deliveries import Deliveries
from bot.teams.meeting_roles import MeetingRoles
from bot.teams.routes import Feature
from bot.teams.tab_sso import TabTokens
from cards.verbs import Verb


@dataclass(frozen=True)
class Sessions:
    feature: Feature
    store: SessionStore
    pages: LivePages  # the session on a screen (served by app.py's routes)
    tab: TeamsTab  # the same in a Teams meeting's side panel and stage


def wiring(
    shared: Shared,
    *,
    admins: AdminCheck,
    roles: MeetingRoles,
    deliveries: Deliveries,
    changes: Changes,
    chat: MeetingChat,
    tokens: TabTokens,
) -> Sessions:
    settings, calendar = shared.settings, shared.calendar
    messages = SessionMessages(calendar)
    store = SessionStore(
        sessions=shared.database,
        cipher=shared.cipher,
        clock=shared.clock,
        outbox=shared.writer,
        refresh_seconds=settings.session_card_refresh_seconds,
        calendar=calendar,
        abandon_after=timedelta(hours=settings.session_idle_hours),
        announce=messages.announce,
        opening=messages.opening,
        closing=messages.closing,
        changed=changes.publish,
    )
    control_roles = frozenset(role.lower() for role in settings.session_control_roles)
    meeting = MeetingHandler(
        store=store,
        protocols=shared.protocols,
        roles=roles,
        admins=admins,
        calendar=calendar,
        clock=shared.clock,
        wake=shared.wake,
        partnership=settings.partnership_name,
        control_roles=control_roles,
        offered=shared.models.ids,
        room_links=RoomLinks(
            shared.cipher, settings.base_url, timedelta(hours=settings.room_link_hours)
        ),
    )
    cards = SessionCardDelivery(
        deliveries=deliveries,
        store=store,
        calendar=calendar,
        clock=shared.clock,
        control_roles=control_roles,
    )
    feature = Feature(
        commands={
            Verb.START_SESSION: meeting.start,
            Verb.SESSION_QUESTIONS: meeting.show_questions,
        },
        card_actions=meeting.card_actions(),
        jobs={"session timers": store.run_due},
        deliveries={
            Kind.SESSION_STAGE_CARD: cards.deliver,
            Kind.SESSION_ROLES_CARD: cards.deliver,
            Kind.SESSION_CARD_MOVED: cards.deliver,
        },
        meeting=meeting,
    )
    pages = LivePages(store=store, changes=changes, cipher=shared.cipher, clock=shared.clock)
    tab = TeamsTab(
        store=store,
        tokens=tokens,
        chat=chat,
        cipher=shared.cipher,
        clock=shared.clock,
        wake=shared.wake,
        control_roles=control_roles,
    )
    return Sessions(feature, store, pages, tab)
