"""Inbound authentication that answers 401, and outbound clients that are built once.

Two fixes to the stock CloudAdapter set-up:
- A forged, expired or garbled token makes botframework-connector raise whatever PyJWT
  raised (an IndexError for an unknown key id, an AttributeError for a missing header),
  which aiohttp turns into a 500.
  `StrictAuthentication` turns every failure to authenticate into `PermissionError`, which
  CloudAdapter answers with 401.
- Every turn builds a new ConnectorClient and TokenApiClient, and msrest's retry policy is
  quadratic to build (~7 ms each): they are cached per app id, service URL and audience.

And with MICROSOFT_APP_TYPE=UserAssignedMSI the bot's outbound tokens come from the host's
managed identity through `ManagedIdentityCredentials`, not botbuilder's own: a refusal says why
and a hung identity endpoint is given up on. Inbound tokens are checked as for any bot: Teams'
come from the Bot Framework's issuer with the app id (here the identity's client id) as their
audience, whatever the app type; the tenant id matters only to skill and Emulator tokens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import msal
import requests
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AppCredentials,
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    ManagedIdentityServiceClientCredentialsFactory,
    UserTokenClient,
)
from botframework.connector.auth.authentication_constants import AuthenticationConstants
from botframework.connector.skills import BotFrameworkClient

from bot.core.settings import AppType, Settings
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


class BotIdentityUnavailable(RuntimeError):
    """The host's managed identity gave the bot no token for the Bot Connector."""


# How long to wait for the host's managed identity endpoint (Teams gives up on a turn at 15 s).
IDENTITY_TIMEOUT_SECONDS = 10.0


class _TimedSession(requests.Session):
    """msal asks the managed identity endpoint with no timeout of its own."""

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", IDENTITY_TIMEOUT_SECONDS)
        return super().request(method, url, *args, **kwargs)


class ManagedIdentityCredentials(AppCredentials):
    """The bot's Bot Connector tokens from the host's user-assigned managed identity, as
    botframework-connector's ManagedIdentityAppCredentials gets them (msal's
    ManagedIdentityClient), except that a refusal says why (that one raises
    KeyError('access_token')) and a hung endpoint is given up on after a while."""

    # One cache for the process, keyed by client id and resource: a token outlives the
    # ConnectorClient that asked for it.
    _cache = msal.TokenCache()

    def __init__(self, app_id: str, oauth_scope: str | None = None) -> None:
        super().__init__(app_id=app_id, oauth_scope=oauth_scope)
        self._client = msal.ManagedIdentityClient(
            msal.UserAssignedManagedIdentity(client_id=app_id),
            http_client=_TimedSession(),
            token_cache=self._cache,
        )

    def get_access_token(self, force_refresh: bool = False) -> str:
        # A managed identity is asked for a resource, not a scope.
        resource = self.oauth_scope.removesuffix("/.default")
        answer = self._client.acquire_token_for_client(resource=resource)
        token = answer.get("access_token")
        if not token:
            raise BotIdentityUnavailable(
                f"the managed identity {self.microsoft_app_id} (MICROSOFT_APP_ID) got no token "
                f"for {resource}: {answer.get('error')}: {answer.get('error_description')}"
            )
        return str(token)


class ManagedIdentityCredentialsFactory(ManagedIdentityServiceClientCredentialsFactory):
    """Credentials for MICROSOFT_APP_TYPE=UserAssignedMSI: `ManagedIdentityCredentials`."""

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> ManagedIdentityCredentials:
        # The login endpoint is not used: the host's identity endpoint gives the tokens.
        if not await self.is_valid_app_id(app_id):
            raise PermissionError(f"no credentials for app id {app_id}")
        return ManagedIdentityCredentials(app_id, oauth_scope)


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
        credentials_factory = (
            ManagedIdentityCredentialsFactory(settings.microsoft_app_id)
            if settings.microsoft_app_type is AppType.USER_ASSIGNED_MSI
            else None  # botbuilder's, from APP_TYPE: the password, for one tenant or many
        )
        return cls(
            ConfigurationBotFrameworkAuthentication(
                configuration, credentials_factory=credentials_factory
            )
        )

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
