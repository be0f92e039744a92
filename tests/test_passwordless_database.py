"""DATABASE_AUTH=entra: the bot signs in to PostgreSQL with Microsoft Entra access tokens from
the host's managed identity, and no database password exists anywhere.

Azure Database for PostgreSQL takes a token as the password of the role named after the
identity. Here a private server (tests/support/private_postgres.py) asks that role for a
password over TLS, and the test sets that password to the token the loopback managed identity
endpoint (tests/support/identity_endpoint.py, answering like App Service's) hands out next:
the real engine, azure-identity's real credential and asyncpg do the rest.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.database import DatabaseTokenUnavailable, engine_from_settings
from bot.core.outage import is_database_outage
from bot.core.settings import Settings
from tests.conftest import make_settings
from tests.support.databases import TEST_KEY
from tests.support.identity_endpoint import Issue, LoopbackIdentityEndpoint
from tests.support.private_postgres import PrivatePostgres
from tests.test_auth import loopback_only  # noqa: F401 - autouse: nothing leaves loopback

ROLE = "rp-bot-identity"  # Azure names a managed identity's role after the identity
DATABASE = "https://ossrdbms-aad.database.windows.net"  # the resource the tokens are for
TIMEOUT_SECONDS = 5.0
ROOT = Path(__file__).resolve().parents[1]


def token() -> str:
    """Shaped like an Entra access token: a JWT of a kilobyte and more."""
    return "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(1200)


@pytest.fixture(scope="module")
def server() -> Iterator[PrivatePostgres]:
    postgres = PrivatePostgres(require_password=True, ssl=True)
    postgres.create()
    postgres.start()
    yield postgres
    postgres.remove()


@pytest.fixture
async def role(server: PrivatePostgres) -> AsyncIterator[str]:
    """A fresh login role for the identity, with a database of its own; its password is set
    by each test to the token it expects."""
    name = f"{ROLE}-{uuid.uuid4().hex[:8]}"
    await admin_execute(server, f'CREATE ROLE "{name}" LOGIN')
    await admin_execute(server, f'CREATE DATABASE "{name}" OWNER "{name}"')
    yield name
    await admin_execute(server, f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin_execute(server, f'DROP ROLE "{name}"')


async def admin_execute(server: PrivatePostgres, statement: str) -> None:
    admin = await asyncpg.connect(server.dsn)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


async def set_password(server: PrivatePostgres, role: str, password: str) -> None:
    await admin_execute(server, f"ALTER ROLE \"{role}\" PASSWORD '{password}'")


def database_url(server: PrivatePostgres, role: str) -> str:
    return f"postgresql+asyncpg://{role}@127.0.0.1:{server.port}/{role}?ssl=require"


def entra_settings(url: str, client_id: str, **overrides: Any) -> Settings:
    return make_settings(
        url,
        database_auth="entra",
        azure_client_id=client_id,
        database_timeout_seconds=TIMEOUT_SECONDS,
        **overrides,
    )


@pytest.fixture
async def engine(
    server: PrivatePostgres, role: str, identity_id: str, identity: LoopbackIdentityEndpoint
) -> AsyncIterator[AsyncEngine]:
    engine = engine_from_settings(entra_settings(database_url(server, role), identity_id))
    yield engine
    await engine.dispose()


async def whoami(engine: AsyncEngine) -> tuple[str, bool]:
    """The role the connection signed in as, and whether it runs over TLS."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT current_user, ssl FROM pg_stat_ssl "
                    "JOIN pg_stat_activity USING (pid) WHERE pid = pg_backend_pid()"
                )
            )
        ).one()
        return str(row[0]), bool(row[1])


async def test_the_token_refreshing_pool_reconnects_with_a_new_token(
    engine: AsyncEngine,
    server: PrivatePostgres,
    role: str,
    identity: LoopbackIdentityEndpoint,
    identity_id: str,
) -> None:
    first, second = token(), token()
    lifetime = 3
    identity.issue(DATABASE, Issue(first, seconds=lifetime), Issue(second, seconds=3600))
    await set_password(server, role, first)
    issued_at = time.time()

    # (a) It signs in with the first token, over TLS, as the identity's role; the token was
    # asked for as the configured identity, for the database's resource.
    assert await whoami(engine) == (role, True)
    asked = identity.requests_for(DATABASE)
    assert [(r.client_id, r.secret_matched) for r in asked] == [(identity_id, True)]

    # A second connection, opened while the first is held, signs in with the cached token.
    async with engine.connect() as held:
        assert await whoami(engine) == (role, True)
        assert len(identity.requests_for(DATABASE)) == 1

        # (b) The password becomes the second token and the first token expires ...
        await set_password(server, role, second)
        await asyncio.sleep(max(0.0, issued_at + lifetime + 1 - time.time()))
        # ... and a connection signed in with the first stays open and usable.
        assert await held.scalar(text("SELECT current_user")) == role

    # The server drops every connection of the role (a failover, say): the pool notices on
    # check-out and reconnects, with a new token from the identity.
    await admin_execute(
        server, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
    )
    assert await whoami(engine) == (role, True)
    assert len(identity.requests_for(DATABASE)) == 2

    # Disposing the engine closes its credential; the engine can still be used, with a new one.
    await engine.dispose()
    assert await whoami(engine) == (role, True)
    assert len(identity.requests_for(DATABASE)) == 3


async def test_a_refused_token_fails_at_once_and_says_so(
    engine: AsyncEngine, server: PrivatePostgres, role: str, identity: LoopbackIdentityEndpoint
) -> None:
    identity.issue(DATABASE, Issue(token()))
    await set_password(server, role, token())  # not the token the identity hands out

    started = time.monotonic()
    with pytest.raises(DBAPIError) as caught:
        await whoami(engine)

    assert time.monotonic() - started < TIMEOUT_SECONDS / 2
    assert getattr(caught.value.orig, "sqlstate", None) == "28P01"  # invalid_password
    assert f'password authentication failed for user "{role}"' in str(caught.value)
    assert len(identity.requests_for(DATABASE)) == 1


async def test_an_identity_the_host_does_not_have_says_so_and_counts_as_an_outage(
    server: PrivatePostgres, role: str, identity: LoopbackIdentityEndpoint
) -> None:
    identity.issue(DATABASE, Issue(token()))
    stranger = str(uuid.uuid4())  # AZURE_CLIENT_ID names an identity not assigned to the host
    engine = engine_from_settings(entra_settings(database_url(server, role), stranger))
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseTokenUnavailable) as caught:
            await whoami(engine)
        assert time.monotonic() - started < TIMEOUT_SECONDS
    finally:
        await engine.dispose()

    message = str(caught.value)
    assert "could not get a Microsoft Entra token for PostgreSQL" in message
    assert "No User Assigned or Delegated Managed Identity found" in message
    # So a turn answers 503 (Teams retries) rather than failing as a bug would.
    assert is_database_outage(caught.value)
    assert [r.client_id for r in identity.requests_for(DATABASE)] == [stranger]


async def test_migrations_run_passwordless(
    server: PrivatePostgres, role: str, identity: LoopbackIdentityEndpoint, identity_id: str
) -> None:
    """`python -m bot.core.migrate` with DATABASE_AUTH=entra: alembic's env.py signs in as
    the app does."""
    password = token()
    identity.issue(DATABASE, Issue(password))
    await set_password(server, role, password)
    environment = {
        **os.environ,  # IDENTITY_ENDPOINT and IDENTITY_HEADER among them
        "DATABASE_URL": database_url(server, role),
        "DATABASE_AUTH": "entra",
        "AZURE_CLIENT_ID": identity_id,
        "ENCRYPTION_KEYS": TEST_KEY,
    }

    migrate = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.core.migrate",
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await asyncio.wait_for(migrate.communicate(), 120)

    assert migrate.returncode == 0, errors.decode()[-3000:]
    assert [r.client_id for r in identity.requests_for(DATABASE)] == [identity_id]
    owner = await asyncpg.connect(server.dsn.rsplit("/", 1)[0] + f"/{role}")
    try:
        assert await owner.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await owner.close()
