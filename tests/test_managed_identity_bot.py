"""The bot's own identity as a user-assigned managed identity (MICROSOFT_APP_TYPE=UserAssignedMSI):
no app password anywhere. Outbound, its Bot Connector tokens come from the host's managed
identity endpoint (a loopback one that answers like App Service's, tests/support/
identity_endpoint.py); inbound, Teams' tokens are checked as for any bot.

No test may reach anything but loopback: without IDENTITY_ENDPOINT msal would ask the VM
metadata service at 169.254.169.254, which `loopback_only` refuses and reports.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from bot.core.settings import Settings
from bot.teams.auth import BotIdentityUnavailable
from bot.teams.connector import TokenUnavailable
from tests.conftest import RunningBot, make_settings
from tests.support.client import TeamsUser, texts_in
from tests.support.connector import FakeConnector
from tests.support.identity_endpoint import Issue, LoopbackIdentityEndpoint
from tests.support.jwks import LoopbackOpenId, serve_openid
from tests.test_auth import ISSUER, TENANT_A, loopback_only, post  # noqa: F401 - autouse

BOT_FRAMEWORK = "https://api.botframework.com"  # the resource the bot's tokens are for


@pytest.fixture
def openid() -> Iterator[LoopbackOpenId]:
    """Teams' side: the Bot Framework's signing keys, on loopback."""
    with serve_openid(ISSUER) as server:
        yield server


def msi_settings(
    database_url: str, openid: LoopbackOpenId, identity_id: str, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "microsoft_app_type": "UserAssignedMSI",
        "microsoft_app_id": identity_id,
        "microsoft_app_tenant_id": TENANT_A,
        "allowed_tenant_ids": [TENANT_A],
        "to_bot_from_channel_openid_metadata_url": openid.metadata_url,
        "to_bot_from_channel_token_issuer": ISSUER,
        # A managed identity ignores the login URL (the host's endpoint gives its tokens);
        # `loopback_only` would report any attempt to reach it.
        "to_channel_from_bot_login_url": "https://login.loopback.invalid/botframework.com",
        "to_channel_from_bot_oauth_scope": BOT_FRAMEWORK,
    }
    values.update(overrides)
    return make_settings(database_url, **values)


@pytest.fixture
async def msi_bot(
    sqlite_url: str,
    openid: LoopbackOpenId,
    identity_id: str,
    identity: LoopbackIdentityEndpoint,
) -> AsyncIterator[RunningBot]:
    bot = RunningBot(msi_settings(sqlite_url, openid, identity_id))
    await bot.start()
    yield bot
    await bot.stop()


async def test_replies_carry_the_token_the_managed_identity_issued(
    msi_bot: RunningBot,
    openid: LoopbackOpenId,
    identity: LoopbackIdentityEndpoint,
    identity_id: str,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    identity.issue(BOT_FRAMEWORK, Issue("connector-token-from-the-identity", seconds=3600))
    user = TeamsUser(msi_bot.url, connector, http, tenant=TENANT_A)
    # Teams' token for this bot: the Bot Framework's issuer, the identity's client id as audience.
    user.token = openid.mint(audience=identity_id, service_url=connector.url)

    sent = await user.say("hello")
    sent += await user.say("hello again")

    assert user.last_status in (200, 201)
    assert "Hello! Here is what I can do." in texts_in(sent)
    assert connector.authorizations
    assert set(connector.authorizations) == {"Bearer connector-token-from-the-identity"}
    # Asked once, for the Bot Framework, as the configured identity, with the host's secret;
    # the second turn's reply used the cached token.
    asked = identity.requests_for(BOT_FRAMEWORK)
    assert len(asked) == 1
    assert asked[0].client_id == identity_id
    assert asked[0].secret_matched


async def test_an_identity_the_host_does_not_have_is_named_in_the_log(
    sqlite_url: str,
    openid: LoopbackOpenId,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stranger = str(uuid.uuid4())  # MICROSOFT_APP_ID names an identity not assigned to the host
    endpoint = LoopbackIdentityEndpoint({str(uuid.uuid4())})
    endpoint.start()
    endpoint.install(monkeypatch)
    bot = RunningBot(msi_settings(sqlite_url, openid, stranger))
    await bot.start()
    try:
        user = TeamsUser(bot.url, connector, http, tenant=TENANT_A)
        user.token = openid.mint(audience=stranger, service_url=connector.url)
        sent = await user.say("hello")
    finally:
        await bot.stop()
        endpoint.stop()

    assert sent == []
    assert connector.requests == []  # nothing went out without a token
    assert endpoint.requests and {r.client_id for r in endpoint.requests} == {stranger}
    failures = [r for r in caplog.records if r.exc_info and r.name == "bot.teams.errors"]
    assert failures, [r.getMessage() for r in caplog.records]
    error = failures[0].exc_info[1] if failures[0].exc_info else None
    # Retryable for the outbox (a 503), with the identity's own refusal as its cause.
    assert isinstance(error, TokenUnavailable) and error.status == 503
    assert isinstance(error.__cause__, BotIdentityUnavailable)
    assert stranger in str(error)
    assert "No User Assigned or Delegated Managed Identity found" in str(error)


async def test_a_token_for_another_bot_is_refused(
    msi_bot: RunningBot,
    openid: LoopbackOpenId,
    identity: LoopbackIdentityEndpoint,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    user = TeamsUser(msi_bot.url, connector, http, tenant=TENANT_A)
    token = openid.mint(audience=str(uuid.uuid4()), service_url=connector.url)

    status, _ = await post(http, msi_bot, user.activity(text="hello"), f"Bearer {token}")

    assert status == 401
    assert connector.requests == []
    assert identity.requests == []


def test_a_managed_identity_bot_takes_no_password(sqlite_url: str) -> None:
    with pytest.raises(ValidationError, match="MICROSOFT_APP_PASSWORD"):
        make_settings(
            sqlite_url,
            microsoft_app_type="UserAssignedMSI",
            microsoft_app_id=str(uuid.uuid4()),
            microsoft_app_tenant_id=TENANT_A,
            microsoft_app_password="a-secret-that-must-not-exist",
        )


@pytest.mark.parametrize("missing", ["microsoft_app_id", "microsoft_app_tenant_id"])
def test_a_managed_identity_bot_needs_its_client_id_and_tenant(
    missing: str, sqlite_url: str
) -> None:
    values = {"microsoft_app_id": str(uuid.uuid4()), "microsoft_app_tenant_id": TENANT_A}
    values[missing] = ""
    with pytest.raises(ValidationError, match=missing.upper()):
        make_settings(sqlite_url, microsoft_app_type="UserAssignedMSI", **values)


def test_a_single_tenant_bot_needs_its_tenant(sqlite_url: str) -> None:
    with pytest.raises(ValidationError, match="MICROSOFT_APP_TENANT_ID"):
        make_settings(
            sqlite_url,
            microsoft_app_type="SingleTenant",
            microsoft_app_id=str(uuid.uuid4()),
            microsoft_app_password="secret",
        )


def test_an_unknown_app_type_is_refused(sqlite_url: str) -> None:
    with pytest.raises(ValidationError, match="MICROSOFT_APP_TYPE"):
        make_settings(sqlite_url, microsoft_app_type="ManagedIdentity")
