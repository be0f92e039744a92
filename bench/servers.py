"""The processes `bench/turns.py` measures: each serves one aiohttp app on 127.0.0.1.

Every server runs in its own process (multiprocessing, spawn) and is driven over a Pipe:
it answers ("ready", port) once it listens on a free loopback port, then obeys
("profile_start",), ("profile_stop", path) and ("stop",). It stops by itself when the
bench's end of the pipe closes.

- connector: a loopback Bot Connector that takes replies and counts them by replyToId.
- bare:      the floor of this stack: read the activity, POST one reply, answer 201.
- echo:      the BotBuilder-Samples python 02.echo-bot, built the way the sample builds it.
- referral:  the real app, `create_app(settings)`, with its state in SQLite.

`bench/timers.py` uses two more, with the same process and pipe:

- timer_connector: a loopback Bot Connector that notes every post (conversation, text,
                   arrival time) and answers card updates (PUT) with 200.
- timer_bot:       the real app on SQLite or PostgreSQL with a protocols directory of its
                   own, and the time each scheduled job takes, served at /bench/jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import itertools
import logging
import multiprocessing
import sys
import time
import traceback
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

HOST = "127.0.0.1"  # only ever loopback

# Texts a bot sends when its turn failed: a reply with one of them is not a real answer.
FAILURE_TEXTS = (
    "Sorry, something went wrong",  # bot.teams.errors.SORRY
    "I received two answers at once",  # bot.teams.errors.BUSY
    "The bot encountered an error",  # the echo sample's on_error
)


# --- the loopback Bot Connector ----------------------------------------------------------


class ReplyLedger:
    """What the connector received since the last reset."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.by_reply_to: dict[str, int] = {}
        self.without_reply_to = 0
        self.failures = 0
        self.failure_samples: list[str] = []

    def record(self, activity: dict[str, Any], reply_to: str | None) -> None:
        self.total += 1
        if reply_to:
            self.by_reply_to[reply_to] = self.by_reply_to.get(reply_to, 0) + 1
        else:
            self.without_reply_to += 1
        text = activity.get("text")
        if isinstance(text, str) and text.startswith(FAILURE_TEXTS):
            self.failures += 1
            if len(self.failure_samples) < 5 and text[:200] not in self.failure_samples:
                self.failure_samples.append(text[:200])

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_reply_to": self.by_reply_to,
            "without_reply_to": self.without_reply_to,
            "failures": self.failures,
            "failure_samples": self.failure_samples,
        }


LEDGER = web.AppKey("ledger", ReplyLedger)


def build_connector(_options: dict[str, Any]) -> web.Application:
    async def send(request: web.Request) -> web.Response:
        ledger = request.app[LEDGER]
        activity = await request.json()
        reply_to = activity.get("replyToId") or request.match_info.get("activity")
        ledger.record(activity, reply_to)
        return web.json_response({"id": f"activity-{next(ledger.ids)}"})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(request.app[LEDGER].as_json())

    async def reset(request: web.Request) -> web.Response:
        request.app[LEDGER].reset()
        return web.json_response({"reset": True})

    app = web.Application(client_max_size=1024 * 1024)
    app[LEDGER] = ReplyLedger()
    app.router.add_post("/v3/conversations/{conversation}/activities", send)
    app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", send)
    app.router.add_get("/bench/stats", stats)
    app.router.add_post("/bench/reset", reset)
    return app


# --- the floor: a bare aiohttp handler that posts one reply ------------------------------

SESSION = web.AppKey("session", aiohttp.ClientSession)


def build_bare(_options: dict[str, Any]) -> web.Application:
    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        app[SESSION] = aiohttp.ClientSession()
        yield
        await app[SESSION].close()

    async def messages(request: web.Request) -> web.Response:
        activity = await request.json()
        conversation = activity["conversation"]
        reply = {
            "type": "message",
            "text": f"Echo: {activity.get('text')}",
            "channelId": activity["channelId"],
            "serviceUrl": activity["serviceUrl"],
            "from": activity["recipient"],
            "recipient": activity["from"],
            "conversation": conversation,
            "replyToId": activity["id"],
        }
        url = (
            f"{activity['serviceUrl']}v3/conversations/"
            f"{quote(conversation['id'], safe='')}/activities"
        )
        async with request.app[SESSION].post(url, json=reply) as response:
            await response.read()
            if response.status >= 300:
                return web.Response(status=502, text=f"connector answered {response.status}")
        return web.Response(status=201)

    app = web.Application()
    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/api/messages", messages)
    return app


# --- the anchor: BotBuilder-Samples python 02.echo-bot -----------------------------------


def build_echo(_options: dict[str, Any]) -> web.Application:
    # As in samples/python/02.echo-bot: config.py, bots/echo_bot.py and app.py.
    from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
    from botbuilder.core.integration import aiohttp_error_middleware
    from botbuilder.integration.aiohttp import (
        CloudAdapter,
        ConfigurationBotFrameworkAuthentication,
    )
    from botbuilder.schema import Activity, ActivityTypes, ChannelAccount

    class DefaultConfig:
        """Bot Configuration"""

        PORT = 3978
        APP_ID = ""
        APP_PASSWORD = ""
        APP_TYPE = "MultiTenant"
        APP_TENANTID = ""

    class EchoBot(ActivityHandler):
        async def on_members_added_activity(
            self, members_added: list[ChannelAccount], turn_context: TurnContext
        ) -> None:
            for member in members_added:
                if member.id != turn_context.activity.recipient.id:
                    await turn_context.send_activity("Hello and welcome!")

        async def on_message_activity(self, turn_context: TurnContext) -> Any:
            return await turn_context.send_activity(
                MessageFactory.text(f"Echo: {turn_context.activity.text}")
            )

    config = DefaultConfig()
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))

    async def on_error(context: TurnContext, error: Exception) -> None:
        print(f"\n [on_turn_error] unhandled error: {error}", file=sys.stderr)
        traceback.print_exc()
        await context.send_activity("The bot encountered an error or bug.")
        await context.send_activity("To continue to run this bot, please fix the bot source code.")
        if context.activity.channel_id == "emulator":
            trace_activity = Activity(
                label="TurnError",
                name="on_turn_error Trace",
                timestamp=datetime.utcnow(),
                type=ActivityTypes.trace,
                value=f"{error}",
                value_type="https://www.botframework.com/schemas/error",
            )
            await context.send_activity(trace_activity)

    adapter.on_turn_error = on_error
    bot = EchoBot()

    async def messages(req: web.Request) -> web.Response:
        return await adapter.process(req, bot)

    app = web.Application(middlewares=[aiohttp_error_middleware])
    app.router.add_post("/api/messages", messages)
    return app


# --- the product: the referral bot, state in SQLite --------------------------------------


def bench_settings(options: dict[str, Any], **extra: Any) -> Any:
    """The bot's settings in a bench: its own database and key, no inbound authentication."""
    from bot.core.settings import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=options["database_url"],
        encryption_keys=[options["encryption_key"]],
        microsoft_app_id="",
        microsoft_app_password="",
        allowed_tenant_ids=[options["tenant"]],
        log_level="WARNING",
        **extra,
    )


def build_referral(options: dict[str, Any]) -> web.Application:
    from app import create_app

    return create_app(bench_settings(options))


BUILDERS: dict[str, Callable[[dict[str, Any]], web.Application]] = {
    "connector": build_connector,
    "bare": build_bare,
    "echo": build_echo,
    "referral": build_referral,
}


# --- the process -------------------------------------------------------------------------


class Profiler:
    """cProfile (the standard library) or pyinstrument (when installed), on the main thread.

    Started from a callback on the event loop, so it sees every later turn of this process.
    """

    def __init__(self, tool: str) -> None:
        self.tool = tool
        if tool == "pyinstrument":
            import pyinstrument

            # Wall-clock samples of the main thread's stack: right across coroutines and
            # SQLAlchemy's greenlets, which cProfile's cumulative times are not.
            self._sampler = pyinstrument.Profiler(interval=0.0005, async_mode="disabled")
            self._sampler.start()
        else:
            self._profile = cProfile.Profile()
            self._profile.enable()

    def stop(self, path: str) -> None:
        if self.tool == "pyinstrument":
            self._sampler.stop()
            session = self._sampler.last_session
            if session is not None:
                session.save(path)  # rendered by the bench: rendering here takes long
        else:
            self._profile.disable()
            self._profile.dump_stats(path)


def _receive(conn: Connection) -> tuple[Any, ...]:
    try:
        return conn.recv()  # type: ignore[no-any-return]
    except (EOFError, OSError):
        return ("stop",)  # the bench went away: stop too


async def _serve(kind: str, conn: Connection, options: dict[str, Any]) -> None:
    app = BUILDERS[kind](options)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, HOST, 0, backlog=256)
        await site.start()
        port = runner.addresses[0][1]
        conn.send(("ready", port))
        loop = asyncio.get_running_loop()
        profiler: Profiler | None = None
        while True:
            message = await loop.run_in_executor(None, _receive, conn)
            if message[0] == "stop":
                break
            if message[0] == "profile_start":
                profiler = Profiler(message[1])
                conn.send(("ok",))
            elif message[0] == "profile_stop":
                if profiler is not None:
                    profiler.stop(message[1])
                    profiler = None
                conn.send(("ok",))
    finally:
        await runner.cleanup()


def run_server(kind: str, conn: Connection, options: dict[str, Any]) -> None:
    """The entry point of a server process."""
    logging.basicConfig(
        level=logging.WARNING, format=f"[{kind}] %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_serve(kind, conn, options))
    except BaseException:
        text = traceback.format_exc()
        with contextlib.suppress(OSError, ValueError):
            conn.send(("error", text))
        print(text, file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        conn.close()


# --- for bench/timers.py: a connector that notes when each post arrives ------------------


class PostLedger:
    """Every post since the start (conversation, text, arrival time), and the updates."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.posts: list[tuple[str, str | None, float]] = []
        self.texts = 0
        self.updates = 0
        self.updated: set[str] = set()

    def as_json(self, *, records: bool) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "posts": len(self.posts),
            "texts": self.texts,
            "updates": self.updates,
            "updated_conversations": len(self.updated),
        }
        if records:
            answer["records"] = self.posts
        return answer


POSTS = web.AppKey("posts", PostLedger)


def build_timer_connector(_options: dict[str, Any]) -> web.Application:
    async def post(request: web.Request) -> web.Response:
        arrived = time.time()  # before the body is read: when the request reached us
        ledger = request.app[POSTS]
        activity = await request.json()
        text = activity.get("text") if isinstance(activity.get("text"), str) else None
        ledger.posts.append((request.match_info["conversation"], text, arrived))
        ledger.texts += text is not None
        return web.json_response({"id": f"activity-{next(ledger.ids)}"})

    async def put(request: web.Request) -> web.Response:
        ledger = request.app[POSTS]
        await request.read()
        ledger.updates += 1
        ledger.updated.add(request.match_info["conversation"])
        return web.json_response({"id": request.match_info["activity"]})

    async def summary(request: web.Request) -> web.Response:
        return web.json_response(request.app[POSTS].as_json(records=False))

    async def records(request: web.Request) -> web.Response:
        return web.json_response(request.app[POSTS].as_json(records=True))

    app = web.Application(client_max_size=1024 * 1024)
    app[POSTS] = PostLedger()
    app.router.add_post("/v3/conversations/{conversation}/activities", post)
    app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", post)
    app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", put)
    app.router.add_get("/bench/summary", summary)
    app.router.add_get("/bench/records", records)
    return app


# --- for bench/timers.py: the real app, with each scheduled job timed --------------------


class JobTrace:
    """Every run of each scheduled job: when it began (time.time()), how long it took and
    what it returned when that was a count (the outbox: messages sent), else -1."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[float, float, int]]] = {}

    def wrap(self, name: str, job: Callable[[datetime], Any]) -> Callable[[datetime], Any]:
        calls = self.calls.setdefault(name, [])

        async def timed(now: datetime) -> Any:
            began, started = time.time(), time.perf_counter()
            result: Any = None
            try:
                result = await job(now)
                return result
            finally:
                count = result if isinstance(result, int) and not isinstance(result, bool) else -1
                calls.append((began, time.perf_counter() - started, count))

        return timed


JOB_TRACE = web.AppKey("job_trace", JobTrace)


def build_timer_bot(options: dict[str, Any]) -> web.Application:
    from app import RUNTIME, create_app

    settings = bench_settings(
        options,
        protocols_dir=Path(options["protocols_dir"]),
        session_card_refresh_seconds=options["refresh_seconds"],
        scheduler_interval_seconds=options["scheduler_interval_seconds"],
    )
    # Teams sends `trigger` in an Action.Execute's value and botbuilder's model does not know
    # it: msrest logs a warning for every button press, which would bury the bench's output.
    logging.getLogger("msrest.serialization").setLevel(logging.ERROR)
    app = create_app(settings)
    app[JOB_TRACE] = JobTrace()

    async def time_the_jobs(app: web.Application) -> None:
        # Runs after create_app's own start-up: the scheduler exists and reads its job
        # list afresh on every tick, so wrapping the entries times every later run.
        scheduler = app[RUNTIME].schedulers[0]  # the first runs the timers and the outbox
        jobs = scheduler._jobs  # private, but this is the bench's own instrumentation
        jobs[:] = [(name, app[JOB_TRACE].wrap(name, job)) for name, job in jobs]

    async def job_calls(request: web.Request) -> web.Response:
        return web.json_response(request.app[JOB_TRACE].calls)

    app.on_startup.append(time_the_jobs)
    app.router.add_get("/bench/jobs", job_calls)
    return app


BUILDERS["timer_connector"] = build_timer_connector
BUILDERS["timer_bot"] = build_timer_bot


# --- the benches' end ------------------------------------------------------------------


class ServerProcess:
    """A server process started by a bench, and the bench's end of its control pipe."""

    def __init__(self, kind: str, options: dict[str, Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self.kind = kind
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=run_server, args=(kind, child, options), name=f"bench-{kind}", daemon=True
        )
        self.process.start()
        child.close()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def wait_ready(self, timeout: float) -> None:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"the {self.kind} server did not start within {timeout:.0f} s")
        message = self.conn.recv()
        if message[0] != "ready":
            raise RuntimeError(f"the {self.kind} server failed to start:\n{message[1]}")
        self.port = int(message[1])

    def command(self, *message: Any, timeout: float = 30) -> None:
        self.conn.send(message)
        if not self.conn.poll(timeout) or self.conn.recv()[0] != "ok":
            raise RuntimeError(f"the {self.kind} server did not answer {message[0]}")

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("stop",))
        self.process.join(15)
        if self.process.is_alive():  # only this process, which the bench started
            self.process.terminate()
            self.process.join(5)
        self.conn.close()


def exit_code(problems: list[str], met: bool, require_target: bool) -> int:
    """1 when a check failed (listed on stderr), 2 when only a required target was missed."""
    if problems:
        print("\nFAILED:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 2 if require_target and not met else 0
