"""Composition root: `create_app(settings)` builds everything; nothing is built at import."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.adapter import BotAdapter
from bot.admins import AdminCheck
from bot.answers import AnswerHandler
from bot.auth import AuthenticationUnavailable, StrictAuthentication
from bot.clock import Clock, SystemClock
from bot.connector import ConnectorSender
from bot.crypto import cipher_from_settings
from bot.db import create_engine, database_is_up, session_factory
from bot.dedupe import DropDuplicates
from bot.deliveries import Deliveries
from bot.desk import DeskHandler
from bot.digest import Digests
from bot.errors import on_turn_error
from bot.handler import ReflectiveBot
from bot.meeting import MeetingHandler
from bot.meeting_roles import MeetingRoles
from bot.meeting_sessions import SessionStore
from bot.notices import Notices
from bot.outbox import Outbox, OutboxWriter
from bot.proactive import Proactive
from bot.protocols import BUILT_IN, load_protocols
from bot.referrals import Intake, ReferralStore
from bot.reminders import Reminders
from bot.scheduler import Scheduler
from bot.session_messages import SessionMessages
from bot.settings import Settings
from bot.state import FastConversationState
from bot.storage import SqlStorage
from bot.tenant import TenantGate
from bot.triage import TriageStore
from bot.working_days import WorkingCalendar
from cards.referral_cards import FormOptions
from cards.triage_cards import DeskOptions
from dialogs.referral_dialog import ReferralDialog, Signpost


@dataclass
class Runtime:
    """What the request handlers need, built when the app starts."""

    settings: Settings
    engine: AsyncEngine
    adapter: BotAdapter
    bot: ReflectiveBot
    scheduler: Scheduler
    outbox: Outbox
    triage: TriageStore
    sessions: SessionStore


SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
RUNTIME = web.AppKey("runtime", Runtime)


def build_runtime(
    settings: Settings,
    engine: AsyncEngine,
    http: aiohttp.ClientSession,
    clock: Clock | None = None,
) -> Runtime:
    clock = clock or SystemClock()
    cipher = cipher_from_settings(settings)
    sessions = session_factory(engine)
    storage = SqlStorage(engine, cipher)
    calendar = WorkingCalendar(
        settings.time_zone,
        settings.working_day_start_hour,
        settings.working_day_end_hour,
        settings.extra_bank_holidays,
    )
    writer = OutboxWriter(cipher)
    outbox = Outbox(sessions, cipher, clock)
    desk_options = DeskOptions(
        tuple(settings.facilitators),
        tuple(settings.offered_models),
        tuple(settings.decline_signposts),
    )
    triage = TriageStore(
        sessions,
        cipher,
        clock,
        writer,
        calendar,
        settings.triage_reminder_working_days,
        Notices(settings.partnership_name, calendar).after_decision,
    )
    digests = Digests(sessions, writer, calendar, settings.digest_weekday, settings.digest_hour)
    session_messages = SessionMessages(calendar)
    session_store = SessionStore(
        sessions,
        cipher,
        clock,
        writer,
        settings.session_card_refresh_seconds,
        session_messages.announce,
        session_messages.opening,
        session_messages.closing,
    )
    scheduler = Scheduler(
        clock,
        settings.scheduler_interval_seconds,
        [
            ("reminders", Reminders(sessions, writer, calendar).send_due),
            ("digests", digests.send_due),
            ("session timers", session_store.run_due),
            ("outbox", outbox.run_due),
            ("outbox pruning", outbox.prune),
        ],
    )
    writer.on_commit = scheduler.wake
    referrals = ReferralStore(
        sessions,
        cipher,
        settings.reference_prefix,
        intake=Intake(writer, calendar, settings.triage_reminder_working_days),
        clock=clock,
    )
    adapter = BotAdapter(StrictAuthentication.from_settings(settings), ConnectorSender(http))
    admins = AdminCheck(
        settings.admin_ids, settings.admin_group_conversation_id, adapter.is_member, clock
    )
    desk = DeskHandler(
        triage,
        admins,
        desk_options,
        calendar,
        clock,
        outbox,
        scheduler.wake,
        settings.partnership_name,
        digests,
    )
    proactive = Proactive(adapter, settings.microsoft_app_id, sessions, clock)
    Deliveries(proactive, triage, calendar, desk_options, clock, session_store).register(outbox)
    protocol_dirs = [BUILT_IN] + ([settings.protocols_dir] if settings.protocols_dir else [])
    meeting = MeetingHandler(
        session_store,
        load_protocols(protocol_dirs),
        MeetingRoles(clock, adapter.meeting_role),
        admins,
        calendar,
        clock,
        scheduler.wake,
        settings.partnership_name,
        frozenset(role.lower() for role in settings.session_control_roles),
        tuple(model.value for model in settings.offered_models),
    )
    dialog = ReferralDialog(
        referrals,
        FormOptions(tuple(settings.offered_models), settings.narrative_max_chars),
        Signpost(settings.child_protection_text, settings.child_protection_url),
    )
    bot = ReflectiveBot(
        FastConversationState(storage),
        dialog,
        referrals,
        settings.partnership_name,
        settings.offered_models,
        desk,
        AnswerHandler(triage, scheduler.wake),
        meeting,
    )
    adapter.on_turn_error = on_turn_error
    adapter.use(TenantGate(settings.allowed_tenant_ids, settings.partnership_name))
    adapter.use(DropDuplicates(engine))
    return Runtime(settings, engine, adapter, bot, scheduler, outbox, triage, session_store)


async def _runtime_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_engine(settings.database_url)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    runtime = build_runtime(settings, engine, http, app.get(CLOCK))
    app[RUNTIME] = runtime
    runtime.scheduler.start()
    yield
    await runtime.scheduler.stop()
    await http.close()
    await engine.dispose()


async def messages(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send application/json")
    try:
        body = await request.json()  # aiohttp caches the body; the adapter reads it again
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be an activity object")
    try:
        response = await runtime.adapter.process(request, runtime.bot)
    except AuthenticationUnavailable:
        # Teams retries a 503; a 401 would lose the user's message.
        raise web.HTTPServiceUnavailable(headers={"Retry-After": "5"}) from None
    return response or web.Response(status=201)


async def healthz(request: web.Request) -> web.Response:
    ok = await database_is_up(request.app[RUNTIME].engine)
    return web.json_response({"database": "ok" if ok else "down"}, status=200 if ok else 503)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> web.Application:
    app = web.Application(client_max_size=256 * 1024)
    app[SETTINGS] = settings or Settings()
    if clock is not None:
        app[CLOCK] = clock
    app.cleanup_ctx.append(_runtime_ctx)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Teams sends "trigger" with every card button, a field botbuilder's model does not know:
    # msrest would log a warning on every press.
    logging.getLogger("msrest.serialization").setLevel(logging.ERROR)
    web.run_app(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
