"""A loopback telemetry collector: OTLP/HTTP (protobuf) and Application Insights' ingestion.

It answers what an OpenTelemetry Collector answers on POST /v1/traces, /v1/logs and
/v1/metrics (an empty Export...ServiceResponse), and what Application Insights answers on
POST /v2.1/track (the count of items accepted), and keeps everything it was sent: the spans
decoded, and every request's full text, to search for what must not be there.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass(frozen=True)
class CollectedSpan:
    name: str
    kind: str  # internal, server, client, ...
    scope: str  # the instrumentation scope (the tracer's name)
    attributes: dict[str, Any]
    status: int  # 0 unset, 1 ok, 2 error
    status_message: str
    trace_id: str
    span_id: str
    parent_span_id: str
    resource: dict[str, Any]


class Collector:
    def __init__(self) -> None:
        self.spans: list[CollectedSpan] = []
        # (path, the request as text): protobuf's text format, or the JSON sent
        self.received: list[tuple[str, str]] = []
        self.envelopes: list[dict[str, Any]] = []  # Application Insights' telemetry items
        self._server: TestServer | None = None

    @property
    def url(self) -> str:
        """The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter adds /v1/traces)."""
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._otlp(ExportTraceServiceRequest, self._spans))
        app.router.add_post("/v1/logs", self._otlp(ExportLogsServiceRequest, None))
        app.router.add_post("/v1/metrics", self._otlp(ExportMetricsServiceRequest, None))
        app.router.add_post("/v2.1/track", self._track)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    def everything(self) -> str:
        """All that was sent, as text."""
        return "\n".join(text for _, text in self.received)

    def named(self, name: str) -> list[CollectedSpan]:
        return [span for span in self.spans if span.name == name]

    def _otlp(
        self, kind: type[Message], keep: Callable[[Any], None] | None
    ) -> Callable[[web.Request], Any]:
        responses: dict[type[Message], type[Message]] = {
            ExportTraceServiceRequest: ExportTraceServiceResponse,
            ExportLogsServiceRequest: ExportLogsServiceResponse,
            ExportMetricsServiceRequest: ExportMetricsServiceResponse,
        }

        async def receive(request: web.Request) -> web.Response:
            body = _decompressed(await request.read(), request.headers.get("Content-Encoding"))
            message = kind()
            message.ParseFromString(body)
            self.received.append((request.path, str(message)))
            if keep is not None:
                keep(message)
            return web.Response(
                body=responses[kind]().SerializeToString(), content_type="application/x-protobuf"
            )

        return receive

    def _spans(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        CollectedSpan(
                            name=span.name,
                            kind=KINDS.get(span.kind, str(span.kind)),
                            scope=scope_spans.scope.name,
                            attributes=_attributes(span.attributes),
                            status=span.status.code,
                            status_message=span.status.message,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            resource=resource,
                        )
                    )

    async def _track(self, request: web.Request) -> web.Response:
        body = _decompressed(await request.read(), request.headers.get("Content-Encoding"))
        text = body.decode("utf-8")
        self.received.append((request.path, text))
        stripped = text.strip()
        if stripped.startswith("["):
            items = json.loads(stripped)
        else:  # newline-delimited JSON
            items = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        self.envelopes.extend(items)
        return web.json_response(
            {"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}
        )


def _decompressed(body: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, which)
