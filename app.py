"""Composition root: `create_app(settings)` builds everything; nothing is built at import."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import time, timedelta

import aiohttp
from aiohttp import web
from azure.core.credentials_async import AsyncTokenCredential
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.clock import Clock, SystemClock
from bot.core.crypto import cipher_from_settings
from bot.core.database import create_engine, database_is_up, session_factory
from bot.core.outbox import CALENDAR_KINDS, Outbox, OutboxWriter
from bot.core.protocols import BUILT_IN, Protocol, load_protocols
from bot.core.scheduler import Scheduler
from bot.core.settings import Settings
from bot.core.working_days import WorkingCalendar
from bot.referrals.store import Intake, ReferralStore
from bot.scheduling.bookings import BookingRules, Bookings
from bot.scheduling.calendar_port import Calendar
from bot.scheduling.graph import config_from_settings, graph_calendar
from bot.scheduling.reminders import FacilitatorReminders
from bot.scheduling.slots import Window
from bot.sessions.meeting import MeetingHandler
from bot.sessions.prompts import SessionMessages
from bot.sessions.store import SessionStore
from bot.teams.activity_handler import ReflectiveBot
from bot.teams.adapter import BotAdapter
from bot.teams.admins import AdminCheck
from bot.teams.auth import AuthenticationUnavailable, StrictAuthentication
from bot.teams.connector import ConnectorSender
from bot.teams.dedupe import DropDuplicates
from bot.teams.deliveries import Deliveries
from bot.teams.errors import on_turn_error
from bot.teams.meeting_roles import MeetingRoles
from bot.teams.people import LearnPeople, People
from bot.teams.proactive import Proactive
from bot.teams.state import FastConversationState
from bot.teams.storage import SqlStorage
from bot.teams.tenant import TenantGate
from bot.triage.answers import AnswerHandler
from bot.triage.desk import DeskHandler
from bot.triage.digest import Digests
from bot.triage.notify import Notices
from bot.triage.reminders import Reminders
from bot.triage.store import TriageStore
from cards.referrals import FormOptions
from cards.triage import DeskOptions
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
    # Graph work (finding times, booking) runs on its own, so that a throttled Graph never
    # holds back a session's prompts; None without Graph settings.
    calendar_scheduler: Scheduler | None = None

    @property
    def schedulers(self) -> list[Scheduler]:
        return [self.scheduler] + ([self.calendar_scheduler] if self.calendar_scheduler else [])


SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
GRAPH_CREDENTIAL = web.AppKey("graph_credential", AsyncTokenCredential)
RUNTIME = web.AppKey("runtime", Runtime)


def booking_windows(protocols: dict[str, Protocol], settings: Settings) -> dict[str, Window]:
    """Each model's booking window (its protocol file's [booking], or working hours)."""
    day = (time(settings.working_day_start_hour), time(settings.working_day_end_hour % 24))
    windows = {}
    for model, protocol in protocols.items():
        booking = protocol.booking_or_default(*day)
        windows[model] = Window(
            duration=timedelta(minutes=booking.minutes),
            earliest=booking.earliest,
            latest_end=booking.latest_end,
            weekdays=frozenset(booking.weekdays),
            step=timedelta(minutes=booking.step_minutes),
        )
    return windows


def build_runtime(
    settings: Settings,
    engine: AsyncEngine,
    http: aiohttp.ClientSession,
    clock: Clock | None = None,
    calendar_port: Calendar | None = None,
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
    outbox = Outbox(sessions, cipher, clock, skip=CALENDAR_KINDS)
    protocol_dirs = [BUILT_IN] + ([settings.protocols_dir] if settings.protocols_dir else [])
    protocols = load_protocols(protocol_dirs)
    windows = booking_windows(protocols, settings)
    desk_options = DeskOptions(
        tuple(settings.facilitators),
        tuple(settings.offered_models),
        tuple(settings.decline_signposts),
        graph=calendar_port is not None,
        booking_minutes=tuple(
            (model, int(window.duration / timedelta(minutes=1)))
            for model, window in windows.items()
        ),
    )
    notices = Notices(
        settings.partnership_name,
        calendar,
        settings.reminder_day_before_hour,
        settings.reminder_minutes_before,
    )
    triage = TriageStore(
        sessions,
        cipher,
        clock,
        writer,
        calendar,
        settings.triage_reminder_working_days,
        notices.after_decision,
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
    adapter = BotAdapter(StrictAuthentication.from_settings(settings), ConnectorSender(http))
    proactive = Proactive(adapter, settings.microsoft_app_id, sessions, clock)
    people = People(sessions, writer, proactive, clock)
    calendar_scheduler = None
    if calendar_port is not None:
        # msgraph's retry handler may wait up to 3 x 180 s on Retry-After within one call.
        calendar_outbox = Outbox(
            sessions, cipher, clock, only=CALENDAR_KINDS, lease=timedelta(minutes=15)
        )
        Bookings(
            sessions,
            calendar_port,
            triage,
            notices,
            writer,
            calendar,
            clock,
            {f.aad_object_id: f for f in settings.facilitators},
            BookingRules(
                windows,
                settings.slot_search_days,
                settings.slots_offered,
                settings.teams_app_catalog_id,
                settings.partnership_name,
            ),
            people,
        ).register(calendar_outbox)
        calendar_scheduler = Scheduler(
            clock, settings.scheduler_interval_seconds, [("calendar", calendar_outbox.run_due)]
        )
    schedulers = [scheduler] + ([calendar_scheduler] if calendar_scheduler else [])

    def wake_all() -> None:
        for each in schedulers:
            each.wake()

    writer.on_commit = wake_all
    referrals = ReferralStore(
        sessions,
        cipher,
        settings.reference_prefix,
        intake=Intake(writer, calendar, settings.triage_reminder_working_days),
        clock=clock,
    )
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
        wake_all,
        settings.partnership_name,
        digests,
    )
    Deliveries(proactive, triage, calendar, desk_options, clock, session_store).register(outbox)
    FacilitatorReminders(sessions, proactive, notices).register(outbox)
    people.register(outbox)
    meeting = MeetingHandler(
        session_store,
        protocols,
        MeetingRoles(clock, adapter.meeting_role),
        admins,
        calendar,
        clock,
        wake_all,
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
        AnswerHandler(triage, wake_all),
        meeting,
    )
    adapter.on_turn_error = on_turn_error
    adapter.use(TenantGate(settings.allowed_tenant_ids, settings.partnership_name))
    adapter.use(DropDuplicates(engine))
    adapter.use(LearnPeople(people))
    return Runtime(
        settings,
        engine,
        adapter,
        bot,
        scheduler,
        outbox,
        triage,
        session_store,
        calendar_scheduler,
    )


async def _runtime_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_engine(settings.database_url)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    calendar = (
        graph_calendar(config_from_settings(settings), app.get(GRAPH_CREDENTIAL))
        if settings.graph_enabled
        else None
    )
    runtime = build_runtime(settings, engine, http, app.get(CLOCK), calendar)
    app[RUNTIME] = runtime
    for scheduler in runtime.schedulers:
        scheduler.start()
    yield
    for scheduler in runtime.schedulers:
        await scheduler.stop()
    if calendar is not None:
        await calendar.close()
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


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    graph_credential: AsyncTokenCredential | None = None,
) -> web.Application:
    """The app; `clock` and `graph_credential` replace the real ones (tests)."""
    app = web.Application(client_max_size=256 * 1024)
    app[SETTINGS] = settings or Settings()
    if clock is not None:
        app[CLOCK] = clock
    if graph_credential is not None:
        app[GRAPH_CREDENTIAL] = graph_credential
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
