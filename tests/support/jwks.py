"""A loopback OpenID metadata / JWKS endpoint, and Bot Framework tokens signed for it.

botframework-connector fetches the channel's signing keys with the synchronous `requests`
library from inside async code, so this server must not run on the test's event loop (the
loop would wait on itself): it runs in a background thread (`ThreadingHTTPServer`).

The served document mirrors https://login.botframework.com/v1/.well-known/openidconfiguration:
`jwks_uri` points back at this server, and each key carries a `kid` and the `endorsements`
(channel ids) that the Bot Framework's keys carry.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.threaded_http import ServedInThread

METADATA_PATH = "/.well-known/openidconfiguration"
KEYS_PATH = "/keys"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass
class SigningKey:
    """An RSA key pair with the key id and endorsements it is published with."""

    kid: str
    private_key: rsa.RSAPrivateKey
    endorsements: list[str] = field(default_factory=lambda: ["msteams"])

    @classmethod
    def generate(cls, kid: str | None = None, endorsements: list[str] | None = None) -> SigningKey:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(
            kid or f"test-{uuid.uuid4().hex[:16]}",
            private_key,
            list(endorsements) if endorsements is not None else ["msteams"],
        )

    def jwk(self) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            "endorsements": list(self.endorsements),
        }


def mint_token(
    signing_key: rsa.RSAPrivateKey | str | None,
    *,
    kid: str | None,
    issuer: str,
    audience: str,
    service_url: str | None,
    not_before: datetime | None = None,
    expires: datetime | None = None,
    algorithm: str = "RS256",
    extra_claims: dict[str, Any] | None = None,
    without: tuple[str, ...] = (),
) -> str:
    """A token shaped like the Bot Framework's channel tokens (no `ver`, so not a skill token).

    `signing_key` is an RSA private key, or a string secret for HS256 / None for "none" (to
    try algorithm confusion). Times default to valid now, for an hour.
    """
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "nbf": int((not_before or now - timedelta(minutes=1)).timestamp()),
        "exp": int((expires or now + timedelta(hours=1)).timestamp()),
    }
    if service_url is not None:
        claims["serviceurl"] = service_url
    claims.update(extra_claims or {})
    for name in without:  # a token missing a standard claim, such as `exp`
        claims.pop(name, None)
    headers = {"kid": kid} if kid is not None else None
    key = signing_key if signing_key is not None else ""  # PyJWT's "none" wants an empty key
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


class _Handler(BaseHTTPRequestHandler):
    server: _OpenIdServer

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        owner = self.server.owner
        owner.requests.append(self.path)
        if self.path == owner.prefix + METADATA_PATH:
            body = owner.metadata()
        elif self.path == owner.prefix + KEYS_PATH:
            body = {"keys": [key.jwk() for key in owner.keys]}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base
        pass


class _OpenIdServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackOpenId


class LoopbackOpenId:
    """Serves OpenID metadata and a JWKS on 127.0.0.1, and mints tokens for its keys.

    `keys` are published; `forger` is a key of the same shape that is never published.
    The URLs carry a random prefix so that botframework-connector's process-wide metadata
    cache (keyed by URL) never serves one test the keys of another, even if a port is reused.
    """

    def __init__(self, issuer: str, keys: list[SigningKey] | None = None) -> None:
        self.issuer = issuer
        self.keys = keys if keys is not None else [SigningKey.generate()]
        self.forger = SigningKey.generate(kid=self.keys[0].kid)
        self.prefix = f"/{uuid.uuid4().hex[:12]}"
        self.requests: list[str] = []
        self._server: _OpenIdServer | None = None
        self._serving: ServedInThread | None = None

    @property
    def key(self) -> SigningKey:
        return self.keys[0]

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the server is not running"
        return f"http://127.0.0.1:{self._server.server_port}{self.prefix}"

    @property
    def metadata_url(self) -> str:
        return self.base_url + METADATA_PATH

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": "https://login.loopback.invalid/authorize",
            "jwks_uri": self.base_url + KEYS_PATH,
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }

    def start(self) -> None:
        server = _OpenIdServer(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._serving = ServedInThread.start(server, "loopback-openid")

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
        self._server, self._serving = None, None

    def mint(
        self,
        *,
        audience: str,
        service_url: str | None,
        signed_with: SigningKey | None = None,
        kid: str | None = None,
        issuer: str | None = None,
        not_before: datetime | None = None,
        expires: datetime | None = None,
        extra_claims: dict[str, Any] | None = None,
        without: tuple[str, ...] = (),
    ) -> str:
        """A token for this issuer, signed with the first served key unless told otherwise.

        `signed_with=server.forger` signs with an unpublished key under the served kid.
        """
        signer = signed_with or self.key
        return mint_token(
            signer.private_key,
            kid=kid if kid is not None else signer.kid,
            issuer=issuer if issuer is not None else self.issuer,
            audience=audience,
            service_url=service_url,
            not_before=not_before,
            expires=expires,
            extra_claims=extra_claims,
            without=without,
        )


@contextmanager
def serve_openid(issuer: str, keys: list[SigningKey] | None = None) -> Iterator[LoopbackOpenId]:
    server = LoopbackOpenId(issuer, keys)
    server.start()
    try:
        yield server
    finally:
        server.stop()
