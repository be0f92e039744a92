"""Who opened the Teams tab: its single sign-on token, checked.

The tab's script asks Teams for a token (`authentication.getAuthToken`); Entra issues it for
the app's resource (`TAB_SSO_AUDIENCE`, by default `api://<PUBLIC_URL's host>/<app id>`).
Here its signature is checked against the issuer's published keys (fetched over aiohttp,
kept an hour, fetched again for a key id not seen yet), and its issuer (the tenant's own),
audience, expiry and tenant (ALLOWED_TENANT_IDS) too. Anything else is no one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt

log = logging.getLogger(__name__)

KEYS_KEPT_SECONDS = 3600.0
REFETCH_AT_MOST_EVERY = 60.0  # an unknown key id fetches the keys again, at most this often
LEEWAY_SECONDS = 60  # clocks differ a little between Entra and us


@dataclass(frozen=True)
class TabUser:
    object_id: str  # their Entra object id (`oid`)
    tenant_id: str
    name: str


@dataclass
class TabTokens:
    http: aiohttp.ClientSession
    metadata_url: str
    audiences: tuple[str, ...]
    allowed_tenants: tuple[str, ...]  # empty: any (development only; Settings says so)
    _issuer: str = field(default="", init=False)
    _keys: dict[str, Any] = field(default_factory=dict, init=False)
    _fetched: float = field(default=0.0, init=False)

    async def user(self, authorization: str) -> TabUser | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = await self._key(str(kid))
            if key is None:
                return None
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=list(self.audiences),
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "tid", "oid"]},
            )
        except (jwt.PyJWTError, aiohttp.ClientError, TimeoutError, ValueError) as problem:
            log.info("tab token refused: %s", type(problem).__name__)
            return None
        tenant = str(claims["tid"]).lower()
        if claims["iss"] not in self._issuers(tenant):
            log.info("tab token refused: another issuer")
            return None
        if self.allowed_tenants and tenant not in {t.lower() for t in self.allowed_tenants}:
            log.info("tab token refused: a tenant not allowed")
            return None
        return TabUser(str(claims["oid"]), tenant, str(claims.get("name", "")))

    def _issuers(self, tenant: str) -> set[str]:
        # Entra's "common" metadata names its issuer with a {tenantid} placeholder; v1 tokens
        # come from sts.windows.net.
        return {self._issuer.replace("{tenantid}", tenant), f"https://sts.windows.net/{tenant}/"}

    async def _key(self, kid: str) -> Any:
        stale = time.monotonic() - self._fetched > KEYS_KEPT_SECONDS
        may_refetch = time.monotonic() - self._fetched > REFETCH_AT_MOST_EVERY
        if stale or (kid not in self._keys and may_refetch):
            await self._fetch()
        return self._keys.get(kid)

    async def _fetch(self) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with self.http.get(self.metadata_url, timeout=timeout) as response:
            response.raise_for_status()
            metadata = await response.json(content_type=None)
        async with self.http.get(str(metadata["jwks_uri"]), timeout=timeout) as response:
            response.raise_for_status()
            published = await response.json(content_type=None)
        self._issuer = str(metadata["issuer"])
        self._keys = {
            str(jwk["kid"]): jwt.PyJWK(jwk, algorithm="RS256").key
            for jwk in published.get("keys", [])
            if jwk.get("kty") == "RSA" and "kid" in jwk
        }
        self._fetched = time.monotonic()
