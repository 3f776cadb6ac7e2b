"""Metrics and traces through OpenTelemetry: what an operator's Prometheus, Grafana or tracing backend reads.

The MCP SDK already opens a SERVER span per MCP request (``tools/call send_message``). Here:

* a CLIENT span per Gloo HTTP request, a child of that span: ``POST /ai/v1/message`` with
  ``http.request.method``, ``url.template`` (the path; ids travel in the query and are never
  recorded), ``server.address``/``server.port``, ``http.response.status_code``, ``gloo.attempt``
  (1 for the first try; ``http.request.resend_count`` on a retry), ``gloo.backend`` and
  ``gen_ai.request.model`` when the caller named one; ``error.type`` when it failed;
* metrics, by their OpenTelemetry names (Prometheus names in brackets):

  - ``mcp.server.operation.duration`` (s) [``mcp_server_operation_duration_seconds``]: every MCP
    request or notification, by ``mcp.method.name``, ``gen_ai.tool.name`` or ``gen_ai.prompt.name``,
    ``mcp.protocol.version``, and ``error.type`` on failure (the JSON-RPC code, or ``tool_error``),
    following the OpenTelemetry MCP semantic conventions and their bucket boundaries;
  - ``gloo_mcp.server.in_flight`` [``gloo_mcp_server_in_flight``]: MCP requests being served now;
  - ``http.client.request.duration`` (s) [``http_client_request_duration_seconds``]: each Gloo HTTP
    request (token exchanges included) by method, ``url.template``, status and ``error.type``; its
    count is the count by status;
  - ``gloo_mcp.token.fetches`` [``gloo_mcp_token_fetches_total``]: client-credentials exchanges;
  - ``gloo_mcp.fair_use.refusals`` [``gloo_mcp_fair_use_refusals_total``]: calls refused before
    Gloo, by ``gloo_mcp.limit`` (``in_flight`` or ``per_minute``).

Nothing recorded carries content, tokens or secrets: no query text, answer, header, body or
full URL, and no principal (it would also be a label without bound). Labels taken from a
caller (method, tool and prompt names) are kept only when the server knows them, else ``_OTHER``.

Until :func:`configure` runs, gloo-mcp records through the API's global providers: no-ops
unless an application embedding gloo-mcp installed the SDK (then its pipeline gets these too).
The SDK (``opentelemetry-sdk``, the ``telemetry`` extra) is imported by :func:`configure` only,
never when this module is imported, so stdio start-up stays fast.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from functools import lru_cache
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import anyio
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult
from mcp_types import methods as mcp_methods
from mcp_types.version import KNOWN_PROTOCOL_VERSIONS
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import ValidationError

from gloo_mcp import __version__

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    import httpx2
    from mcp.server import MCPServer
    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
    from prometheus_client import CollectorRegistry
    from starlette.requests import Request
    from starlette.responses import Response

    from gloo_mcp.config import Settings

__all__ = [
    "DURATION_BUCKETS",
    "METRICS_PATH",
    "Telemetry",
    "activate",
    "configure",
    "current",
    "fair_use_refused",
    "instrument_server",
    "metrics_endpoint",
    "traced_gloo_request",
    "traced_token_fetch",
]

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
DURATION_BUCKETS: Final = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Seconds: the explicit bucket boundaries the MCP semantic conventions give ``mcp.*.operation.duration``.
Gloo requests use them too: an answer takes seconds to tens of seconds, past HTTP's default 10 s top bucket."""

OTHER: Final = "_OTHER"
_KNOWN_METHODS: Final = mcp_methods.SPEC_CLIENT_METHODS | mcp_methods.SPEC_CLIENT_NOTIFICATION_METHODS
_KNOWN_VERSIONS: Final = frozenset(KNOWN_PROTOCOL_VERSIONS)


class Telemetry:
    """The tracer and instruments gloo-mcp records with, from one tracer provider and one meter provider.

    ``prometheus``: the registry ``/metrics`` renders (None: that route answers 404 with the reason).
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        prometheus: CollectorRegistry | None = None,
    ) -> None:
        tracer_provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        meter_provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        self.tracer = tracer_provider.get_tracer("gloo_mcp", __version__)
        meter = meter_provider.get_meter("gloo_mcp", __version__)
        self.prometheus = prometheus
        self.operation_duration = meter.create_histogram(
            "mcp.server.operation.duration",
            unit="s",
            description="MCP request or notification duration as observed on the receiver from the time it was "
            "received until the result or ack is sent.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.in_flight: dict[tuple[tuple[str, Any], ...], int] = {}
        """Requests being served now, by their attributes: counted here, read by the SDK only when it collects."""
        meter.create_observable_up_down_counter(
            "gloo_mcp.server.in_flight",
            callbacks=[self._observe_in_flight],
            unit="{request}",
            description="MCP requests being served.",
        )
        self.gloo_duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP requests to Gloo, from sending to the end of the response body.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.token_fetches = meter.create_counter(
            "gloo_mcp.token.fetches", unit="{fetch}", description="Client-credentials token exchanges with Gloo."
        )
        self.fair_use_refusals = meter.create_counter(
            "gloo_mcp.fair_use.refusals",
            unit="{call}",
            description="Calls refused by the fair-use limits before they reached Gloo.",
        )

    def _observe_in_flight(self, _: metrics.CallbackOptions) -> list[metrics.Observation]:
        # An observable counter: a call costs two dict updates, not two trips through the SDK's aggregation.
        return [metrics.Observation(count, dict(key)) for key, count in list(self.in_flight.items())]


_active: Telemetry | None = None


def current() -> Telemetry:
    """The telemetry gloo-mcp records with now: the one :func:`activate`\\ d, else the API's global providers."""
    global _active
    if _active is None:
        _active = Telemetry()
    return _active


def activate(telemetry: Telemetry | None) -> Telemetry | None:
    """Record with ``telemetry`` from now on (None: the API's global providers again); returns the one before."""
    global _active
    previous, _active = _active, telemetry
    return previous


# --- MCP requests: the server middleware ------------------------------------------------------------


def instrument_server(server: MCPServer[Any]) -> None:
    """Record ``mcp.server.operation.duration`` and the requests in flight for every message ``server`` receives,
    and serve ``GET /metrics`` beside ``/mcp`` when it is served over HTTP (:func:`metrics_endpoint`).

    The middleware runs inside the SDK's own OpenTelemetry middleware, so its time is that request's.
    """
    server.middleware.append(_OperationMetrics(server))
    server.custom_route(METRICS_PATH, methods=["GET"], include_in_schema=False)(metrics_endpoint)


class _OperationMetrics:
    """Context-tier middleware (the SDK's ``ServerMiddleware``): one histogram point per inbound message."""

    def __init__(self, server: MCPServer[Any]) -> None:
        self._server = server
        self._tools: frozenset[str] | None = None
        self._prompts: frozenset[str] | None = None

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        telemetry = current()
        attributes = await self._attributes(ctx.method, ctx.params, ctx.protocol_version)
        in_flight, key = telemetry.in_flight, tuple(attributes.items())
        in_flight[key] = in_flight.get(key, 0) + 1
        started = time.perf_counter()
        try:
            result = await call_next(ctx)
            if ctx.method == "tools/call" and _is_tool_error(result):
                attributes["error.type"] = "tool_error"  # the conventions' value for an isError result
            return result
        except MCPError as error:
            attributes["error.type"] = attributes["rpc.response.status_code"] = str(error.error.code)
            raise
        except ValidationError:  # the SDK answers malformed params with -32602
            attributes["error.type"] = attributes["rpc.response.status_code"] = str(INVALID_PARAMS)
            raise
        except BaseException as error:
            attributes["error.type"] = _error_type(error)
            raise
        finally:
            telemetry.operation_duration.record(time.perf_counter() - started, attributes)
            in_flight[key] -= 1

    async def _attributes(self, method: str, params: Mapping[str, Any] | None, version: str) -> dict[str, Any]:
        attributes: dict[str, Any] = {"mcp.method.name": method if method in _KNOWN_METHODS else OTHER}
        if version in _KNOWN_VERSIONS:
            attributes["mcp.protocol.version"] = version
        name = params.get("name") if params else None
        if method == "tools/call":
            attributes["gen_ai.operation.name"] = "execute_tool"
            if isinstance(name, str):
                if self._tools is None:
                    self._tools = frozenset(tool.name for tool in await self._server.list_tools())
                attributes["gen_ai.tool.name"] = name if name in self._tools else OTHER
        elif method == "prompts/get" and isinstance(name, str):
            if self._prompts is None:
                self._prompts = frozenset(prompt.name for prompt in await self._server.list_prompts())
            attributes["gen_ai.prompt.name"] = name if name in self._prompts else OTHER
        return attributes


def _is_tool_error(result: object) -> bool:
    """Whether a ``tools/call`` result reaches the wire as an error (the shapes the SDK's own middleware checks)."""
    match result:
        case CallToolResult(is_error=True) | {"isError": True}:
            return True
    return False


def _error_type(error: BaseException) -> str:
    """A low-cardinality name for how a request ended: ``cancelled``, or the class of the error it reports."""
    if isinstance(error, anyio.get_cancelled_exc_class()):
        return "cancelled"
    reported = getattr(error, "error", None)  # the client's internal outcome wraps the GlooError it reports
    return type(reported if isinstance(reported, BaseException) else error).__name__


# --- Gloo HTTP requests: client spans and their metrics ------------------------------------------------


def traced_gloo_request(
    request: AbstractAsyncContextManager[httpx2.Response],
    settings: Settings,
    method: str,
    route: str,
    *,
    attempt: int,
    payload: Mapping[str, Any] | None = None,
) -> AbstractAsyncContextManager[httpx2.Response]:
    """``request`` (an ``AsyncClient.stream(...)``) in a CLIENT span, timed from sending to the end of its body.

    ``route`` is the path without its query (where ids travel); of ``payload`` only a string
    ``model`` is read, onto the span (a caller's model id has no bound, so it is no metric label).
    """
    attributes, span_attributes = _request_attributes(settings.base_url, settings.backend, method, route)
    span_attributes["gloo.attempt"] = attempt
    if attempt > 1:
        span_attributes["http.request.resend_count"] = attempt - 1
    model = payload.get("model") if payload is not None else None
    if isinstance(model, str):
        span_attributes["gen_ai.request.model"] = model
    return _TracedRequest(current(), request, f"{method} {route}", attributes, span_attributes, token_fetch=False)


def _request_attributes(base_url: str, backend: str, method: str, route: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fresh copies of a Gloo request's metric attributes and span attributes (built once per route)."""
    metric, span = _base_attributes(base_url, backend, method, route)
    return dict(metric), dict(span)


@lru_cache(maxsize=64)
def _base_attributes(base_url: str, backend: str, method: str, route: str) -> tuple[dict[str, Any], dict[str, Any]]:
    address, port = _origin(base_url)
    metric = {"http.request.method": method, "url.template": route, "server.address": address, "server.port": port}
    return metric, {**metric, "gloo.backend": backend}


def traced_token_fetch(
    request: AbstractAsyncContextManager[httpx2.Response], token_url: str
) -> AbstractAsyncContextManager[httpx2.Response]:
    """A client-credentials exchange (``request``, a POST to ``token_url``): its span, its timing, one token fetch."""
    address, port = _origin(token_url)
    route = urlsplit(token_url).path or "/"
    attributes: dict[str, Any] = {
        "http.request.method": "POST",
        "url.template": route,
        "server.address": address,
        "server.port": port,
    }
    return _TracedRequest(current(), request, f"POST {route}", attributes, dict(attributes), token_fetch=True)


@lru_cache(maxsize=16)
def _origin(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


class _TracedRequest:
    """Wraps one ``AsyncClient.stream`` context: a span from sending to the end of the body, and its metrics."""

    __slots__ = ("_attributes", "_name", "_request", "_span", "_span_attributes", "_started", "_telemetry", "_token")

    def __init__(
        self,
        telemetry: Telemetry,
        request: AbstractAsyncContextManager[httpx2.Response],
        name: str,
        attributes: dict[str, Any],
        span_attributes: dict[str, Any],
        *,
        token_fetch: bool,
    ) -> None:
        self._telemetry = telemetry
        self._request = request
        self._name = name
        self._attributes = attributes
        self._span_attributes = span_attributes
        self._token = token_fetch
        self._span: trace.Span = trace.INVALID_SPAN
        self._started = 0.0

    async def __aenter__(self) -> httpx2.Response:
        # The current span, the SDK's span for this MCP request, is the parent.
        self._span = self._telemetry.tracer.start_span(
            self._name, kind=SpanKind.CLIENT, attributes=self._span_attributes
        )
        self._started = time.perf_counter()
        try:
            response = await self._request.__aenter__()
        except BaseException as error:
            self._end(_error_type(error))
            raise
        status = response.status_code
        self._attributes["http.response.status_code"] = status
        self._span.set_attribute("http.response.status_code", status)
        return response

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> bool | None:
        try:
            return await self._request.__aexit__(kind, error, traceback)
        finally:
            status = self._attributes.get("http.response.status_code", 0)
            # An error status names the failure even when the block then raised the error it maps to.
            self._end(str(status) if status >= 400 else _error_type(error) if error is not None else None)

    def _end(self, error_type: str | None) -> None:
        duration = time.perf_counter() - self._started
        span, telemetry = self._span, self._telemetry
        if error_type is not None:
            self._attributes["error.type"] = error_type
            span.set_attribute("error.type", error_type)
            span.set_status(StatusCode.ERROR)
        span.end()
        telemetry.gloo_duration.record(duration, self._attributes)
        if self._token:
            telemetry.token_fetches.add(1, {"error.type": error_type} if error_type is not None else None)


# --- fair use ----------------------------------------------------------------------------------------


def fair_use_refused(limit: str) -> None:
    """Count one call refused by the fair-use ``limit`` (``in_flight`` or ``per_minute``) before it reached Gloo."""
    current().fair_use_refusals.add(1, {"gloo_mcp.limit": limit})


# --- export: Prometheus text on /metrics, OTLP by the OTEL_* variables ---------------------------------


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics``: the Prometheus exposition (text, or OpenMetrics when the scraper asks for it).

    404 with the reason when this server exports no metrics here.
    """
    from starlette.responses import PlainTextResponse, Response

    registry = current().prometheus
    if registry is None:
        return PlainTextResponse(
            "This server serves no metrics: install gloo-mcp[telemetry] and leave OTEL_SDK_DISABLED unset.\n",
            status_code=404,
        )
    from prometheus_client.exposition import choose_encoder

    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry), headers={"Content-Type": content_type})


def configure(environ: Mapping[str, str], *, prometheus: bool) -> list[str]:
    """Install the OpenTelemetry SDK as the ``OTEL_*`` variables ask; what it turned on, in words for the log.

    OTLP over HTTP for traces and metrics when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or a signal's own
    ``…_TRACES_ENDPOINT``/``…_METRICS_ENDPOINT``) is set; the SDK's exporters and providers read
    the other standard variables themselves (headers, timeout, sampler, export interval,
    ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``). ``OTEL_TRACES_EXPORTER``/``OTEL_METRICS_EXPORTER``
    ``=none`` turn one signal off, ``OTEL_SDK_DISABLED=true`` all of it. ``prometheus``: keep a
    registry for ``/metrics`` (the HTTP server). Without the ``telemetry`` extra nothing is
    installed, and a warning says so when OTLP was asked for.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    traces, otlp_metrics = _otlp_wanted(environ, "TRACES"), _otlp_wanted(environ, "METRICS")
    if not (traces or otlp_metrics or prometheus):
        return []
    try:  # every module needed, before anything is installed: a missing one leaves telemetry off, not half on
        from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
        from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if traces:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        if otlp_metrics:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        if prometheus:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import CollectorRegistry, ProcessCollector
    except ImportError as missing:
        (logger.warning if traces or otlp_metrics else logger.info)(
            "telemetry is off: %s is not installed; install gloo-mcp[telemetry] to export traces and metrics.",
            missing.name or "the OpenTelemetry SDK",
        )
        return []
    resource = Resource.create({"service.version": __version__})
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "gloo-mcp"}))
    done: list[str] = []
    tracer_provider = None
    if traces:
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(tracer_provider)  # the SDK's own request spans go through the global one
        done.append("traces over OTLP")
    readers: list[MetricReader] = []
    registry = None
    if prometheus:
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # process_cpu_seconds_total, process_resident_memory_bytes, …
        readers.append(PrometheusMetricReader(registry=registry))
        done.append(f"Prometheus metrics on {METRICS_PATH}")
    if otlp_metrics:
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        done.append("metrics over OTLP")
    # Exemplars (a trace id on a histogram point) reach a backend only over OTLP, beside exported traces;
    # otherwise sampling them costs every measurement for nothing. OTEL_METRICS_EXEMPLAR_FILTER still decides.
    exemplars = None
    if not (traces and otlp_metrics) and not environ.get("OTEL_METRICS_EXEMPLAR_FILTER"):
        exemplars = AlwaysOffExemplarFilter()
    meter_provider = MeterProvider(resource=resource, metric_readers=readers, exemplar_filter=exemplars)
    metrics.set_meter_provider(meter_provider)
    activate(Telemetry(tracer_provider, meter_provider, prometheus=registry))
    return done


def _otlp_wanted(environ: Mapping[str, str], signal: str) -> bool:
    """Whether ``signal`` (TRACES or METRICS) is to be exported over OTLP/HTTP; a warning when it cannot be."""
    endpoint = environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint or not endpoint.strip():
        return False
    exporters = {name.strip().lower() for name in environ.get(f"OTEL_{signal}_EXPORTER", "otlp").split(",")}
    if "otlp" not in exporters:
        if exporters - {"none", ""}:
            logger.warning(
                "OTEL_%s_EXPORTER=%s: gloo-mcp exports over OTLP only; %s are not exported.",
                signal,
                ",".join(sorted(exporters)),
                signal.lower(),
            )
        return False
    protocol = (
        environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip()
    if protocol not in ("", "http/protobuf"):
        logger.warning(
            "OTEL_EXPORTER_OTLP_PROTOCOL=%s: gloo-mcp[telemetry] exports OTLP over HTTP (http/protobuf, usually port "
            "4318) only; %s are not exported.",
            protocol,
            signal.lower(),
        )
        return False
    return True
