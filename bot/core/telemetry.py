"""Traces with OpenTelemetry, with nothing personal in them.

Our code makes every span and chooses every attribute: a turn, a Bot Connector call, a Graph
call, a scheduler job's run, an outbox delivery. Names and attributes are our own constants,
HTTP statuses, counts, and paths whose ids are replaced by {id}: never text, names, emails,
or the ids of people, conversations, meetings or tenants. A failure is recorded by its
exception's type, never its message, which can quote what someone typed.

Libraries that trace on their own use the same global tracer provider (kiota puts Graph's
full URLs on its spans: mailbox ids, meeting links), so the exporter is given this app's
spans only (`OnlyOurs`). Unconfigured, the OpenTelemetry API's tracer does nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue

from bot.core.settings import Settings

log = logging.getLogger(__name__)

SCOPE = "reflective_practice_bot"  # our tracer's name: the only spans exported
DEFAULT_SERVICE_NAME = "reflective-practice-bot"
AZURE_HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"

# Attribute names: OpenTelemetry's where it has one, ours (bot., outbox.) where not.
ERROR_TYPE = "error.type"
HTTP_METHOD = "http.request.method"
HTTP_STATUS = "http.response.status_code"
HTTP_RESEND_COUNT = "http.request.resend_count"
URL_TEMPLATE = "url.template"
URL_FULL = "url.full"  # redacted: scheme, host and the template (Application Insights names by it)
SERVER_ADDRESS = "server.address"
RETRY_AFTER = "http.response.retry_after_seconds"


def tracer() -> trace.Tracer:
    """This app's tracer: the global provider's, a no-op one until `configure_telemetry`."""
    return trace.get_tracer(SCOPE)


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
    context: otel_context.Context | None = None,
) -> Iterator[trace.Span]:
    """A span, current for the block: an exception leaving it is recorded by type only."""
    with tracer().start_as_current_span(
        name,
        context=context,
        kind=kind,
        attributes=attributes,
        record_exception=False,  # the SDK would keep str(error) and the traceback
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as error:
            failed(current, error)
            raise


def failed(current: trace.Span, error: BaseException) -> None:
    """Marks the span failed: the exception's type, and ERROR with no description."""
    current.set_attribute(ERROR_TYPE, error_type(error))
    current.set_status(StatusCode.ERROR)


def redacted_url(base: str, template: str) -> str:
    """scheme://host[:port] of `base`, then the path template: no ids, no query, no user."""
    parts = urlsplit(base)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{template}"


def answered_with_error(current: trace.Span, status: int) -> None:
    """An HTTP call answered 4xx or 5xx: failed, with the status as its error type."""
    current.set_attribute(ERROR_TYPE, str(status))
    current.set_status(StatusCode.ERROR)


def error_type(error: BaseException) -> str:
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"


class OnlyOurs(SpanProcessor):
    """Passes on the spans of this app's tracer only; other libraries' are dropped."""

    def __init__(self, inner: SpanProcessor) -> None:
        self._inner = inner

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        if _ours(span):
            self._inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if _ours(span):
            self._inner.on_end(span)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _ours(span: ReadableSpan) -> bool:
    scope = span.instrumentation_scope
    return scope is not None and scope.name == SCOPE


class Telemetry:
    """What `configure_telemetry` set up; `shutdown()` (or leaving the `with`) sends what is
    still waiting."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()  # flushes the batch processor
            self.provider = None

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()


def configure_telemetry(settings: Settings, environ: Mapping[str, str] = os.environ) -> Telemetry:
    """Sets the global tracer provider, once per process (`app.main`; never `create_app`,
    which tests call many times): to Application Insights when its connection string is
    set, else to OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is, else to nothing."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    exporter: SpanExporter
    if settings.applicationinsights_connection_string:
        # The exporter alone, not the azure-monitor-opentelemetry distro: the distro's
        # provider exports every library's spans (kiota's with Graph's full URLs) and its
        # automatic instrumentations record URLs. Logs stay with the host's log stream:
        # their text comes from many libraries (a database error quotes its parameters).
        from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter

        exporter = AzureMonitorTraceExporter(
            connection_string=settings.applicationinsights_connection_string
        )
        # azure-core logs each request's headers at INFO: a dozen lines every few seconds.
        logging.getLogger(AZURE_HTTP_LOGGER).setLevel(logging.WARNING)
        where = "Application Insights"
    elif environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # endpoint, headers, timeout: the OTEL_* variables
        where = "OTLP"
    else:
        return Telemetry()
    name = environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(OnlyOurs(BatchSpanProcessor(exporter)))
    trace.set_tracer_provider(provider)
    log.info("traces go to %s as %s", where, name)
    return Telemetry(provider)
