"""Inbound authentication and the tenant gate, over real HTTP.

Tokens are signed by a test key and checked against a loopback OpenID metadata / JWKS
endpoint (tests/support/jwks.py): validation is never switched off. No test may reach
anything but loopback; `loopback_only` fails a test that tries (DNS included).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from botframework.connector.auth import JwtTokenExtractor, MicrosoftAppCredentials
from sqlalchemy import func, select

from bot.core.models import Base
from bot.core.settings import Settings
from bot.teams.tenant import REFUSAL
from tests.conftest import RunningBot, make_settings
from tests.support.client import TENANT, TeamsUser, card_text, cards_in, texts_in
from tests.support.connector import FakeConnector
from tests.support.databases import engine_for
from tests.support.jwks import LoopbackOpenId, SigningKey, mint_token, serve_openid

APP_ID = "6f1c2a9e-3b7d-4c55-9a0e-2d8f4b1e7c30"
OTHER_APP_ID = "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a"
ISSUER = "https://api.botframework.test"
TENANT_A = TENANT
TENANT_B = "00000000-0000-0000-0000-0000000000bb"
# An issuer botframework-connector treats as the Bot Framework Emulator's.
EMULATOR_ISSUER = "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/"

# --- no traffic leaves loopback -----------------------------------------------------------

_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


def _is_loopback(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuses (and records) any name lookup or connection that is not loopback."""
    attempts: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            attempts.append(f"resolve {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"test: {host!r} is not loopback")
        return _real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            attempts.append(f"connect {address!r}")
            raise ConnectionRefusedError(f"test: {address!r} is not loopback")
        return _real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    for variable in _PROXY_VARIABLES:  # `requests` would send loopback calls to a proxy
        monkeypatch.delenv(variable, raising=False)
    yield attempts
    assert attempts == [], f"a test tried to leave loopback: {attempts}"


# --- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture
def openid() -> Iterator[LoopbackOpenId]:
    with serve_openid(ISSUER) as server:
        yield server


def secured_settings(database_url: str, openid: LoopbackOpenId, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "microsoft_app_id": APP_ID,
        "microsoft_app_password": "test-secret",
        "allowed_tenant_ids": [TENANT_A],
        "to_bot_from_channel_openid_metadata_url": openid.metadata_url,
        "to_bot_from_channel_token_issuer": ISSUER,
        # Never contacted: MSAL's token request is replaced by `outbound_token` where a reply
        # is sent, and `loopback_only` fails any test that tries to resolve this host.
        "to_channel_from_bot_login_url": "https://login.loopback.invalid/botframework.com",
        "to_channel_from_bot_oauth_scope": "https://api.botframework.com",
    }
    values.update(overrides)
    return make_settings(database_url, **values)


@pytest.fixture
async def secured_bot(sqlite_url: str, openid: LoopbackOpenId) -> AsyncIterator[RunningBot]:
    bot = RunningBot(secured_settings(sqlite_url, openid))
    await bot.start()
    yield bot
    await bot.stop()


async def stored_rows(database_url: str) -> dict[str, int]:
    """Rows in every table the app owns (bot_state, referrals, audit_log, counters)."""
    engine = engine_for(database_url)
    try:
        async with engine.connect() as connection:
            return {
                table.name: (
                    await connection.execute(select(func.count()).select_from(table))
                ).scalar_one()
                for table in Base.metadata.sorted_tables
            }
    finally:
        await engine.dispose()


async def post(
    http: aiohttp.ClientSession,
    bot: RunningBot,
    activity: dict[str, Any],
    authorization: str | None,
) -> tuple[int, str]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with http.post(f"{bot.url}api/messages", json=activity, headers=headers) as response:
        return response.status, await response.text()


def expected_replies(body: str) -> list[dict[str, Any]]:
    replies = json.loads(body)
    assert isinstance(replies.get("activities"), list), body
    return replies["activities"]


# --- inbound authentication ---------------------------------------------------------------

# A header for a request, made from the test's token server and the activity's service URL.
MakeHeader = Callable[[LoopbackOpenId, str], str | None]


@dataclass(frozen=True)
class BadToken:
    make_header: MakeHeader
    # What the stock CloudAdapter (no StrictAuthentication) answers: 500 where
    # botframework-connector lets a PyJWT or lookup error escape, 401 where it raises
    # PermissionError itself. The bot must log a warning for the former.
    stock_status: int


def _valid(openid: LoopbackOpenId, service_url: str) -> str:
    return openid.mint(audience=APP_ID, service_url=service_url)


def _bearer(make: Callable[[LoopbackOpenId, str], str]) -> MakeHeader:
    return lambda openid, service_url: f"Bearer {make(openid, service_url)}"


BAD_TOKENS: dict[str, BadToken] = {
    "no-authorization-header": BadToken(lambda openid, url: None, 500),
    "bearer-garbage": BadToken(lambda openid, url: "Bearer garbage", 500),
    "bearer-empty": BadToken(lambda openid, url: "Bearer ", 500),
    "forged-signature-served-kid": BadToken(
        _bearer(
            lambda openid, url: openid.mint(
                audience=APP_ID, service_url=url, signed_with=openid.forger
            )
        ),
        500,
    ),
    "expired": BadToken(
        _bearer(
            lambda openid, url: openid.mint(
                audience=APP_ID,
                service_url=url,
                not_before=datetime.now(UTC) - timedelta(hours=2),
                expires=datetime.now(UTC) - timedelta(minutes=10),  # beyond the 5 min leeway
            )
        ),
        500,
    ),
    "not-yet-valid": BadToken(
        _bearer(
            lambda openid, url: openid.mint(
                audience=APP_ID,
                service_url=url,
                not_before=datetime.now(UTC) + timedelta(minutes=10),
            )
        ),
        500,
    ),
    "wrong-audience": BadToken(
        _bearer(lambda openid, url: openid.mint(audience=OTHER_APP_ID, service_url=url)), 401
    ),
    "wrong-issuer": BadToken(
        _bearer(
            lambda openid, url: openid.mint(
                audience=APP_ID, service_url=url, issuer="https://api.botframework.evil"
            )
        ),
        401,
    ),
    "unknown-kid": BadToken(
        _bearer(
            lambda openid, url: openid.mint(
                audience=APP_ID, service_url=url, signed_with=openid.forger, kid="unknown-kid"
            )
        ),
        500,
    ),
    # PyJWT checks `exp` only when the token has one; the stock adapter accepts it.
    "no-expiry": BadToken(
        _bearer(
            lambda openid, url: openid.mint(audience=APP_ID, service_url=url, without=("exp",))
        ),
        201,
    ),
    "not-bearer-scheme": BadToken(lambda openid, url: f"Basic {_valid(openid, url)}", 401),
    "lowercase-bearer-scheme": BadToken(lambda openid, url: f"bearer {_valid(openid, url)}", 401),
    "other-service-url": BadToken(
        _bearer(
            lambda openid, url: openid.mint(audience=APP_ID, service_url="http://127.0.0.1:9/")
        ),
        401,
    ),
    "no-service-url-claim": BadToken(
        _bearer(lambda openid, url: openid.mint(audience=APP_ID, service_url=None)), 401
    ),
    "hs256-with-served-kid": BadToken(
        _bearer(
            lambda openid, url: mint_token(
                "an-hmac-secret-of-at-least-32-bytes!",
                kid=openid.key.kid,
                issuer=ISSUER,
                audience=APP_ID,
                service_url=url,
                algorithm="HS256",
            )
        ),
        500,
    ),
    "unsigned-alg-none": BadToken(
        _bearer(
            lambda openid, url: mint_token(
                None,
                kid=openid.key.kid,
                issuer=ISSUER,
                audience=APP_ID,
                service_url=url,
                algorithm="none",
            )
        ),
        500,
    ),
    # Takes botframework-connector's Emulator path, whose metadata URL we do not configure.
    "emulator-issuer": BadToken(
        _bearer(
            lambda openid, url: openid.mint(
                audience=APP_ID, service_url=url, issuer=EMULATOR_ISSUER
            )
        ),
        500,
    ),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS), ids=list(BAD_TOKENS))
async def test_a_request_without_a_valid_token_gets_401_and_nothing_is_stored(
    case: str,
    secured_bot: RunningBot,
    openid: LoopbackOpenId,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    sqlite_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = BAD_TOKENS[case]
    user = TeamsUser(secured_bot.url, connector, http, tenant=TENANT_A)
    caplog.set_level(logging.INFO)

    status, _ = await post(
        http, secured_bot, user.activity(text="refer"), bad.make_header(openid, connector.url)
    )

    assert status == 401
    assert connector.requests == []
    assert set((await stored_rows(sqlite_url)).values()) == {0}
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == [], [record.getMessage() for record in errors]
    if bad.stock_status == 500:
        assert any(
            record.name == "bot.teams.auth" and record.levelno == logging.WARNING
            for record in caplog.records
        ), [record.getMessage() for record in caplog.records]


@pytest.fixture
def outbound_token(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stands in for the one outbound call a reply needs: MSAL's client-credentials request.

    With an app id, sending a reply through the connector first asks MSAL for a token, and
    MSAL insists on an https authority and does instance discovery at
    login.microsoftonline.com even for a private-cloud login URL, so it cannot be served on
    loopback. Only this outbound step is replaced; inbound validation is untouched. Records
    the login URL each token was asked from.
    """
    asked: list[str] = []

    def get_access_token(self: MicrosoftAppCredentials, force_refresh: bool = False) -> str:
        asked.append(self.oauth_endpoint)
        return "outbound-test-token"

    monkeypatch.setattr(MicrosoftAppCredentials, "get_access_token", get_access_token)
    return asked


async def test_a_valid_token_is_accepted(
    secured_bot: RunningBot,
    openid: LoopbackOpenId,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    sqlite_url: str,
    outbound_token: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = TeamsUser(secured_bot.url, connector, http, tenant=TENANT_A)
    user.token = _valid(openid, connector.url)

    installed = await user.install()
    sent = await user.say("hello")

    assert user.last_status in (200, 201)
    assert "Make a referral" in card_text(cards_in(installed)[0])
    assert "Hello! Here is what I can do." in texts_in(sent)
    # The token really was checked against the loopback keys ...
    assert any(path.endswith("/keys") for path in openid.requests)
    # ... and replies were sent with credentials for the configured login URL.
    assert outbound_token
    assert set(outbound_token) == {"https://login.loopback.invalid/botframework.com"}
    # A normal turn stores state: the "nothing stored" checks elsewhere can see rows.
    assert (await stored_rows(sqlite_url))["bot_state"] > 0
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def test_a_valid_token_from_another_tenant_gets_the_polite_refusal(
    secured_bot: RunningBot,
    openid: LoopbackOpenId,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    sqlite_url: str,
    outbound_token: list[str],
) -> None:
    stranger = TeamsUser(secured_bot.url, connector, http, tenant=TENANT_B)
    stranger.token = _valid(openid, connector.url)

    sent = await stranger.say("refer")

    assert stranger.last_status in (200, 201)
    refusal = REFUSAL.format(partnership=secured_bot.settings.partnership_name)
    assert texts_in(sent) == [refusal]
    assert set((await stored_rows(sqlite_url)).values()) == {0}


async def test_expect_replies_come_back_in_the_body_without_an_outbound_token(
    secured_bot: RunningBot,
    openid: LoopbackOpenId,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    user = TeamsUser(secured_bot.url, connector, http, tenant=TENANT_A)
    activity = user.activity(text="hello", deliveryMode="expectReplies")

    status, body = await post(
        http, secured_bot, activity, f"Bearer {_valid(openid, connector.url)}"
    )

    assert status == 200, body
    replies = expected_replies(body)
    assert "Make a referral" in card_text(cards_in(replies)[0])
    assert connector.requests == []


async def test_a_key_not_endorsed_for_teams_is_refused(
    sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    webchat_key = SigningKey.generate(endorsements=["webchat"])
    with serve_openid(ISSUER, keys=[webchat_key]) as openid:
        bot = RunningBot(secured_settings(sqlite_url, openid))
        await bot.start()
        try:
            user = TeamsUser(bot.url, connector, http, tenant=TENANT_A)
            token = openid.mint(audience=APP_ID, service_url=connector.url)
            status, _ = await post(
                http, bot, user.activity(text="hi", deliveryMode="expectReplies"), f"Bearer {token}"
            )
        finally:
            await bot.stop()
    assert status == 401
    assert set((await stored_rows(sqlite_url)).values()) == {0}


# --- the tenant gate (inbound authentication off) -----------------------------------------


@pytest.fixture
async def gated_bot(database_url: str) -> AsyncIterator[RunningBot]:
    bot = RunningBot(make_settings(database_url, allowed_tenant_ids=[TENANT_A]))
    await bot.start()
    yield bot
    await bot.stop()


@pytest.mark.parametrize("tenant", [TENANT_B, ""], ids=["other-tenant", "no-tenant"])
async def test_another_tenant_gets_a_polite_refusal_and_nothing_is_stored(
    tenant: str,
    gated_bot: RunningBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    database_url: str,
) -> None:
    stranger = TeamsUser(gated_bot.url, connector, http, tenant=tenant)
    if not tenant:
        activity = stranger.activity(text="refer", channelData={})
        activity["conversation"].pop("tenantId")
        sent = await stranger.post(activity)
    else:
        sent = await stranger.say("refer")
    installed = await stranger.install()

    assert stranger.last_status in (200, 201)
    refusal = REFUSAL.format(partnership=gated_bot.settings.partnership_name)
    assert texts_in(sent) == [refusal]
    assert cards_in(sent) == []
    assert installed == []  # only messages are answered, and only with the refusal
    rows = await stored_rows(database_url)
    assert rows["bot_state"] == 0
    assert rows["referrals"] == 0
    assert set(rows.values()) == {0}


async def test_the_configured_tenant_gets_the_normal_answer(
    gated_bot: RunningBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    database_url: str,
) -> None:
    member = TeamsUser(gated_bot.url, connector, http, tenant=TENANT_A.upper())

    installed = await member.install()
    sent = await member.say("hello")

    assert member.last_status in (200, 201)
    assert "Make a referral" in card_text(cards_in(installed)[0])
    assert "Hello! Here is what I can do." in texts_in(sent)
    refusal = REFUSAL.format(partnership=gated_bot.settings.partnership_name)
    assert refusal not in texts_in(installed + sent)
    assert (await stored_rows(database_url))["bot_state"] > 0


async def test_unreachable_signing_keys_answer_503_not_401(
    sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    """A 401 tells Teams the message is unwanted; a 503 makes it try again later."""
    with serve_openid(ISSUER) as openid:
        dead_metadata = openid.metadata_url
        token = openid.mint(audience=APP_ID, service_url=connector.url)
    # The server is stopped now: fetching its keys fails with a connection error.
    JwtTokenExtractor.metadataCache.pop(dead_metadata, None)
    bot = RunningBot(
        make_settings(
            sqlite_url,
            microsoft_app_id=APP_ID,
            microsoft_app_password="test-secret",
            to_bot_from_channel_openid_metadata_url=dead_metadata,
            to_bot_from_channel_token_issuer=ISSUER,
            to_channel_from_bot_login_url="https://login.loopback.invalid/botframework.com",
            to_channel_from_bot_oauth_scope="https://api.botframework.com",
        )
    )
    await bot.start()
    try:
        user = TeamsUser(bot.url, connector, http, token=token)
        await user.say("hello")
        assert user.last_status == 503
    finally:
        await bot.stop()


# --- only Teams is served -----------------------------------------------------------------

OTHER_CHANNELS = ["webchat", "directline", "emulator"]


@pytest.mark.parametrize("channel", OTHER_CHANNELS)
async def test_a_signed_activity_from_another_channel_is_not_served(
    channel: str,
    sqlite_url: str,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    outbound_token: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A key the Bot Framework endorses for that channel: the token itself is genuine.
    key = SigningKey.generate(endorsements=[channel, "msteams"])
    with serve_openid(ISSUER, keys=[key]) as openid:
        user = TeamsUser("", connector, http, tenant=TENANT_A)
        bot = RunningBot(secured_settings(sqlite_url, openid, admin_ids=[user.user_id]))
        await bot.start()
        try:
            header = f"Bearer {_valid(openid, connector.url)}"
            statuses = []
            for text in ("refer", "digest"):
                status, _ = await post(
                    http, bot, user.activity(text=text, channelId=channel), header
                )
                statuses.append(status)
            invoke = user.activity(
                channelId=channel,
                type="invoke",
                name="adaptiveCard/action",
                value={"action": {"type": "Action.Execute", "verb": "digest", "data": {}}},
            )
            invoke_status, _ = await post(http, bot, invoke, header)
            answered_elsewhere = len(connector.activities)
            # The same token and activity from Teams is served: only the channel differs.
            teams_status, _ = await post(http, bot, user.activity(text="hello"), header)
        finally:
            await bot.stop()

    assert statuses == [201, 201]
    assert invoke_status == 403
    assert teams_status == 201
    assert answered_elsewhere == 0
    assert connector.activities, "the Teams activity was answered"
    assert (await stored_rows(sqlite_url))["referrals"] == 0
    assert any(f"channel {channel!r}" in record.getMessage() for record in caplog.records)


async def test_extra_channels_is_refused_in_production(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="EXTRA_CHANNELS"):
        make_settings(
            sqlite_url,
            mode="production",
            microsoft_app_id=APP_ID,
            allowed_tenant_ids=[TENANT_A],
            extra_channels=["webchat"],
        )


@pytest.mark.parametrize("allowed", [[TENANT_A], []], ids=["allow-list", "no-allow-list"])
async def test_an_activity_naming_two_tenants_is_refused(
    allowed: list[str],
    database_url: str,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    bot = RunningBot(make_settings(database_url, allowed_tenant_ids=allowed))
    await bot.start()
    try:
        user = TeamsUser(bot.url, connector, http, tenant=TENANT_A)
        # The conversation says the allowed tenant; channelData names another.
        sent = await user.post(
            user.activity(text="refer", channelData={"tenant": {"id": TENANT_B}})
        )
        swapped = user.activity(text="refer")
        swapped["conversation"]["tenantId"] = TENANT_B
        sent += await user.post(swapped)
    finally:
        await bot.stop()

    assert sent == []
    rows = await stored_rows(database_url)
    assert rows["bot_state"] == 0
    assert rows["referrals"] == 0
