"""Composition root: `create_app(settings)` builds everything; nothing is built at import."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from aiohttp import web
from azure.core.credentials_async import AsyncTokenCredential
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.changes import Changes, changes_for
from bot.core.clock import Clock, SystemClock
from bot.core.database import engine_from_settings, session_factory
from bot.core.migrate import (
    SchemaNotReady,
    SchemaState,
    migrate_once,
    refusal,
    schema_of,
)
from bot.core.outage import is_database_outage, lost_connections_as_warnings
from bot.core.outbox import CALENDAR_KINDS, Outbox, OutboxWriter
from bot.core.protocols import BUILT_IN, catalogue_of, load_protocols
from bot.core.scheduler import Job, Scheduler, WakeAll
from bot.core.sealed import cipher_of
from bot.core.settings import Settings
from bot.core.shared import Shared
from bot.core.telemetry import configure_telemetry
from bot.core.working_days import WorkingCalendar
from bot.feedback import wiring as feedback
from bot.further_reflection import wiring as further_reflection
from bot.privacy.retention import Periods, RetentionJob
from bot.referrals import wiring as referrals
from bot.referrals.model import FormQuestion
from bot.reports import wiring as reports
from bot.scheduling import wiring as scheduling
from bot.scheduling.calendar_port import CalendarPort
from bot.scheduling.graph import config_from_settings, graph_calendar
from bot.sessions import wiring as sessions
from bot.sessions.pages import LinkFreeAccessLog, LivePages
from bot.sessions.pages import add_routes as add_session_pages
from bot.sessions.tab import TeamsTab
from bot.sessions.tab import add_routes as add_session_tab
from bot.teams import wiring as teams
from bot.teams.activity_handler import ReflectiveBot
from bot.teams.adapter import BotAdapter
from bot.teams.envelope import activity_of
from bot.teams.errors import TryAgainLater
from bot.teams.routes import merge
from bot.teams.state import FastConversationState
from bot.teams.storage import SqlStorage
from bot.teams.tab_sso import TabTokens
from bot.teams.turn_tracing import turn_span, verbs_of
from bot.triage import wiring as triage
from bot.triage.options import DeskOptions
from cards.help import help_card
from cards.referrals import welcome_card
from dialogs.referral_dialog import ReferralDialog, Signpost

log = logging.getLogger("app")

# msgraph's retry handler may wait up to 3 x 180 s on Retry-After within one call.
CALENDAR_LEASE = timedelta(minutes=15)
# On SIGTERM, how long turns under way may take to finish: Teams sends a turn again after 15 s
# anyway. With the scheduler's own grace (bot.core.scheduler.STOP_GRACE) this stays inside the
# 30 s the host is told to wait (infra: WEBSITES_CONTAINER_STOP_TIME_LIMIT).
TURN_DRAIN_SECONDS = 15.0
# How long /readyz waits for the database: a health check must answer quickly.
READY_CHECK_SECONDS = 5.0


@dataclass
class Runtime:
    """What the request handlers need, built when the app starts."""

    settings: Settings
    engine: AsyncEngine
    adapter: BotAdapter
    bot: ReflectiveBot
    outbox: Outbox
    # Every outbox, the calendar's too: on SIGTERM each stops claiming and gives back its claims.
    outboxes: list[Outbox]
    # Graph work (finding times, booking) runs on its own scheduler, so that a throttled
    # Graph never holds back a session's prompts.
    schedulers: list[Scheduler]
    # The session on a screen, and how its pages hear of changes (on any instance).
    pages: LivePages
    tab: TeamsTab
    changes: Changes
    # The card verbs the routes know: the only ones a turn's trace may name.
    verbs: frozenset[str] = frozenset()


SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
GRAPH_CREDENTIAL = web.AppKey("graph_credential", AsyncTokenCredential)
FORM_QUESTIONS = web.AppKey("form_questions", tuple[FormQuestion, ...])
RUNTIME = web.AppKey("runtime", Runtime)


def shared_parts(settings: Settings, engine: AsyncEngine, clock: Clock, wake: WakeAll) -> Shared:
    cipher = cipher_of(engine.sync_engine.dialect)  # the engine's, for its sealed columns too
    protocol_dirs = [BUILT_IN] + ([settings.protocols_dir] if settings.protocols_dir else [])
    protocols = load_protocols(protocol_dirs)
    return Shared(
        settings=settings,
        database=session_factory(engine),
        cipher=cipher,
        clock=clock,
        writer=OutboxWriter(cipher, on_commit=wake),
        calendar=WorkingCalendar(
            time_zone=settings.time_zone,
            start_hour=settings.working_day_start_hour,
            end_hour=settings.working_day_end_hour,
            extra_holidays=settings.extra_bank_holidays,
        ),
        protocols=protocols,
        models=catalogue_of(protocols, settings.offered_models),
        wake=wake,
    )


def build_runtime(
    settings: Settings,
    engine: AsyncEngine,
    http: aiohttp.ClientSession,
    clock: Clock | None = None,
    calendar_port: CalendarPort | None = None,
    questions: tuple[FormQuestion, ...] | None = None,
) -> Runtime:
    """Composes the features: each one's wiring gives its commands, buttons, jobs, deliveries."""
    wake = WakeAll()
    shared = shared_parts(settings, engine, clock or SystemClock(), wake)
    changes = changes_for(engine)
    outbox = Outbox(shared.database, shared.cipher, shared.clock, skip=CALENDAR_KINDS)
    plumbing = teams.wiring(shared, engine=engine, http=http)
    windows = scheduling.booking_windows(shared.protocols, settings)
    news = scheduling.booking_news(shared)
    desk_options = DeskOptions(
        facilitators=tuple(settings.facilitators),
        models=shared.models,
        signposts=tuple(settings.decline_signposts),
        graph=calendar_port is not None,
        app_install_link=settings.app_install_link,
        booking_minutes=tuple(
            (model, int(window.duration / timedelta(minutes=1)))
            for model, window in windows.items()
        ),
    )
    referral_feature = referrals.wiring(shared, questions=questions)
    triage_feature = triage.wiring(
        shared,
        admins=plumbing.admins,
        outbox=outbox,
        deliveries=plumbing.deliveries,
        options=desk_options,
        booked_by_hand=news.booked_by_hand,
    )
    scheduling_feature = scheduling.wiring(
        shared,
        news=news,
        triage=triage_feature.store,
        proactive=plumbing.proactive,
        people=plumbing.people,
        windows=windows,
        calendar_port=calendar_port,
    )
    session_feature = sessions.wiring(
        shared,
        admins=plumbing.admins,
        roles=plumbing.roles,
        deliveries=plumbing.deliveries,
        changes=changes,
        chat=plumbing.proactive,
        tokens=TabTokens(
            http,
            settings.tab_sso_metadata_url,
            (settings.tab_audience,),
            tuple(settings.allowed_tenant_ids),
        ),
    )
    further_feature = further_reflection.wiring(
        shared,
        admins=plumbing.admins,
        deliveries=plumbing.deliveries,
        people=plumbing.people,
        calendar_port=calendar_port,
    )
    report_feature = reports.wiring(
        shared, admins=plumbing.admins, triage=triage_feature.store, http=http
    )
    routes = merge(
        [
            plumbing.feature,
            referral_feature.feature,
            triage_feature.feature,
            scheduling_feature.feature,
            session_feature.feature,
            further_feature.feature,
            feedback.wiring(shared, deliveries=plumbing.deliveries),
            report_feature,
        ]
    )
    outbox.handlers.update(routes.deliveries)
    retention = RetentionJob(shared.database, shared.cipher, Periods.from_settings(settings))
    jobs: list[tuple[str, Job]] = [
        *routes.jobs.items(),
        ("outbox", outbox.run_due),
        ("outbox pruning", outbox.prune),
        ("retention", retention),
    ]
    schedulers = [Scheduler(shared.clock, settings.scheduler_interval_seconds, jobs)]
    if scheduling_feature.calendar_deliveries:
        calendar_outbox = Outbox(
            shared.database,
            shared.cipher,
            shared.clock,
            only=CALENDAR_KINDS,
            lease=CALENDAR_LEASE,
        )
        calendar_outbox.handlers.update(scheduling_feature.calendar_deliveries)
        calendar_outbox.handlers.update(further_feature.calendar_deliveries)
        schedulers.append(
            Scheduler(
                shared.clock,
                settings.scheduler_interval_seconds,
                [("calendar", calendar_outbox.run_due)],
            )
        )
    wake.schedulers.extend(schedulers)
    outboxes = [outbox] + ([calendar_outbox] if scheduling_feature.calendar_deliveries else [])
    dialog = ReferralDialog(
        referral_feature.store,
        referral_feature.form,
        Signpost(settings.child_protection_text, settings.child_protection_url),
    )
    bot = ReflectiveBot(
        conversation_state=FastConversationState(SqlStorage(engine, shared.cipher)),
        referral_dialog=dialog,
        fresh_referral=dialog.fresh_options,
        routes=routes,
        welcome_card=lambda: welcome_card(settings.partnership_name, shared.models),
        help_card=help_card,
    )
    return Runtime(
        settings,
        engine,
        plumbing.adapter,
        bot,
        outbox,
        outboxes,
        schedulers,
        session_feature.pages,
        session_feature.tab,
        changes,
        verbs_of(routes),
    )


async def _runtime_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with AsyncExitStack() as resources:
        # Closed on the way out, and also when start-up fails (a bad protocol file, say).
        engine = engine_from_settings(settings)
        resources.push_async_callback(engine.dispose)
        resources.enter_context(lost_connections_as_warnings(asyncio.get_running_loop()))
        await _schema_ready(settings, engine)
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        resources.push_async_callback(http.close)
        calendar = None
        if settings.graph_enabled:
            calendar = graph_calendar(config_from_settings(settings), app.get(GRAPH_CREDENTIAL))
            resources.push_async_callback(calendar.close)
        runtime = build_runtime(
            settings,
            engine,
            http,
            clock=app.get(CLOCK),
            calendar_port=calendar,
            questions=app.get(FORM_QUESTIONS),
        )
        app[RUNTIME] = runtime
        await runtime.changes.start()
        resources.push_async_callback(runtime.changes.stop)
        for scheduler in runtime.schedulers:
            scheduler.start()
        yield
        await _stop_background_work(runtime)


async def _schema_ready(settings: Settings, engine: AsyncEngine) -> None:
    """Migrates first with MIGRATE_ON_START (a failure stops the start: the host tries again);
    otherwise refuses to start on a database behind the code, which would fail every turn.
    A database that cannot be reached yet does not stop the start: /readyz says when it is."""
    if settings.migrate_on_start:
        await migrate_once(engine, settings)
        return
    try:
        schema = await asyncio.wait_for(schema_of(engine), settings.database_timeout_seconds)
    except Exception as error:
        if not (is_database_outage(error) or isinstance(error, TimeoutError)):
            raise
        log.warning("the database cannot be reached; its schema is checked by /readyz")
        return
    if schema.state is SchemaState.BEHIND:
        log.critical(refusal(schema))
        raise SchemaNotReady(refusal(schema))
    if schema.state is SchemaState.AHEAD:
        log.warning("the database schema (%s) is newer than this release's", schema.stored)


async def _stop_background_work(runtime: Runtime) -> None:
    """On the way out (SIGTERM): no new claims; the scheduler's run under way may finish; any
    claim still held is given back, so another instance sends it at once, not a lease later."""
    for outbox in runtime.outboxes:
        outbox.stop_claiming()
    for scheduler in runtime.schedulers:
        await scheduler.stop()
    for outbox in runtime.outboxes:
        await outbox.release_claims()


async def _end_streams(app: web.Application) -> None:
    """Open session pages hold a stream each: end them, so a stop does not wait for them
    (their browsers reconnect, to another instance or to this one when it is back)."""
    runtime = app.get(RUNTIME)
    if runtime is not None:
        await runtime.pages.close()


async def messages(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    with turn_span(request, runtime.verbs) as turn:  # its kind and status; nothing personal
        activity = await activity_of(request)  # 400 for a bad envelope, before any token check
        turn.describe(activity)
        try:
            response = await runtime.adapter.process_checked(
                activity, request.headers.get("Authorization", ""), runtime.bot
            )
        except TryAgainLater as unavailable:
            # Teams retries a 503; a 201 with an apology, or a 401, would lose the user's message.
            raise web.HTTPServiceUnavailable(
                headers={"Retry-After": str(unavailable.retry_after_seconds)}
            ) from None
        return turn.answered(response or web.Response(status=201))


async def healthz(request: web.Request) -> web.Response:
    """Alive: the process answers. A database outage is /readyz's business (restarting the
    app would not bring the database back)."""
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    """Ready to take turns: the database answers and its schema is the one the code needs
    (one that is newer, from a release being rolled out, still serves)."""
    try:
        schema = await asyncio.wait_for(schema_of(request.app[RUNTIME].engine), READY_CHECK_SECONDS)
    except Exception:  # noqa: BLE001 - any failure, or no answer in time, means "not ready"
        return web.json_response({"database": "down"}, status=503)
    behind = schema.state is SchemaState.BEHIND
    return web.json_response(
        {"database": "ok", "schema": schema.state.value}, status=503 if behind else 200
    )


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    graph_credential: AsyncTokenCredential | None = None,
    form_questions: tuple[FormQuestion, ...] | None = None,
) -> web.Application:
    """The app; `clock`, `graph_credential` and the referral form's further questions
    (`form_questions`) replace the real ones (tests)."""
    app = web.Application(client_max_size=256 * 1024)
    app[SETTINGS] = settings or Settings()
    if clock is not None:
        app[CLOCK] = clock
    if graph_credential is not None:
        app[GRAPH_CREDENTIAL] = graph_credential
    if form_questions is not None:
        app[FORM_QUESTIONS] = form_questions
    app.cleanup_ctx.append(_runtime_ctx)
    app.on_shutdown.append(_end_streams)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    add_session_tab(app.router, lambda request: request.app[RUNTIME].tab)
    add_session_pages(app.router, lambda request: request.app[RUNTIME].pages)
    return app


def main() -> None:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Teams sends "trigger" with every card button, a field botbuilder's model does not know:
    # msrest would log a warning on every press.
    logging.getLogger("msrest.serialization").setLevel(logging.ERROR)
    # azure-identity logs a line for every token (one per new database connection), and
    # azure-core one for every HTTP request: failures still show, as warnings.
    for chatty in ("azure.identity", "azure.core.pipeline.policies.http_logging_policy"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        with configure_telemetry(settings):  # traces, if configured; flushed on the way out
            web.run_app(
                create_app(settings),
                host=settings.host,
                port=settings.port,
                shutdown_timeout=TURN_DRAIN_SECONDS,
                access_log_class=LinkFreeAccessLog,
            )
    except SchemaNotReady:
        sys.exit(2)  # already logged, with what to do


if __name__ == "__main__":
    main()
