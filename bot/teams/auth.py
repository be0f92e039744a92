"""Inbound authentication that answers 401, and outbound clients that are built once.

Two fixes to the stock CloudAdapter set-up:
- A forged, expired or garbled token makes botframework-connector raise whatever PyJWT
  raised (an IndexError for an unknown key id, an AttributeError for a missing header),
  which aiohttp turns into a 500.
  `StrictAuthentication` turns every failure to authenticate into `PermissionError`, which
  CloudAdapter answers with 401.
- Every turn builds a new ConnectorClient and TokenApiClient, and msrest's retry policy is
  quadratic to build (~7 ms each): they are cached per app id, service URL and audience.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from botframework.connector.auth.authentication_constants import AuthenticationConstants
from botframework.connector.skills import BotFrameworkClient

from bot.core.settings import Settings
from bot.teams.errors import TryAgainLater

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BotFrameworkConfiguration:
    """The attribute names ConfigurationBotFrameworkAuthentication reads, from our settings."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: str | None
    TO_BOT_FROM_CHANNEL_TOKEN_ISSUER: str | None
    TO_CHANNEL_FROM_BOT_LOGIN_URL: str | None
    TO_CHANNEL_FROM_BOT_OAUTH_SCOPE: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> BotFrameworkConfiguration:
        return cls(
            APP_ID=settings.microsoft_app_id,
            APP_PASSWORD=settings.microsoft_app_password,
            APP_TYPE=settings.microsoft_app_type,
            APP_TENANTID=settings.microsoft_app_tenant_id,
            TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=settings.to_bot_from_channel_openid_metadata_url
            or None,
            TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=settings.to_bot_from_channel_token_issuer or None,
            TO_CHANNEL_FROM_BOT_LOGIN_URL=settings.to_channel_from_bot_login_url or None,
            TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=settings.to_channel_from_bot_oauth_scope or None,
        )


class AuthenticationUnavailable(TryAgainLater):
    """The signing keys could not be fetched: not the caller's fault, so 503, not 401."""


class CachingConnectorFactory(ConnectorFactory):
    """One ConnectorClient per service URL and audience, reused across turns."""

    def __init__(self, inner: ConnectorFactory) -> None:
        self._inner = inner
        self._clients: dict[tuple[str, str | None], ConnectorClient] = {}

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (service_url, audience)
        client = self._clients.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            self._clients[key] = client
        return client


def _app_id(claims_identity: ClaimsIdentity) -> str:
    claims = claims_identity.claims or {}
    return str(
        claims.get(AuthenticationConstants.AUDIENCE_CLAIM)
        or claims.get(AuthenticationConstants.APP_ID_CLAIM)
        or ""
    )


class StrictAuthentication(BotFrameworkAuthentication):
    def __init__(self, inner: BotFrameworkAuthentication) -> None:
        self._inner = inner
        self._connector_factories: dict[tuple[str, str | None], CachingConnectorFactory] = {}
        self._token_clients: dict[str, UserTokenClient] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> StrictAuthentication:
        configuration = BotFrameworkConfiguration.from_settings(settings)
        return cls(ConfigurationBotFrameworkAuthentication(configuration))

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        try:
            result = await self._inner.authenticate_request(activity, auth_header)
        except (requests.ConnectionError, requests.Timeout, requests.HTTPError) as error:
            # botframework-connector fetches the OpenID metadata and keys with `requests`.
            # (A token that leads to an unconfigured URL is a bad token: that stays 401.)
            log.error("could not fetch the Bot Framework signing keys: %s", type(error).__name__)
            raise AuthenticationUnavailable("signing keys unavailable") from error
        except Exception as error:  # noqa: BLE001 - any other failure to authenticate is a 401
            log.warning("rejected a request whose token did not validate: %s", type(error).__name__)
            if isinstance(error, PermissionError):
                raise
            raise PermissionError("the request's token did not validate") from error
        identity = result.claims_identity
        anonymous = identity.authentication_type == AuthenticationConstants.ANONYMOUS_AUTH_TYPE
        if not anonymous and "exp" not in (identity.claims or {}):
            # PyJWT checks `exp` only when it is there: a token without one never expires.
            log.warning("rejected a request whose token has no expiry")
            raise PermissionError("the request's token has no expiry")
        result.connector_factory = self._cached_factory(
            result.claims_identity, result.audience, result.connector_factory
        )
        return result

    def _cached_factory(
        self, claims_identity: ClaimsIdentity, audience: str | None, inner: ConnectorFactory
    ) -> CachingConnectorFactory:
        key = (_app_id(claims_identity), audience)
        factory = self._connector_factories.get(key)
        if factory is None:
            factory = CachingConnectorFactory(inner)
            self._connector_factories[key] = factory
        return factory

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        audience = self._inner.get_originating_audience()
        return self._cached_factory(
            claims_identity, audience, self._inner.create_connector_factory(claims_identity)
        )

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        app_id = _app_id(claims_identity)
        client = self._token_clients.get(app_id)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            self._token_clients[app_id] = client
        return client

    def create_bot_framework_client(self) -> BotFrameworkClient:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self._inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)
