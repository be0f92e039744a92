"""The cost of one referral-dialog turn over loopback HTTP, against two anchors.

    .venv/bin/python bench/turns.py            # about a minute
    .venv/bin/python bench/turns.py --quick    # under 10 s (mostly starting 4 processes)
    .venv/bin/python bench/turns.py --profile  # then a profile of the referral bot

The profile uses pyinstrument if it is installed in the venv (wall-clock samples, right
across awaits and SQLAlchemy's greenlets), else cProfile; it is not a project dependency.

Three servers, each in its own process on 127.0.0.1: a bare aiohttp handler that posts
one reply (the floor of this stack), the BotBuilder-Samples echo bot (the anchor), and
the referral bot (`create_app`, state in SQLite). A fourth process is the loopback Bot
Connector that takes the replies. This process is the load generator: each simulated
conversation is a new user and conversation id that walks the referral form (refer, risk,
kind, model, narrative, about, invitees, timing, submit) and then starts a new one. A
conversation's turns are at least 0.3 s apart (the loops work on other conversations
meanwhile), because Teams lets a bot send only 7 messages a second (8 in 2 s) in one
conversation and the bot's pacer keeps to that: one conversation walked flat out would
measure the pacer's waits. A turn
is one POST of one activity, timed from send until the HTTP response; the bots reply to
the connector before they answer the POST.

Every turn must get a 2xx and at least one reply at the connector (matched by replyToId),
no reply may be a failure message, and every submitted referral must be in the database;
otherwise the bench exits 1. `--require-target` also exits 2 when the referral bot makes
fewer than 5x the echo bot's turns per second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import pstats
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.servers import HOST, ServerProcess, exit_code  # noqa: E402
from tests.support.referral_steps import HAPPY_PATH, SUBMIT  # noqa: E402

SERVERS = ("bare", "echo", "referral")
TARGET = 5.0  # the referral bot's turns/s, as a multiple of the echo bot's
TENANT = "00000000-0000-0000-0000-0000000000aa"
SPACING = 0.3  # s between turns of one conversation: under Teams' 8 messages in 2 s

# One walk through the referral form: typed "refer", a button per step, then submit.
STEPS: list[dict[str, Any]] = [
    {"text": "refer"},
    *({"value": answer} for answer in HAPPY_PATH),
    {"value": SUBMIT},
]
SUBMIT_STEP = len(STEPS) - 1


# --- the server processes ----------------------------------------------------------------


# --- the load generator ------------------------------------------------------------------


class Conversation:
    """One practitioner in a new 1:1 chat, shaped like tests.support.client.TeamsUser."""

    def __init__(self, label: str, service_url: str) -> None:
        unique = uuid.uuid4().hex[:12]
        self.service_url = service_url
        self.user_id = f"29:bench-{label}-{unique}"
        self.aad_id = str(uuid.uuid4())
        self.conversation_id = f"a:bench-{label}-{unique}"

    def activity(self, activity_id: str, **fields: Any) -> dict[str, Any]:
        return {
            "type": "message",
            "id": activity_id,
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "from": {"id": self.user_id, "name": "Sam Practitioner", "aadObjectId": self.aad_id},
            "recipient": {"id": "28:bot", "name": "Reflective practice"},
            "conversation": {
                "id": self.conversation_id,
                "conversationType": "personal",
                "tenantId": TENANT,
            },
            "channelData": {"tenant": {"id": TENANT}},
            "locale": "en-GB",
            **fields,
        }


@dataclass
class Phase:
    """The turns of one server at one concurrency, possibly over several rounds."""

    server: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    ok_ids: list[str] = field(default_factory=list)
    bad_statuses: list[str] = field(default_factory=list)
    submits: int = 0
    replies: int = 0
    missing: list[str] = field(default_factory=list)
    failure_replies: int = 0
    failure_samples: list[str] = field(default_factory=list)

    @property
    def turns(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.turns / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000

    def add(self, other: Phase) -> None:
        self.latencies += other.latencies
        self.elapsed += other.elapsed
        self.ok_ids += other.ok_ids
        self.bad_statuses += other.bad_statuses
        self.submits += other.submits
        self.replies += other.replies
        self.missing += other.missing
        self.failure_replies += other.failure_replies
        self.failure_samples += other.failure_samples

    @property
    def problems(self) -> list[str]:
        found = []
        if self.bad_statuses:
            found.append(f"{len(self.bad_statuses)} non-2xx turns, e.g. {self.bad_statuses[:3]}")
        if self.missing:
            found.append(f"{len(self.missing)} turns without a reply, e.g. {self.missing[:3]}")
        if self.failure_replies:
            found.append(
                f"{self.failure_replies} replies were failure messages, "
                f"e.g. {self.failure_samples[:2]}"
            )
        return found


async def run_phase(
    http: aiohttp.ClientSession,
    server: ServerProcess,
    connector: ServerProcess,
    *,
    label: str,
    concurrency: int,
    turns: int,
    seconds: float,
    walks: list[deque[tuple[float, Conversation, int]]] | None = None,
) -> Phase:
    """`concurrency` loops, each sending its next turn after the previous response, until
    `turns` turns were sent or `seconds` passed; then checks the connector's replies.

    `walks` (one queue per loop) carries conversations part-way through the form from one
    round to the next, so that short rounds still reach the submit step."""
    if walks is None:
        walks = [deque() for _ in range(concurrency)]
    phase = Phase(server.kind, concurrency)
    budget = [turns]
    numbers = itertools.count()
    url = f"{server.url}api/messages"
    headers = {"Content-Type": "application/json"}
    deadline = time.monotonic() + seconds

    async def conversation_loop(waiting: deque[tuple[float, Conversation, int]]) -> None:
        # The loop sends the next turn of the conversation that has waited SPACING since its
        # last turn, or else of a new conversation: Teams lets a bot send only 7 messages a
        # second (8 in 2 s, 60 in 30 s) in one conversation and the bot's pacer keeps to
        # that, so a conversation walked flat out would measure the pacer's waits.
        while budget[0] > 0 and time.monotonic() <= deadline:
            budget[0] -= 1
            if waiting and waiting[0][0] <= time.monotonic():
                _, conversation, index = waiting.popleft()
            else:
                conversation, index = Conversation(label, connector.url), 0
            activity_id = f"in-{label}-{next(numbers)}"
            body = json.dumps(conversation.activity(activity_id, **STEPS[index])).encode()
            started = time.perf_counter()
            try:
                async with http.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError) as error:
                status, reason = 0, f"{type(error).__name__}: {error}"
            else:
                reason = str(status)
            phase.latencies.append(time.perf_counter() - started)
            if not 200 <= status < 300:
                phase.bad_statuses.append(reason)
                continue  # this conversation is off the rails: drop it
            phase.ok_ids.append(activity_id)
            if index == SUBMIT_STEP:
                phase.submits += 1
            if index + 1 < len(STEPS):
                waiting.append((time.monotonic() + SPACING, conversation, index + 1))

    started = time.perf_counter()
    await asyncio.gather(*(conversation_loop(waiting) for waiting in walks))
    phase.elapsed = time.perf_counter() - started

    # Every answered turn must have had a reply at the connector, and no failure message.
    async with http.get(f"{connector.url}bench/stats") as response:
        stats = await response.json()
    async with http.post(f"{connector.url}bench/reset") as response:
        await response.read()
    replied = stats["by_reply_to"]
    phase.replies = stats["total"]
    phase.missing = [activity_id for activity_id in phase.ok_ids if activity_id not in replied]
    phase.failure_replies = stats["failures"]
    phase.failure_samples = stats["failure_samples"]
    return phase


# --- the run -----------------------------------------------------------------------------


@dataclass
class Options:
    concurrencies: list[int]
    turns: dict[int, int]
    seconds: float
    rounds: int
    warmup: int
    profile: bool
    profiler: str
    profile_turns: int
    profile_concurrency: int
    profile_out: str | None
    require_target: bool


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds, for CI smoke runs (45 and 180 turns, 1 round, 1 s a phase)",
    )
    parser.add_argument("--turns-c1", type=int, default=900, help="turns at concurrency 1")
    parser.add_argument("--turns-c20", type=int, default=3600, help="turns at concurrency 20")
    parser.add_argument(
        "--seconds", type=float, default=8.0, help="time limit of each server at each concurrency"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="the servers take turns this many times at each concurrency, so that load "
        "from other work on the machine falls on all three alike",
    )
    parser.add_argument("--warmup", type=int, default=180, help="warm-up turns per server")
    parser.add_argument(
        "--profile", action="store_true", help="then profile the referral bot for a short run"
    )
    parser.add_argument(
        "--profiler",
        choices=("auto", "cprofile", "pyinstrument"),
        default="auto",
        help="auto: pyinstrument if it is installed in the venv, else cProfile",
    )
    parser.add_argument("--profile-turns", type=int, default=450, help="turns profiled")
    parser.add_argument("--profile-concurrency", type=int, default=1)
    parser.add_argument(
        "--profile-out",
        help="keep the raw profile here (pstats file, or pyinstrument session JSON: "
        "pyinstrument --load FILE)",
    )
    parser.add_argument(
        "--require-target",
        action="store_true",
        help=f"exit 2 if the referral bot makes under {TARGET:g}x the echo bot's turns/s",
    )
    args = parser.parse_args(argv)
    profiler = args.profiler
    if profiler == "auto":
        profiler = "pyinstrument" if _installed("pyinstrument") else "cprofile"
    elif profiler == "pyinstrument" and args.profile and not _installed("pyinstrument"):
        parser.error("--profiler pyinstrument: install it into the venv first (pip install)")
    defaults = parser.parse_args([])
    if args.quick:  # quick values, unless given on the command line
        for name, value in (
            ("turns_c1", 45),
            ("turns_c20", 180),
            ("seconds", 1.0),
            ("rounds", 1),
            ("warmup", 36),
            ("profile_turns", 90),
        ):
            if getattr(args, name) == getattr(defaults, name):
                setattr(args, name, value)
    return Options(
        concurrencies=[1, 20],
        turns={1: args.turns_c1, 20: args.turns_c20},
        seconds=args.seconds,
        rounds=max(1, args.rounds),
        warmup=args.warmup,
        profile=args.profile,
        profiler=profiler,
        profile_turns=args.profile_turns,
        profile_concurrency=args.profile_concurrency,
        profile_out=args.profile_out,
        require_target=args.require_target,
    )


def print_table(phases: list[Phase], options: Options) -> bool:
    """Prints the results; answers whether the target is met at every concurrency."""
    print()
    print(f"{'server':<10} {'conc':>4} {'turns':>6} {'p50 ms':>8} {'p99 ms':>8} {'turns/s':>9}")
    for phase in phases:
        print(
            f"{phase.server:<10} {phase.concurrency:>4} {phase.turns:>6} "
            f"{phase.percentile(50):>8.2f} {phase.percentile(99):>8.2f} "
            f"{phase.per_second:>9.1f}"
        )
    print()
    met = True
    by_key = {(phase.server, phase.concurrency): phase for phase in phases}
    for concurrency in options.concurrencies:
        referral = by_key[("referral", concurrency)].per_second
        echo = by_key[("echo", concurrency)].per_second
        bare = by_key[("bare", concurrency)].per_second
        to_echo = referral / echo if echo else float("inf")
        to_bare = referral / bare if bare else float("inf")
        met = met and to_echo >= TARGET
        print(
            f"turns/s ratios at concurrency {concurrency:>2}: referral/echo {to_echo:5.2f}x   "
            f"referral/bare {to_bare:5.3f}x   (echo/bare {echo / bare if bare else 0:5.3f}x)"
        )
    print()
    verdict = "MET" if met else "NOT MET"
    print(f"target, referral >= {TARGET:g}x echo turns/s at concurrency 1 and 20: {verdict}")
    return met


def referrals_in(database: Path) -> int:
    """How many referrals the bot stored; -1 if they cannot be counted."""
    try:
        with contextlib.closing(sqlite3.connect(database)) as db:
            return int(db.execute("SELECT count(*) FROM referrals").fetchone()[0])
    except sqlite3.Error:
        return -1


# Frames every turn runs under, whatever it does: left out of the profile listings.
SCAFFOLDING = (
    "multiprocessing/",
    "asyncio/runners.py",
    "asyncio/base_events.py",
    "asyncio/events.py",
    "bench/servers.py",
    "servers.py:",
    "<string>",
    "<thread>",
    "_contextvars.Context",
)


def short_location(filename: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/", "/lib/python3."):
        if marker in filename:
            rest = filename.split(marker, 1)[1]
            return rest.split("/", 1)[1] if marker == "/lib/python3." else rest
    return filename


def print_cprofile(path: str, profiled: Phase) -> None:
    stats = pstats.Stats(path)
    rows = stats.stats  # type: ignore[attr-defined]
    print()
    print(
        f"referral bot under cProfile: {profiled.turns} turns at concurrency "
        f"{profiled.concurrency}, {profiled.per_second:.1f} turns/s while profiled"
    )
    print(
        "(cProfile's cumulative times overcount across awaits and SQLAlchemy's greenlet "
        "switches, and aiosqlite's SQL runs in another thread; own times are exact; "
        "pip install pyinstrument into the venv for wall-clock samples)"
    )

    def table(key: int, title: str) -> None:
        print()
        print(title)
        print(f"{'ncalls':>9} {'tottime':>8} {'cumtime':>8} {'ms/turn':>8}  function")
        listed = [
            (where, row)
            for where, row in rows.items()
            if not any(part in f"{short_location(where[0])}:{where[2]}" for part in SCAFFOLDING)
        ]
        listed.sort(key=lambda item: item[1][key], reverse=True)
        for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in listed[:25]:
            where = f"{short_location(filename)}:{line}" if line else filename
            per_turn = (cumtime if key == 3 else tottime) / max(profiled.turns, 1) * 1000
            print(
                f"{ncalls:>9} {tottime:>8.3f} {cumtime:>8.3f} {per_turn:>8.3f}  {name}  ({where})"
            )

    table(3, "top 25 functions by cumulative time (less the event loop):")
    table(2, "top 25 functions by own time:")


def print_pyinstrument(path: str, profiled: Phase) -> None:
    from pyinstrument.session import Session

    session = Session.load(path)
    total: dict[str, float] = {}
    own: dict[str, float] = {}
    components: dict[str, float] = {}
    for stack, seconds in session.frame_records:
        names = [_frame_name(identifier) for identifier in stack]
        for name in set(names):  # once per sample, however deep it recurses
            total[name] = total.get(name, 0.0) + seconds
        own[names[-1]] = own.get(names[-1], 0.0) + seconds
        component = _component(names)
        components[component] = components.get(component, 0.0) + seconds
    print()
    print(
        f"referral bot under pyinstrument: {profiled.turns} turns at concurrency "
        f"{profiled.concurrency}, {profiled.per_second:.1f} turns/s while profiled; "
        f"{session.sample_count} wall-clock samples of the server's main thread over "
        f"{session.duration:.2f} s (CPU {session.cpu_time:.2f} s)"
    )

    def table(times: dict[str, float], title: str) -> None:
        print()
        print(title)
        print(f"{'seconds':>8} {'ms/turn':>8} {'share':>6}  function")
        listed = [item for item in times.items() if not _is_scaffolding(item[0])]
        listed.sort(key=lambda item: item[1], reverse=True)
        for name, seconds in listed[:25]:
            per_turn = seconds / max(profiled.turns, 1) * 1000
            share = seconds / session.duration if session.duration else 0.0
            print(f"{seconds:8.3f} {per_turn:8.3f} {share:6.1%}  {name}")

    print()
    print("where the time goes, by the outermost library on the stack:")
    for component, seconds in sorted(components.items(), key=lambda item: -item[1]):
        per_turn = seconds / max(profiled.turns, 1) * 1000
        share = seconds / session.duration if session.duration else 0.0
        print(f"{seconds:8.3f} {per_turn:8.3f} {share:6.1%}  {component}")
    table(total, "top 25 functions by cumulative time, less the event loop:")
    table(own, "top 25 functions by own time (an idle event loop waits in epoll/select):")


# Sorted by where a sample's stack first enters them, from the bottom of the stack.
COMPONENTS = (
    ("jsonpickle/", "jsonpickle (bot state: botbuilder's change hash, and SqlStorage)"),
    ("sqlalchemy/", "SQLAlchemy and aiosqlite (state, dedupe, referrals)"),
    ("aiosqlite/", "SQLAlchemy and aiosqlite (state, dedupe, referrals)"),
    ("msrest/", "msrest (Activity (de)serialisation, the connector client's pipeline)"),
    ("copy.py", "copy.deepcopy (TurnContext.send_activities, conversation references)"),
    ("cryptography/", "cryptography (Fernet)"),
)


def _component(names: list[str]) -> str:
    if "epoll.poll" in names[-1] or "select.select" in names[-1]:
        return "idle: waiting in the event loop (connector, client, SQLite thread)"
    for name in names:
        for marker, component in COMPONENTS:
            if f"({marker}" in name:
                return component
    return "the rest: aiohttp, botbuilder, dialogs, cards, bot code"


def _frame_name(identifier: str) -> str:
    function, filename, line = (identifier.split("\x01", 1)[0].split("\x00") + ["", ""])[:3]
    return f"{function}  ({short_location(filename)}:{line})" if filename else function


def _is_scaffolding(name: str) -> bool:
    return any(part in name for part in SCAFFOLDING)


async def drive(options: Options, servers: dict[str, ServerProcess], database: Path) -> int:
    connector = servers["connector"]
    phases: list[Phase] = []
    problems: list[str] = []
    submitted = 0
    timeout = aiohttp.ClientTimeout(total=30)
    limit = max([*options.concurrencies, options.profile_concurrency, 4]) + 4
    async with aiohttp.ClientSession(
        timeout=timeout, connector=aiohttp.TCPConnector(limit=limit)
    ) as http:
        for kind in SERVERS:
            warm = await run_phase(
                http,
                servers[kind],
                connector,
                label=f"{kind}-warm",
                concurrency=4,
                turns=options.warmup,
                seconds=30,
            )
            problems += [f"{kind} warm-up: {problem}" for problem in warm.problems]
            if kind == "referral":
                submitted += warm.submits

        for concurrency in options.concurrencies:
            totals = {kind: Phase(kind, concurrency) for kind in SERVERS}
            walks: dict[str, list[deque[tuple[float, Conversation, int]]]] = {
                kind: [deque() for _ in range(concurrency)] for kind in SERVERS
            }
            for round_number in range(options.rounds):
                # Each round starts with a different server, so none always goes first.
                order = SERVERS[round_number % 3 :] + SERVERS[: round_number % 3]
                for kind in order:
                    phase = await run_phase(
                        http,
                        servers[kind],
                        connector,
                        label=f"{kind}-c{concurrency}-r{round_number}",
                        concurrency=concurrency,
                        turns=-(-options.turns[concurrency] // options.rounds),
                        seconds=options.seconds / options.rounds,
                        walks=walks[kind],
                    )
                    totals[kind].add(phase)
            for kind, phase in totals.items():
                phases.append(phase)
                problems += [f"{kind} c={concurrency}: {problem}" for problem in phase.problems]
                if kind == "referral":
                    submitted += phase.submits
                print(
                    f"  {kind:<8} at concurrency {concurrency:>2}: {phase.turns} turns in "
                    f"{phase.elapsed:.2f} s, {phase.replies} replies at the connector",
                    flush=True,
                )

        met = print_table(phases, options)
        stored = referrals_in(database)
        print(
            f"checks: {sum(p.turns for p in phases)} measured turns, "
            f"{sum(p.replies for p in phases)} replies at the connector, "
            f"{sum(len(p.missing) for p in phases)} turns without a reply, "
            f"{sum(len(p.bad_statuses) for p in phases)} non-2xx, "
            f"{sum(p.failure_replies for p in phases)} failure replies; "
            f"referrals in SQLite: {stored} of {submitted} submitted"
        )

        if options.profile:
            referral = servers["referral"]
            path = str(database.with_suffix(".prof"))
            referral.command("profile_start", options.profiler)
            profiled = await run_phase(
                http,
                referral,
                connector,
                label="referral-profile",
                concurrency=options.profile_concurrency,
                turns=options.profile_turns,
                seconds=60,
            )
            referral.command("profile_stop", path)
            problems += [f"referral profile: {problem}" for problem in profiled.problems]
            submitted += profiled.submits
            stored = referrals_in(database)
            if options.profile_out:
                shutil.copyfile(path, options.profile_out)
            if options.profiler == "pyinstrument":
                print_pyinstrument(path, profiled)
            else:
                print_cprofile(path, profiled)

    if stored != submitted:
        problems.append(f"{submitted} referrals submitted but {stored} in the database")
    return exit_code(problems, met, options.require_target)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    from cryptography.fernet import Fernet

    from bot.core.migrate import upgrade

    started = time.monotonic()
    code = 1
    with tempfile.TemporaryDirectory(prefix="bench-turns-") as directory:
        database = Path(directory) / "referrals.db"
        url = f"sqlite+aiosqlite:///{database}"
        referral_options = {
            "database_url": url,
            "encryption_key": Fernet.generate_key().decode(),
            "tenant": TENANT,
        }
        servers: dict[str, ServerProcess] = {}
        try:
            for kind in ("connector", *SERVERS):
                servers[kind] = ServerProcess(kind, referral_options if kind == "referral" else {})
            upgrade(url)  # while the servers import
            for server in servers.values():
                server.wait_ready(timeout=60)
            load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
            print(
                f"servers on {HOST}: "
                + ", ".join(f"{kind} :{server.port}" for kind, server in servers.items())
                + f"; {os.cpu_count()} CPUs, load average {load}",
                flush=True,
            )
            print(
                f"each server: {options.warmup} warm-up turns, then at concurrency 1 up to "
                f"{options.turns[1]} turns and at 20 up to {options.turns[20]}, at most "
                f"{options.seconds:g} s each, in {options.rounds} interleaved round(s)",
                flush=True,
            )
            code = asyncio.run(drive(options, servers, database))
        finally:
            for server in servers.values():
                server.stop()
    print(f"\nbench took {time.monotonic() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
