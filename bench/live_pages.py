"""How many pages one instance keeps up to date within a second: the session on a screen.

    .venv/bin/python bench/live_pages.py                          # 100, 500, 1000, 2000 pages
    .venv/bin/python bench/live_pages.py --pages 50 --rounds 3    # quick
    .venv/bin/python bench/live_pages.py --postgres               # LISTEN/NOTIFY on PostgreSQL

Two processes on 127.0.0.1. The app is the real one (`create_app`) on a fresh SQLite file
(--postgres: a fresh PostgreSQL database, dropped afterwards), migrated on start, with two
bench-only routes: one sets up and begins a Space to Think session through the real
`SessionStore` and answers its room display's link; the other presses Next through
`SessionStore.control`, as a card press does. This process opens N pages' event streams
(`GET /live/<link>/events`, aiohttp, as EventSource would), waits for each one's first state,
then for each round presses Next and times, for every page, from just before the press until
its stream delivered the new stage. Printed per N: p50/p99/max delivery and how many of the
N x rounds deliveries took under one second. Exits 1 if a page misses an update.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
FOUR_HOURS = timedelta(hours=4)


def serve(pipe: Connection, database_url: str) -> None:
    """The app, in its own process: answers ("ready", port), then serves until told to stop."""
    asyncio.run(_serve(pipe, database_url))


async def _serve(pipe: Connection, database_url: str) -> None:
    from aiohttp import web
    from cryptography.fernet import Fernet

    from app import RUNTIME, create_app
    from bot.core.audit import Actor
    from bot.core.protocols import BUILT_IN, load_protocols
    from bot.core.settings import Settings
    from bot.sessions.links import Scope, issue
    from bot.sessions.timing import Control

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        encryption_keys=[Fernet.generate_key().decode()],
        migrate_on_start=True,
        log_level="WARNING",
    )

    # A loopback Bot Connector that takes every post and card update, so the chat's cards
    # are drawn and redrawn as in a meeting (that work shares the instance with the pages).
    async def connector_answer(request: web.Request) -> web.Response:
        return web.json_response({"id": uuid.uuid4().hex}, status=201)

    connector = web.Application()
    connector.router.add_route("*", "/{tail:.*}", connector_answer)
    connector_runner = web.AppRunner(connector, access_log=None)
    await connector_runner.setup()
    connector_site = web.TCPSite(connector_runner, "127.0.0.1", 0)
    await connector_site.start()
    connector_port = connector_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    app = create_app(settings)
    protocol = load_protocols([BUILT_IN])["space_to_think"]
    facilitator = Actor("bench-facilitator", "Bench Facilitator")

    async def session(request: web.Request) -> web.Response:
        runtime = request.app[RUNTIME]
        store = runtime.pages.store
        chat = f"19:{uuid.uuid4().hex}@thread.v2"
        reference = {
            "conversation": {"id": chat},
            "serviceUrl": f"http://127.0.0.1:{connector_port}/",
            "channelId": "msteams",
        }
        view, _ = await store.create(
            tenant_id="bench",
            conversation_reference=reference,
            meeting_id=None,
            protocol=protocol,
            actor=facilitator,
            referral=None,
            independent=False,
        )
        begun = await store.control(view.id, view.version, facilitator, Control.BEGIN)
        assert begun is not None and begun.applied
        link = issue(runtime.pages.cipher, view.id, Scope.ROOM, store.clock.now(), FOUR_HOURS)
        return web.json_response({"session": view.id, "link": link})

    async def press_next(request: web.Request) -> web.Response:
        store = request.app[RUNTIME].pages.store
        session_id = int(request.query["session"])
        view = await store.view(session_id)
        assert view is not None
        change = await store.control(session_id, view.version, facilitator, Control.NEXT)
        assert change is not None and change.applied
        return web.json_response({"step": change.view.step})

    app.router.add_post("/bench/session", session)
    app.router.add_post("/bench/next", press_next)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    pipe.send(("ready", port))
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
    await runner.cleanup()
    await connector_runner.cleanup()


async def read_states(
    response: aiohttp.ClientResponse, queue: asyncio.Queue[tuple[int, float]]
) -> None:
    """Every state the stream delivers: its step, and when it arrived."""
    data = ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("data: "):
            data += line[6:]
        elif line == "" and data:
            state = json.loads(data)
            data = ""
            await queue.put((int(state["step"]), time.perf_counter()))


async def measure(base: str, pages: int, rounds: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        async with http.post(f"{base}/bench/session") as answer:
            made = await answer.json()
        url = f"{base}/live/{made['link']}/events"
        queues: list[asyncio.Queue[tuple[int, float]]] = [asyncio.Queue() for _ in range(pages)]
        responses: list[aiohttp.ClientResponse] = []
        readers: list[asyncio.Task[None]] = []
        opened = time.perf_counter()
        for queue in queues:
            response = await http.get(url)
            assert response.status == 200, response.status
            responses.append(response)
            readers.append(asyncio.create_task(read_states(response, queue)))
        for queue in queues:
            step, _ = await asyncio.wait_for(queue.get(), 60)
            assert step == 0
        open_seconds = time.perf_counter() - opened
        delays: list[float] = []
        missed = 0
        for round_ in range(1, rounds + 1):
            await asyncio.sleep(0.5)
            pressed = time.perf_counter()
            async with http.post(f"{base}/bench/next", params={"session": made["session"]}) as r:
                assert (await r.json())["step"] == round_
            for queue in queues:
                try:
                    step, arrived = await asyncio.wait_for(queue.get(), 10)
                except TimeoutError:
                    missed += 1
                    continue
                if step != round_:
                    missed += 1
                    continue
                delays.append(arrived - pressed)
        for reader in readers:
            reader.cancel()
        for response in responses:
            response.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*readers, return_exceptions=True)
    delays.sort()
    return {
        "pages": pages,
        "open_s": open_seconds,
        "p50_ms": 1000 * statistics.median(delays) if delays else float("nan"),
        "p99_ms": 1000 * delays[int(0.99 * (len(delays) - 1))] if delays else float("nan"),
        "max_ms": 1000 * delays[-1] if delays else float("nan"),
        "under_1s": sum(d < 1.0 for d in delays),
        "expected": pages * rounds,
        "missed": missed,
    }


async def fresh_postgres() -> tuple[str, str]:
    import asyncpg

    name = f"bench_live_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(POSTGRES)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    return name, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop_postgres(name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES)
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[100, 500, 1000, 2000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    failed = False
    print(f"{'pages':>6} {'open s':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'< 1 s':>12}")
    for pages in args.pages:
        with tempfile.TemporaryDirectory() as directory:
            database = None
            if args.postgres:
                database, url = asyncio.run(fresh_postgres())
            else:
                url = f"sqlite+aiosqlite:///{directory}/bench.db"
            context = multiprocessing.get_context("spawn")
            ours, theirs = context.Pipe()
            process = context.Process(target=serve, args=(theirs, url), daemon=True)
            process.start()
            try:
                _, port = ours.recv()
                result = asyncio.run(measure(f"http://127.0.0.1:{port}", pages, args.rounds))
            finally:
                ours.send(("stop",))
                process.join(30)
                if database is not None:
                    asyncio.run(drop_postgres(database))
        failed = failed or result["missed"] > 0
        print(
            f"{result['pages']:>6} {result['open_s']:>7.1f} {result['p50_ms']:>8.1f} "
            f"{result['p99_ms']:>8.1f} {result['max_ms']:>8.1f} "
            f"{result['under_1s']:>5}/{result['expected']:<6}"
            + (f" MISSED {result['missed']}" if result["missed"] else "")
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
