"""A loopback server that answers like App Service's managed identity endpoint.

On App Service (and Functions, Container Apps) the host gives the app two environment
variables: IDENTITY_ENDPOINT, a local URL, and IDENTITY_HEADER, a secret to send back in the
`X-IDENTITY-HEADER` header. Both azure-identity (`azure/identity/_credentials/app_service.py`)
and msal (`msal/managed_identity.py`, `_obtain_token_on_app_service`) detect that pair and ask

    GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<resource>[&client_id=<id>]

and read `access_token`, `expires_on` (seconds since the epoch, as a string), `resource` and
`token_type` from the JSON answer; azure-identity insists on `resource`. An unknown client id
gets App Service's 400, with `statusCode` and `message`.

msal asks with the synchronous `requests` library, and botbuilder may call it from inside
async code, so the server runs in a background thread (as tests/support/jwks.py does).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.threaded_http import ServedInThread

API_VERSION = "2019-08-01"
# Variables that would make azure-identity or msal pick another managed identity source.
_OTHER_SOURCES = (
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
)


@dataclass(frozen=True)
class Issue:
    """A token to hand out, valid for `seconds` from when it is asked for."""

    token: str
    seconds: int = 3600


@dataclass(frozen=True)
class TokenRequest:
    """One request as the endpoint saw it."""

    resource: str
    client_id: str | None
    api_version: str | None
    secret_matched: bool


class LoopbackIdentityEndpoint:
    """Hands out, per resource, the tokens queued with `issue`: each request takes the next,
    and the last one is handed out again for every later request."""

    def __init__(self, client_ids: set[str]) -> None:
        self.client_ids = client_ids  # the user-assigned identities the "host" has
        self.secret = uuid.uuid4().hex
        self.requests: list[TokenRequest] = []
        self._plans: dict[str, list[Issue]] = defaultdict(list)
        self._lock = threading.Lock()
        self._server: _IdentityServer | None = None
        self._serving: ServedInThread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the server is not running"
        return f"http://127.0.0.1:{self._server.server_port}/msi/token"

    def issue(self, resource: str, *issues: Issue) -> None:
        with self._lock:
            self._plans[resource.rstrip("/")].extend(issues)

    def requests_for(self, resource: str) -> list[TokenRequest]:
        return [r for r in self.requests if r.resource.rstrip("/") == resource.rstrip("/")]

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Makes this process look like an App Service app with this endpoint: credentials
        built from now on ask it for tokens."""
        for variable in _OTHER_SOURCES:
            monkeypatch.delenv(variable, raising=False)
        monkeypatch.setenv("IDENTITY_ENDPOINT", self.url)
        monkeypatch.setenv("IDENTITY_HEADER", self.secret)

    def answer(self, path: str, header: str | None) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        if parts.path != "/msi/token":
            return 404, {"statusCode": 404, "message": "not found"}
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        request = TokenRequest(
            resource=query.get("resource", ""),
            client_id=query.get("client_id"),
            api_version=query.get("api-version"),
            secret_matched=header == self.secret,
        )
        with self._lock:
            self.requests.append(request)
            if not request.secret_matched:
                return 401, {"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong"}
            if request.api_version != API_VERSION:
                return 400, {"statusCode": 400, "message": "unsupported api-version"}
            if request.client_id not in self.client_ids:
                return 400, {
                    "statusCode": 400,
                    "message": "No User Assigned or Delegated Managed Identity found for "
                    "specified ClientId/ResourceId/PrincipalId.",
                    "correlationId": str(uuid.uuid4()),
                }
            plan = self._plans.get(request.resource.rstrip("/"))
            if not plan:
                return 500, {"statusCode": 500, "message": "no token for that resource"}
            issue = plan.pop(0) if len(plan) > 1 else plan[0]
        return 200, {
            "access_token": issue.token,
            "expires_on": str(int(time.time()) + issue.seconds),
            "resource": request.resource,
            "token_type": "Bearer",
            "client_id": request.client_id,
        }

    def start(self) -> None:
        server = _IdentityServer(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._serving = ServedInThread.start(server, "loopback-identity")

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
        self._server, self._serving = None, None


class _Handler(BaseHTTPRequestHandler):
    server: _IdentityServer

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        status, body = self.server.owner.answer(self.path, self.headers.get("X-IDENTITY-HEADER"))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base
        pass


class _IdentityServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackIdentityEndpoint
