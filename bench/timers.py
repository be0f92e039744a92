"""How late a session's timed prompts fire with many sessions running on one instance.

    .venv/bin/python bench/timers.py                            # 1,000 begun over 30 s: 2.5 min
    .venv/bin/python bench/timers.py --sessions 50 --spread 5   # quick: 80 s
    .venv/bin/python bench/timers.py --burst                    # all begun at once: worst case
    .venv/bin/python bench/timers.py --postgres                 # a fresh PostgreSQL database
    .venv/bin/python bench/timers.py --history 1000000          # an outbox a day old
    .venv/bin/python bench/timers.py --profile                  # and cProfile the bot meanwhile

Two processes on 127.0.0.1. The bot is the real app (`create_app`) on a fresh SQLite file in
a temporary directory (with --postgres, a fresh PostgreSQL database, dropped afterwards),
migrated first, with PROTOCOLS_DIR holding one bench protocol: a single 1-minute stage that
warns 15 s before its end (`warning_minutes = 0.25`), and SESSION_CARD_REFRESH_SECONDS=15, so
each live stage card is also redrawn every 15 s. The other is a loopback Bot Connector that
notes the conversation, text and arrival time (time.time()) of every post and answers card
updates (PUT) with 200. This process is the load generator. In N group chats of their own,
each with a meeting id, a facilitator sets up a session (an `adaptiveCard/action` invoke,
`session_set_up` with model=bench_timer). The bench waits (at most --open-wait seconds; a
longer wait is reported as a WARNING) for the outbox to deliver their opening cards, so the
timer is measured on its own, then each facilitator presses Begin (`session_begin` with the
session id and version read from the database), the N spread evenly over --spread seconds
(--burst: all at once), at most --concurrency requests in flight. So every session owes its
chat two prompts: the warning ("\u23f3 ...", due at ends_at - 15 s, ends_at read from the
database once all have begun) and "Time is up for ..." (due at ends_at). The bench waits
until the last is due plus --grace seconds, then reads the connector's record.

A prompt's lateness is its arrival at the connector minus its due time, so the scheduler's
wake-up, the timer's transaction, the outbox and the HTTP post all count. Printed: lateness
p50/p99/max over every prompt received, and per kind; expected, received, missed, doubled and
early prompts; card posts and updates; where the lateness goes (from due until the timer
wrote the prompt's outbox row, its created_at, and from there until the connector had it);
how busy each scheduled job was (the bot times its own jobs) and how often the outbox stopped
at its batch size; the bot's resident memory (VmRSS) at start, with the sessions set up, with
all running (before the first warning) and at the end. The growth from start to running,
over N, is the memory per running session: an upper bound, as it includes SQLite's page cache
(or asyncpg's extra connections), caches the first requests warm, and memory freed after the
set-up burst that the allocator keeps. --history starts the outbox with that many delivered
rows, as a bot that has been running for a while has (the outbox keeps every sent row).

Exits 1 if any prompt is missed (not at the connector by the last due time + --grace),
doubled or early, a prompt is a failure message, a session's card posts (agreement, roles,
stage) never arrive, or any set-up or Begin request fails (not 2xx, or the session is not
running afterwards); `--require-target` also exits 2 when p99 lateness is 500 ms or more.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.servers import FAILURE_TEXTS, HOST, ServerProcess, exit_code  # noqa: E402
from tests.support.databases import postgres_database, sqlite_database  # noqa: E402

TENANT = "00000000-0000-0000-0000-0000000000aa"
MODEL = "bench_timer"
STAGE_SECONDS = 60.0
WARNING_SECONDS = 15.0
TARGET_MS = 500.0
WARNING, TIME_UP = "warning", "time up"
POSTGRES_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

# One stage of 1 minute (1 to 2), a warning 15 s before its end; shaped like
# protocols/space_to_think.toml. Its id must match the file name.
PROTOCOL = f"""\
# Written by bench/timers.py for one run: one timed stage, to measure the stage timer.
id = "{MODEL}"
name = "Bench timer"
source = "bench/timers.py"
summary = "One 1-minute stage that warns 15 seconds before its end."
facilitator_role = "facilitator"
anonymous_contributions = true
independent_means_no_notes = false
extend_minutes = 1
warning_minutes = {WARNING_SECONDS / 60:g}
group_agreement = ["This session is a benchmark of the stage timer."]
is = ["A benchmark of the stage timer."]
is_not = ["A reflective session."]

[[roles]]
key = "facilitator"
name = "Facilitator"
description = "Sets the session up and presses Begin."
holders = "one"

[[stages]]
key = "only"
title = "The only stage"
speaks = ["facilitator"]
guidance = "Nothing to do: the bench waits for the warning and the time-up prompt."
minutes = {{ min = {STAGE_SECONDS / 60:g}, default = {STAGE_SECONDS / 60:g}, max = 2 }}
"""


# --- the processes -----------------------------------------------------------------------


class Server(ServerProcess):
    """A bench/servers.py process that can also say how much memory it holds."""

    def command(self, *message: Any, timeout: float = 120) -> None:
        super().command(*message, timeout=timeout)

    def memory(self) -> tuple[int, int]:
        """The process's resident memory now and at its peak (VmRSS, VmHWM), in KiB."""
        found = {"VmRSS:": 0, "VmHWM:": 0}
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as status:
            for line in status:
                parts = line.split()
                if parts and parts[0] in found:
                    found[parts[0]] = int(parts[1])  # kB in /proc means KiB
        return found["VmRSS:"], found["VmHWM:"]


# --- the databases -----------------------------------------------------------------------


def fresh_database(directory: Path, postgres: bool, dsn: str) -> Any:
    """A migrated database for one run: a SQLite file, or a PostgreSQL database dropped after
    (the tests' own helpers)."""
    if postgres:
        return postgres_database(dsn, "bench_timers")
    return sqlite_database(directory)


def _epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    # SQLite hands back naive datetimes; the bot stores UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class Database:
    """The load generator's reads of the bot's database."""

    def __init__(self, url: str, directory: Path, key: str) -> None:
        from bot.core.crypto import Cipher
        from bot.core.database import create_engine

        self.engine = create_engine(url, cipher=Cipher([key]))  # outbox targets are sealed
        self.directory = directory  # the run's temporary directory

    async def sessions(self) -> dict[str, dict[str, Any]]:
        """The bench's sessions by chat: id, version, status and ends_at (epoch seconds)."""
        from sqlalchemy import select

        from bot.core.models import MeetingSession as Row

        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(Row.conversation_id, Row.id, Row.version, Row.status, Row.ends_at)
            )
            return {
                chat: {"id": id_, "version": version, "status": status, "ends_at": _epoch(ends)}
                for chat, id_, version, status, ends in rows
            }

    async def outbox(self) -> list[tuple[int | None, str, float, float | None, bytes | None]]:
        """Every session's outbox row: session, kind, created_at, sent_at (epoch), activity."""
        from sqlalchemy import select

        from bot.core.models import OutboxMessage as Row

        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(
                    Row.session_id, Row.kind, Row.created_at, Row.sent_at, Row.activity_encrypted
                ).where(Row.session_id.is_not(None))  # not --history's rows
            )
            return [
                (session, kind, _epoch(created) or 0.0, _epoch(sent), activity)
                for session, kind, created, sent, activity in rows
            ]

    async def add_history(self, rows: int) -> None:
        """Delivered outbox rows from a day ago, as a bot that has been running leaves."""
        from datetime import timedelta

        from sqlalchemy import insert

        from bot.core.models import OutboxMessage, utcnow

        then = utcnow() - timedelta(days=1)
        row = {
            "created_at": then,
            "due_at": then,
            "kind": "session_stage_card",
            "target": {},
            "attempts": 1,
            "sent_at": then,
        }
        for start in range(0, rows, 50_000):
            async with self.engine.begin() as connection:
                await connection.execute(insert(OutboxMessage), [row] * min(50_000, rows - start))

    async def close(self) -> None:
        await self.engine.dispose()


# --- the load generator ------------------------------------------------------------------


@dataclass
class Chat:
    """One meeting group chat with its own facilitator and session."""

    index: int
    service_url: str
    session_id: int | None = None
    version: int | None = None
    ends_at: float | None = None
    begun: bool = False

    @property
    def conversation_id(self) -> str:
        return f"19:bench-{self.index}@thread.v2"

    def invoke(self, verb: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "invoke",
            "name": "adaptiveCard/action",
            "id": f"bench-{verb}-{self.index}-{uuid.uuid4().hex[:12]}",
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "from": {
                "id": f"29:bench-facilitator-{self.index}",
                "name": f"Facilitator {self.index}",
                "aadObjectId": f"00000000-0000-4000-8000-{self.index:012d}",
            },
            "recipient": {"id": "28:bot", "name": "Reflective practice"},
            "conversation": {
                "id": self.conversation_id,
                "conversationType": "groupChat",
                "isGroup": True,
                "tenantId": TENANT,
            },
            "channelData": {
                "tenant": {"id": TENANT},
                "meeting": {"id": f"bench-meeting-{self.index}"},
            },
            "locale": "en-GB",
            "value": {
                "action": {"type": "Action.Execute", "verb": verb, "data": data},
                "trigger": "manual",
            },
        }


@dataclass
class Requests:
    """The load generator's requests of one kind: latencies and what went wrong."""

    name: str
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    first: float = math.inf
    last: float = 0.0

    def summary(self) -> str:
        ordered = sorted(self.latencies)
        return (
            f"{len(ordered)} in {max(0.0, self.last - self.first):.1f} s, answered in p50 "
            f"{percentile(ordered, 50) * 1000:.0f} ms, p99 {percentile(ordered, 99) * 1000:.0f} "
            f"ms, max {(ordered[-1] if ordered else math.nan) * 1000:.0f} ms; "
            f"{len(self.failures)} failed"
        )


def percentile(ordered: list[float], p: float) -> float:
    """Nearest rank, of a sorted list."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def press(
    http: aiohttp.ClientSession,
    url: str,
    chat: Chat,
    verb: str,
    data: dict[str, Any],
    limit: asyncio.Semaphore,
    requests: Requests,
) -> dict[str, Any] | None:
    """Presses a session button in the chat; the invoke response's body if it was 2xx."""
    body = json.dumps(chat.invoke(verb, data)).encode()
    async with limit:
        started = time.perf_counter()
        requests.first = min(requests.first, time.time())
        try:
            async with http.post(
                url, data=body, headers={"Content-Type": "application/json"}
            ) as response:
                text = await response.text()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as error:
            status, text = 0, f"{type(error).__name__}: {error}"
        requests.latencies.append(time.perf_counter() - started)
        requests.last = max(requests.last, time.time())
    if not 200 <= status < 300:
        requests.failures.append(f"{chat.conversation_id}: {status} {text[:120]}")
        return None
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        requests.failures.append(f"{chat.conversation_id}: {status} but no JSON: {text[:120]}")
        return None
    return answer


@dataclass
class Options:
    sessions: int
    spread: float
    concurrency: int
    grace: float
    open_wait: float
    refresh: float
    scheduler_interval: float
    history: int
    postgres: bool
    dsn: str
    profile: bool
    profile_out: str | None
    require_target: bool


@dataclass
class Memory:
    """(VmRSS, VmHWM) in KiB at each moment, and when (time.time())."""

    samples: dict[str, tuple[int, int, float]] = field(default_factory=dict)

    def take(self, bot: Server, moment: str) -> None:
        rss, peak = bot.memory()
        self.samples[moment] = (rss, peak, time.time())


async def wait_for_posts(
    http: aiohttp.ClientSession, connector: Server, posts: int, limit: float
) -> float | None:
    """Waits until the connector has `posts` posts; answers the seconds it took, or None."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        async with http.get(f"{connector.url}bench/summary") as response:
            summary = await response.json()
        if summary["posts"] >= posts:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return None


async def drive(
    options: Options, bot: Server, connector: Server, database: Database, encryption_key: str
) -> int:
    url = f"{bot.url}api/messages"
    chats = [Chat(index, connector.url) for index in range(options.sessions)]
    by_conversation = {chat.conversation_id: chat for chat in chats}
    limit = asyncio.Semaphore(options.concurrency)
    memory = Memory()
    problems: list[str] = []
    warnings: list[str] = []
    set_ups, begins = Requests("set-up"), Requests("begin")
    timeout = aiohttp.ClientTimeout(total=60)
    profile_path = str(Path(database.directory) / "bot.prof")
    async with aiohttp.ClientSession(
        timeout=timeout, connector=aiohttp.TCPConnector(limit=options.concurrency + 4)
    ) as http:
        await asyncio.sleep(1.0)  # let the app's start-up (the first scheduler tick) finish
        memory.take(bot, "start")

        # 1. Set up every session, as its facilitator.
        async def set_up(chat: Chat) -> None:
            answer = await press(
                http, url, chat, "session_set_up", {"model": MODEL}, limit, set_ups
            )
            if answer is not None and "is set up" not in json.dumps(answer):
                set_ups.failures.append(f"{chat.conversation_id}: {json.dumps(answer)[:160]}")

        print(f"setting up {options.sessions} sessions ...", flush=True)
        await asyncio.gather(*(set_up(chat) for chat in chats))
        print(f"  set-up requests: {set_ups.summary()}", flush=True)
        for conversation_id, row in (await database.sessions()).items():
            if conversation_id in by_conversation:
                chat = by_conversation[conversation_id]
                chat.session_id, chat.version = row["id"], row["version"]
        ready = [chat for chat in chats if chat.session_id is not None]
        if len(ready) < len(chats):
            problems.append(f"{len(chats) - len(ready)} sessions were not set up")

        # Their opening cards (the group agreement, the roles card) should go out first, so
        # the timer is measured on its own rather than behind the set-up's backlog; but not
        # for ever: the wait is bounded, and a delay is reported.
        opening = 2 * len(ready)
        waited = await wait_for_posts(http, connector, opening, options.open_wait)
        if waited is not None:
            print(f"  the outbox delivered their {opening} opening cards in {waited:.1f} s")
        else:
            async with http.get(f"{connector.url}bench/summary") as response:
                posted = (await response.json())["posts"]
            warnings.append(
                f"only {posted} of the {opening} opening cards (group agreement, roles card) "
                f"were at the connector {options.open_wait:g} s after the last set-up"
            )
            print(f"  WARNING: {warnings[-1]}; beginning anyway", flush=True)
        memory.take(bot, "set up")

        # 2. Begin them, evenly over the spread, at most `concurrency` requests at a time.
        if options.profile:
            bot.command("profile_start", "cprofile")
        print(
            f"beginning {len(ready)} sessions over {options.spread:g} s "
            f"(at most {options.concurrency} requests in flight) ...",
            flush=True,
        )
        step = options.spread / len(ready) if ready else 0.0
        origin = time.monotonic() + 0.2

        async def begin(number: int, chat: Chat) -> None:
            await asyncio.sleep(max(0.0, origin + number * step - time.monotonic()))
            data = {"session": chat.session_id, "step": 0, "version": chat.version}
            await press(http, url, chat, "session_begin", data, limit, begins)

        await asyncio.gather(*(begin(number, chat) for number, chat in enumerate(ready)))
        memory.take(bot, "running")
        print(f"  begin requests: {begins.summary()}", flush=True)

        # 3. When each prompt is due, from the database.
        for conversation_id, row in (await database.sessions()).items():
            if conversation_id in by_conversation:
                chat = by_conversation[conversation_id]
                chat.begun = row["status"] == "running" and row["ends_at"] is not None
                chat.ends_at = row["ends_at"]
        running = [chat for chat in ready if chat.begun]
        if len(running) < len(ready):
            problems.append(f"{len(ready) - len(running)} sessions did not begin")
        due: dict[tuple[str, str], float] = {}
        for chat in running:
            assert chat.ends_at is not None
            due[(chat.conversation_id, WARNING)] = chat.ends_at - WARNING_SECONDS
            due[(chat.conversation_id, TIME_UP)] = chat.ends_at
        if not due:
            print("no session is running: nothing to measure", file=sys.stderr)
            return 1
        first_due, last_due = min(due.values()), max(due.values())
        first_begin = first_due + WARNING_SECONDS - STAGE_SECONDS
        sampled = memory.samples["running"][2]
        margin = first_due - sampled
        print(
            f"  memory sampled {margin:.1f} s before the first warning was due"
            + ("" if margin > 0 else ": AFTER it, so prompts were already firing"),
            flush=True,
        )

        # 4. Wait for the last prompt to be due, plus the grace period.
        deadline = last_due + options.grace
        while (left := deadline - time.time()) > 0:
            await asyncio.sleep(min(left, 15.0))
            async with http.get(f"{connector.url}bench/summary") as response:
                summary = await response.json()
            now = time.time()
            owed = sum(moment <= now for moment in due.values())
            print(
                f"  {now - first_begin:5.0f} s after the first "
                f"begin: {summary['texts']} prompts at the connector, {owed} due by now; "
                f"{summary['updates']} card updates",
                flush=True,
            )
        if options.profile:
            bot.command("profile_stop", profile_path)
        memory.take(bot, "end")
        async with http.get(f"{connector.url}bench/records") as response:
            record = await response.json()
        async with http.get(f"{bot.url}bench/jobs") as response:
            jobs = await response.json()
    outbox = await database.outbox()

    # 5. The figures.
    problems += [f"set-up: {failure}" for failure in set_ups.failures[:5]]
    problems += [f"begin: {failure}" for failure in begins.failures[:5]]
    if len(set_ups.failures) > 5 or len(begins.failures) > 5:
        problems.append(
            f"{len(set_ups.failures)} set-up and {len(begins.failures)} begin requests failed"
        )
    arrivals: dict[tuple[str, str], list[float]] = {}
    other_texts: list[str] = []
    for conversation_id, text, arrived in record["records"]:
        if text is None:
            continue
        kind = WARNING if text.startswith("\u23f3") else TIME_UP if "Time is up for" in text else ""
        if kind and conversation_id in by_conversation:
            arrivals.setdefault((conversation_id, kind), []).append(arrived)
        else:
            other_texts.append(text)
    failures = [text for text in other_texts if text.startswith(FAILURE_TEXTS)]
    if failures:
        problems.append(f"{len(failures)} failure messages, e.g. {failures[0][:120]!r}")

    late: dict[str, list[float]] = {WARNING: [], TIME_UP: []}
    early: list[str] = []
    for key, moment in due.items():
        if key in arrivals:
            lateness = arrivals[key][0] - moment
            late[key[1]].append(lateness)
            if lateness < 0:
                early.append(f"{key[0]} {key[1]} {-lateness * 1000:.0f} ms early")
    missed = [key for key in due if key not in arrivals]
    doubled = [key for key, times in arrivals.items() if len(times) > 1]
    unexpected = [key for key in arrivals if key not in due]
    everything = sorted(late[WARNING] + late[TIME_UP])
    p99 = percentile(everything, 99) * 1000

    print()
    print(
        f"prompts: {len(due)} expected, {len(due) - len(missed)} received, "
        f"{len(missed)} missed, {len(doubled)} doubled, {len(early)} early, "
        f"{len(unexpected)} for sessions that did not begin, {len(other_texts)} other texts"
    )
    print(f"{'lateness ms':<14} {'prompts':>7} {'p50':>8} {'p99':>8} {'max':>8}")
    for name, values in (("all", everything), (WARNING, late[WARNING]), (TIME_UP, late[TIME_UP])):
        ordered = sorted(values)
        print(
            f"{name:<14} {len(ordered):>7} {percentile(ordered, 50) * 1000:>8.0f} "
            f"{percentile(ordered, 99) * 1000:>8.0f} "
            f"{(ordered[-1] if ordered else math.nan) * 1000:>8.0f}"
        )
    posts_by_chat = sum(1 for c, _t, _a in record["records"] if c in by_conversation)
    # Each running session's chat must also have had its three cards posted: the group
    # agreement and the roles card at set-up, the live stage card at Begin.
    cards = {chat.conversation_id: 0 for chat in running}
    for conversation_id, text, _arrived in record["records"]:
        if text is None and conversation_id in cards:
            cards[conversation_id] += 1
    cards_missing = sum(max(0, 3 - count) for count in cards.values())
    if cards_missing:
        problems.append(f"{cards_missing} of {3 * len(cards)} card posts never reached the chats")
    print(
        f"connector: {record['posts']} posts ({posts_by_chat} to the bench's chats, "
        f"{record['texts']} with text), {record['updates']} card updates (PUT) to "
        f"{record['updated_conversations']} chats; {3 * len(cards) - cards_missing} of "
        f"{3 * len(cards)} card posts (agreement, roles, stage) reached the chats"
    )
    print_breakdown(due, arrivals, outbox, chats, encryption_key)
    print_jobs(jobs, begins.first, time.time())
    print_memory(memory, len(running) or 1, options.postgres)
    if options.profile:
        print_profile(profile_path, options.profile_out)

    if missed:
        sample = ", ".join(f"{c} {k}" for c, k in missed[:3])
        problems.append(f"{len(missed)} prompts missed, e.g. {sample}")
    if doubled:
        sample = ", ".join(f"{c} {k}" for c, k in doubled[:3])
        problems.append(f"{len(doubled)} prompts doubled, e.g. {sample}")
    if early:
        problems.append(f"{len(early)} prompts early, e.g. {early[:3]}")
    met = bool(everything) and p99 < TARGET_MS
    print()
    print(
        f"target: p99 lateness under {TARGET_MS:.0f} ms, none missed, none doubled: "
        + ("MET" if met and not missed and not doubled else "NOT MET")
        + f" (p99 {p99:.0f} ms)"
    )
    for warning in warnings:
        print(f"WARNING: {warning}")
    return exit_code(problems, met, options.require_target)


# --- the report --------------------------------------------------------------------------


def print_breakdown(
    due: dict[tuple[str, str], float],
    arrivals: dict[tuple[str, str], list[float]],
    outbox: list[tuple[int | None, str, float, float | None, bytes | None]],
    chats: list[Chat],
    key: str,
) -> None:
    """Splits each prompt's lateness at the moment the timer wrote its outbox row."""
    from bot.core.crypto import Cipher
    from bot.core.outbox import Kind

    cipher = Cipher([key])
    conversation_of = {chat.session_id: chat.conversation_id for chat in chats}
    queued: dict[tuple[str, str], float] = {}
    by_kind: dict[str, list[int]] = {}
    for session_id, kind, created, sent, activity in outbox:
        counts = by_kind.setdefault(kind, [0, 0])
        counts[0] += 1
        counts[1] += sent is not None
        if kind != Kind.CONVERSATION or activity is None or session_id not in conversation_of:
            continue
        text = json.loads(cipher.decrypt(activity)).get("text") or ""
        prompt = WARNING if text.startswith("\u23f3") else TIME_UP if "Time is up" in text else ""
        if prompt:
            queued.setdefault((conversation_of[session_id], prompt), created)
    timer = sorted(queued[k] - due[k] for k in due if k in queued)
    delivery = sorted(arrivals[k][0] - queued[k] for k in due if k in queued and k in arrivals)
    print()
    print("where the lateness goes (each prompt's outbox row: created_at is the timer's tick):")
    for name, values in (
        ("due -> row written (scheduler wake-up, timer)", timer),
        ("row written -> at the connector (outbox)", delivery),
    ):
        print(
            f"  {name:<48} p50 {percentile(values, 50) * 1000:6.0f} ms   p99 "
            f"{percentile(values, 99) * 1000:6.0f} ms   max "
            f"{(values[-1] if values else math.nan) * 1000:6.0f} ms"
        )
    print(
        "  outbox rows (kind: written / delivered): "
        + ", ".join(f"{kind}: {made} / {sent}" for kind, (made, sent) in sorted(by_kind.items()))
    )


def print_jobs(jobs: dict[str, list[list[float]]], since: float, until: float) -> None:
    """How busy each scheduled job kept the bot's event loop while sessions were running."""
    from bot.core.outbox import BATCH

    window = max(until - since, 1e-9)
    print()
    print(f"scheduled jobs over the {window:.0f} s since the first begin (timed in the bot):")
    print(f"  {'job':<16} {'runs':>6} {'busy s':>7} {'share':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7}")  # fmt: skip
    for name, calls in jobs.items():
        inside = sorted(duration for began, duration, _count in calls if began >= since)
        print(
            f"  {name:<16} {len(inside):>6} {sum(inside):>7.2f} {sum(inside) / window:>6.1%} "
            f"{percentile(inside, 50) * 1000:>7.1f} {percentile(inside, 99) * 1000:>7.1f} "
            f"{(inside[-1] if inside else math.nan) * 1000:>7.1f}"
        )
    outbox = [call for call in jobs.get("outbox", []) if call[0] >= since]
    sent = sum(count for _began, _duration, count in outbox if count > 0)
    busy = sum(duration for _began, duration, count in outbox if count > 0)
    full = [index for index, call in enumerate(outbox) if call[2] >= BATCH]
    # After a run that hit the batch limit more was probably waiting: how long until the next.
    stalls = sorted(
        outbox[index + 1][0] - (outbox[index][0] + outbox[index][1])
        for index in full
        if index + 1 < len(outbox)
    )
    print(
        f"  outbox: {sent} messages in {busy:.1f} s of runs that sent any "
        f"({busy / sent * 1000 if sent else math.nan:.1f} ms a message); {len(full)} runs "
        f"stopped at its batch of {BATCH}"
        + (
            f"; the next run began p50 {percentile(stalls, 50) * 1000:.0f} ms / max "
            f"{stalls[-1] * 1000:.0f} ms after"
            if stalls
            else ""
        )
    )


def print_memory(memory: Memory, running: int, postgres: bool) -> None:
    samples = memory.samples
    print()
    print("bot resident memory (VmRSS; peak VmHWM), MiB:")
    for moment, (rss, peak, _when) in samples.items():
        print(f"  {moment:<8} {rss / 1024:8.1f}   (peak {peak / 1024:.1f})")
    grown = samples["running"][0] - samples["start"][0]
    set_up = samples["set up"][0] - samples["start"][0]
    print(
        f"  per running session: {grown / running:.1f} KiB ({grown / 1024:.1f} MiB over "
        f"{running}; {set_up / running:.1f} KiB of it by the set-up). An upper bound: it "
        + (
            "includes the pool's extra asyncpg connections and their statement caches, "
            if postgres
            else "includes SQLite's page cache, "
        )
        + "caches warmed by the first requests, and memory freed after a burst that "
        "Python's allocator keeps."
    )


SCAFFOLDING = ("multiprocessing/", "asyncio/", "bench/servers.py", "<string>", "<thread>")


def print_profile(path: str, keep: str | None) -> None:
    if keep:
        shutil.copyfile(path, keep)
    stats = pstats.Stats(path)
    rows = stats.stats  # type: ignore[attr-defined]
    waiting = "<method 'poll' of 'select.epoll' objects>"
    idle = sum(row[2] for where, row in rows.items() if where[2] == waiting)
    print()
    print(
        f"the bot under cProfile from the first begin to the end, {stats.total_tt:.1f} s "  # type: ignore[attr-defined]
        f"(own times are exact; cumulative ones overcount across awaits; SQLite's work in "
        f"aiosqlite's thread is not seen; the profiler slows the bot too). The event loop "
        f"waited in epoll, idle, for {idle:.1f} s of it."
    )
    for key, title in ((2, "own time"), (3, "cumulative time")):
        listed = [
            (where, row)
            for where, row in rows.items()
            if not any(part in where[0] for part in SCAFFOLDING) or key == 2
        ]
        listed.sort(key=lambda item: item[1][key], reverse=True)
        print(f"\ntop 20 by {title}:")
        print(f"{'ncalls':>9} {'tottime':>8} {'cumtime':>8}  function")
        for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in listed[:20]:
            where = filename
            for marker in ("site-packages/", str(ROOT) + "/", "/lib/python3."):
                if marker in filename:
                    where = filename.split(marker, 1)[1]
                    if marker == "/lib/python3.":  # "11/asyncio/..." -> "asyncio/..."
                        where = where.split("/", 1)[-1]
                    break
            print(f"{ncalls:>9} {tottime:>8.3f} {cumtime:>8.3f}  {name}  ({where}:{line})")
    with contextlib.suppress(OSError):
        os.remove(path)


# --- the run -----------------------------------------------------------------------------


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--sessions", type=int, default=1000, help="sessions, one a chat")
    parser.add_argument(
        "--spread", type=float, default=30.0, help="seconds over which the sessions begin"
    )
    parser.add_argument("--burst", action="store_true", help="begin them all at once (spread 0)")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="most requests in flight to the bot"
    )
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds to wait after the last prompt is due"
    )
    parser.add_argument(
        "--open-wait",
        type=float,
        default=30.0,
        help="most seconds to wait for the opening cards to be delivered before the begins",
    )
    parser.add_argument(
        "--refresh", type=float, default=15.0, help="SESSION_CARD_REFRESH_SECONDS (5 or more)"
    )
    parser.add_argument(
        "--scheduler-interval",
        type=float,
        default=15.0,
        help="SCHEDULER_INTERVAL_SECONDS (the app's default)",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="start with this many delivered outbox rows, as a bot that has been running has "
        "(a day of 1,000 sessions with the default 60 s card refresh leaves about 1.4 million)",
    )
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument(
        "--postgres-dsn",
        default=POSTGRES_DSN,
        help="where to create it (TEST_POSTGRES_DSN overrides the default)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the bot from the first begin to the end"
    )
    parser.add_argument("--profile-out", help="keep the raw profile (a pstats file) here")
    parser.add_argument(
        "--require-target",
        action="store_true",
        help=f"exit 2 if p99 lateness is {TARGET_MS:.0f} ms or more",
    )
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.concurrency < 1 or args.spread < 0 or args.grace < 0:
        parser.error("--sessions and --concurrency must be 1 or more, --spread and --grace 0+")
    return Options(
        sessions=args.sessions,
        spread=0.0 if args.burst else args.spread,
        concurrency=args.concurrency,
        grace=args.grace,
        open_wait=args.open_wait,
        refresh=args.refresh,
        scheduler_interval=args.scheduler_interval,
        history=max(0, args.history),
        postgres=args.postgres,
        dsn=args.postgres_dsn,
        profile=args.profile,
        profile_out=args.profile_out,
        require_target=args.require_target,
    )


async def run(options: Options, directory: Path) -> int:
    from cryptography.fernet import Fernet

    protocols = directory / "protocols"
    protocols.mkdir()
    (protocols / f"{MODEL}.toml").write_text(PROTOCOL, encoding="utf-8")
    key = Fernet.generate_key().decode()
    servers: dict[str, Server] = {}
    async with fresh_database(directory, options.postgres, options.dsn) as url:
        database = Database(url, directory, key)
        try:
            if options.history:
                started = time.monotonic()
                await database.add_history(options.history)
                print(
                    f"the outbox starts with {options.history} delivered rows "
                    f"(written in {time.monotonic() - started:.0f} s)",
                    flush=True,
                )
            servers["connector"] = Server("timer_connector", {})
            servers["bot"] = Server(
                "timer_bot",
                {
                    "database_url": url,
                    "encryption_key": key,
                    "tenant": TENANT,
                    "protocols_dir": str(protocols),
                    "refresh_seconds": options.refresh,
                    "scheduler_interval_seconds": options.scheduler_interval,
                },
            )
            for server in servers.values():
                await asyncio.to_thread(server.wait_ready, 60)
            where = "PostgreSQL" if options.postgres else "SQLite"
            load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
            print(
                f"machine: {os.cpu_count()} CPUs (nproc), load average {load}; Python "
                f"{platform.python_version()} ({platform.python_implementation()}), "
                f"{platform.system()} {platform.release()}"
            )
            print(
                f"bot :{servers['bot'].port} (pid {servers['bot'].process.pid}, {where}), "
                f"connector :{servers['connector'].port}, both on {HOST}"
            )
            print(
                f"settings: {options.sessions} sessions, begun over {options.spread:g} s"
                + (" (--burst)" if options.spread == 0 else "")
                + f", at most {options.concurrency} requests in flight; a {STAGE_SECONDS:g} s "
                f"stage warning {WARNING_SECONDS:g} s before its end; "
                f"SESSION_CARD_REFRESH_SECONDS={options.refresh:g}, "
                f"SCHEDULER_INTERVAL_SECONDS={options.scheduler_interval:g}; grace "
                f"{options.grace:g} s; {options.history} delivered outbox rows to start with",
                flush=True,
            )
            return await drive(options, servers["bot"], servers["connector"], database, key)
        finally:
            await database.close()
            for server in reversed(servers.values()):  # the bot first, then its connector
                await asyncio.to_thread(server.stop)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-timers-") as directory:
        code = asyncio.run(run(options, Path(directory)))
    print(f"\nbench took {time.monotonic() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
