"""Fixtures: the real app on a loopback port, a loopback Bot Connector, real databases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from azure.core.credentials_async import AsyncTokenCredential

from app import RUNTIME, Runtime, create_app
from bot.core.clock import Clock
from bot.core.settings import Settings
from bot.referrals.model import FormQuestion
from tests.support.client import TeamsUser
from tests.support.clock import RealTimeClock
from tests.support.connector import FakeConnector
from tests.support.databases import TEST_KEY, MigratedTemplates
from tests.support.graph import FakeGraph
from tests.support.identity_endpoint import LoopbackIdentityEndpoint


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    made = MigratedTemplates(tmp_path_factory.mktemp("templates"))
    yield made
    made.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, templates: MigratedTemplates
) -> AsyncIterator[str]:
    context = templates.sqlite(tmp_path) if request.param == "sqlite" else templates.postgres()
    async with context as url:
        yield url


@pytest.fixture
async def sqlite_url(tmp_path: Path, templates: MigratedTemplates) -> AsyncIterator[str]:
    async with templates.sqlite(tmp_path) as url:
        yield url


@pytest.fixture
async def postgres_url(templates: MigratedTemplates) -> AsyncIterator[str]:
    """PostgreSQL only: for what SQLite cannot do (two instances, LISTEN/NOTIFY)."""
    async with templates.postgres() as url:
        yield url


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": database_url, "encryption_keys": [TEST_KEY]}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    """A loopback server that answers like Microsoft Graph (tests.support.graph)."""
    fake = FakeGraph()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    await fake.start()
    yield fake
    await fake.close()
    assert fake.invalid_cards == [], "the bot sent cards that break Adaptive Cards 1.5"


class RunningBot:
    """The real app served on a loopback port; can be stopped and started again.

    Without a `clock`, it runs on the real time, but its sleeps (pacing, Retry-After) take
    no time: see tests.support.clock.
    """

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        graph_credential: AsyncTokenCredential | None = None,
        form_questions: tuple[FormQuestion, ...] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or RealTimeClock()
        self.graph_credential = graph_credential
        self.form_questions = form_questions  # the referral form's further questions, if any
        self.server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/"))

    @property
    def runtime(self) -> Runtime:
        assert self.server is not None
        return self.server.app[RUNTIME]

    async def start(self) -> None:
        app = create_app(
            self.settings,
            clock=self.clock,
            graph_credential=self.graph_credential,
            form_questions=self.form_questions,
        )
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def settle(self) -> None:
        """Runs the scheduler until the work due now is done (messages sent, and so on)."""
        for _ in range(3):
            for scheduler in self.runtime.schedulers:
                await scheduler.tick()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def running_bot(database_url: str) -> AsyncIterator[RunningBot]:
    bot = RunningBot(make_settings(database_url))
    await bot.start()
    yield bot
    await bot.stop()


@pytest.fixture
async def scene(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> AsyncIterator[Any]:
    """A triage desk registered in a channel, an admin, a practitioner (tests.support.triage)."""
    from tests.support.triage import triage_scene  # it imports this module

    async with triage_scene(database_url, connector, http) as made:
        await made.register_desk()
        yield made


@pytest.fixture
async def meeting(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> AsyncIterator[Any]:
    """A meeting chat with the bot in it, and its people (tests.support.meeting)."""
    from tests.support.meeting import meeting_scene  # it imports this module

    async with meeting_scene(database_url, connector, http) as made:
        yield made


@pytest.fixture
def user(
    running_bot: RunningBot, connector: FakeConnector, http: aiohttp.ClientSession
) -> TeamsUser:
    return TeamsUser(running_bot.url, connector, http)


@pytest.fixture
def identity_id() -> str:
    # A fresh client id per test: the bot keeps managed identity tokens in one process-wide
    # cache (ManagedIdentityCredentials._cache), keyed by it.
    return str(uuid.uuid4())


@pytest.fixture
def identity(
    identity_id: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LoopbackIdentityEndpoint]:
    """A loopback stand-in for App Service's managed identity endpoint, installed in the
    environment (IDENTITY_ENDPOINT, IDENTITY_HEADER) for this test."""
    endpoint = LoopbackIdentityEndpoint({identity_id})
    endpoint.start()
    endpoint.install(monkeypatch)
    yield endpoint
    endpoint.stop()
