"""Telemetry in process: the SDK's span per MCP request, a Gloo client span as its child, the MCP metrics.

Spans are read from the OpenTelemetry SDK's InMemorySpanExporter behind the global tracer
provider (the SDK's own spans go through it; it can be set once per process), metrics from
an InMemoryMetricReader on a meter provider of each test's own.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError
from opentelemetry import trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from gloo_mcp import telemetry
from gloo_mcp.access.fair_use import FairUse
from gloo_mcp.cli.json_logs import JsonLines, json_line
from gloo_mcp.gloo.retry import RetryPolicy
from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from gloo_mcp.simulator.completions import MODELS
from gloo_mcp.simulator.state import Fault
from gloo_mcp.telemetry import METRICS_PATH, configure
from gloo_mcp.transports.http_app import HttpOptions, build_http_app
from tests.conftest import mcp_session, sim_settings, sim_transport

QUERY = "What does the parable of the prodigal son say about my brother Jeremiah?"


@dataclass
class Recorded:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        return [
            point
            for resource in (data.resource_metrics if data is not None else [])
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def histogram(self, name: str, **attributes: object) -> list[HistogramDataPoint]:
        return [p for p in self.points(name) if _matches(p.attributes, attributes)]

    def total(self, name: str, **attributes: object) -> float:
        return sum(
            p.value for p in self.points(name) if isinstance(p, NumberDataPoint) and _matches(p.attributes, attributes)
        )


def _matches(actual: Mapping[str, object] | None, wanted: dict[str, object]) -> bool:
    """Whether a point's attributes hold ``wanted`` (keyword names: ``__`` for each dot)."""
    got = dict(actual or {})
    return all(got.get(key.replace("__", ".")) == value for key, value in wanted.items())


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    """The process's global tracer provider, with an in-memory exporter (set once: the API allows no second)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    assert trace.get_tracer_provider() is provider, "another test set the global tracer provider first"
    return exporter


@pytest.fixture
def recorded(span_exporter: InMemorySpanExporter) -> Iterator[Recorded]:
    span_exporter.clear()
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    previous = telemetry.activate(telemetry.Telemetry(trace.get_tracer_provider(), meter_provider))
    try:
        yield Recorded(span_exporter, reader)
    finally:
        telemetry.activate(previous)
        meter_provider.shutdown()
        span_exporter.clear()


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [span for span in spans if span.parent is not None and span.parent.span_id == parent.context.span_id]


def _everything_said(span: ReadableSpan) -> str:
    """All a span would export: its name, attributes, events and status, as one text to search."""
    events = [(event.name, dict(event.attributes or {})) for event in span.events]
    return json.dumps([span.name, dict(span.attributes or {}), events, span.status.description], default=str)


async def test_a_send_message_is_the_sdks_server_span_with_gloo_client_spans_as_children_carrying_no_content_or_secret(
    recorded: Recorded,
) -> None:
    sim = SimulatorState()
    async with mcp_session(sim) as client:  # client credentials: the first call exchanges them for a token
        result = await client.call_tool("send_message", {"query": QUERY})
    assert not result.is_error
    spans = recorded.finished()
    server = _one(spans, "tools/call send_message")
    assert server.kind is SpanKind.SERVER
    assert server.attributes is not None and server.attributes["gen_ai.tool.name"] == "send_message"

    children = {span.name: span for span in _children(spans, server)}
    assert set(children) == {"POST /oauth2/token", "POST /ai/v1/message"}
    message = children["POST /ai/v1/message"]
    assert message.kind is SpanKind.CLIENT and message.context.trace_id == server.context.trace_id
    assert dict(message.attributes or {}) == {
        "http.request.method": "POST",
        "url.template": "/ai/v1/message",
        "server.address": "gloo.simulator.test",
        "server.port": 443,
        "gloo.backend": "message",
        "gloo.attempt": 1,
        "http.response.status_code": 200,
    }
    assert children["POST /oauth2/token"].attributes == {
        "http.request.method": "POST",
        "url.template": "/oauth2/token",
        "server.address": "gloo.simulator.test",
        "server.port": 443,
        "http.response.status_code": 200,
    }

    (token,) = sim.tokens
    answer = result.content[0].text  # type: ignore[union-attr]
    secrets = [QUERY, "prodigal", token, sim.client_secret, sim.client_id, answer[:40], "chat_id", "Bearer"]
    for span in spans:
        said = _everything_said(span)
        assert not [secret for secret in secrets if secret in said], span.name
    assert recorded.total("gloo_mcp.token.fetches") == 1


async def test_the_operation_histogram_has_a_point_per_method_and_tool_with_error_type_on_failures(
    recorded: Recorded,
) -> None:
    sim = SimulatorState()
    async with mcp_session(sim) as client:
        assert not (await client.call_tool("send_message", {"query": "What is grace?"})).is_error
        assert not (await client.call_tool("send_message", {"query": "What is hope?"})).is_error
        unknown_chat = await client.call_tool("continue_chat", {"chat_id": "c-no-such-chat", "query": "And then?"})
        assert unknown_chat.is_error
        assert (await client.call_tool("no_such_tool", {})).is_error
        with pytest.raises(MCPError, match="question must be"):
            await client.get_prompt("ask_gloo", {"question": "?" * 10_001})

    ok = recorded.histogram(
        "mcp.server.operation.duration", mcp__method__name="tools/call", gen_ai__tool__name="send_message"
    )
    assert len(ok) == 1 and ok[0].count == 2 and ok[0].sum > 0
    assert "error.type" not in ok[0].attributes
    assert ok[0].attributes["gen_ai.operation.name"] == "execute_tool"
    assert list(ok[0].explicit_bounds) == list(telemetry.DURATION_BUCKETS)

    (failed,) = recorded.histogram("mcp.server.operation.duration", gen_ai__tool__name="continue_chat")
    assert failed.count == 1 and failed.attributes["error.type"] == "tool_error"
    # a name the server does not know is no label of its own (a caller could otherwise mint series without end)
    (unknown_tool,) = recorded.histogram("mcp.server.operation.duration", gen_ai__tool__name="_OTHER")
    assert unknown_tool.attributes["error.type"] == "tool_error"
    (refused_prompt,) = recorded.histogram("mcp.server.operation.duration", mcp__method__name="prompts/get")
    assert refused_prompt.attributes["gen_ai.prompt.name"] == "ask_gloo"
    assert refused_prompt.attributes["error.type"] == refused_prompt.attributes["rpc.response.status_code"] == "-32602"

    gloo = recorded.histogram("http.client.request.duration", url__template="/ai/v1/message")
    by_status = {point.attributes["http.response.status_code"]: point.count for point in gloo}
    assert by_status == {200: 2, 404: 1}
    assert next(p for p in gloo if p.attributes["http.response.status_code"] == 404).attributes["error.type"] == "404"
    assert recorded.total("gloo_mcp.server.in_flight") == 0


async def test_a_retried_gloo_request_is_one_client_span_per_attempt_each_with_its_status(recorded: Recorded) -> None:
    sim = SimulatorState()
    sim.inject("message", Fault(status=503))

    async def no_wait(_: float) -> None:
        return None

    async with mcp_session(sim, retry=RetryPolicy(sleep=no_wait, random=lambda: 0.5)) as client:
        assert not (await client.call_tool("send_message", {"query": "What is peace?"})).is_error
    spans = recorded.finished()
    server = _one(spans, "tools/call send_message")
    attempts = sorted(
        (s for s in _children(spans, server) if s.name == "POST /ai/v1/message"),
        key=lambda s: s.start_time or 0,
    )
    assert [(s.attributes or {}).get("gloo.attempt") for s in attempts] == [1, 2]
    first, second = (dict(s.attributes or {}) for s in attempts)
    assert (first["http.response.status_code"], first["error.type"]) == (503, "503")
    assert attempts[0].status.status_code is trace.StatusCode.ERROR
    assert (second["http.response.status_code"], second["http.request.resend_count"]) == (200, 1)
    assert "error.type" not in second
    counts = {
        p.attributes["http.response.status_code"]: p.count
        for p in recorded.histogram("http.client.request.duration", url__template="/ai/v1/message")
    }
    assert counts == {503: 1, 200: 1}


async def test_a_completions_call_names_the_chosen_model_on_its_span_but_never_as_a_metric_label(
    recorded: Recorded,
) -> None:
    sim = SimulatorState()
    model = str(MODELS[0]["id"])
    async with mcp_session(sim, backend="completions") as client:
        result = await client.call_tool("send_message", {"query": "What is faith?", "model": model})
    assert not result.is_error, result.content
    spans = recorded.finished()
    answer = min((s for s in spans if s.name == "POST /ai/v2/chat/completions"), key=lambda s: s.start_time or 0)
    attributes = dict(answer.attributes or {})
    assert attributes["gen_ai.request.model"] == model and attributes["gloo.backend"] == "completions"
    for point in recorded.points("http.client.request.duration"):
        assert "gen_ai.request.model" not in point.attributes


async def test_fair_use_refusals_are_counted_by_the_limit_that_refused_them(recorded: Recorded) -> None:
    sim = SimulatorState()
    server = build_server(sim_settings(sim), transport=sim_transport(sim), fair_use=FairUse(per_minute=1, in_flight=0))
    async with Client(server) as client:  # type: ignore[arg-type]
        assert not (await client.call_tool("list_chats", {})).is_error
        refused = await client.call_tool("list_chats", {})
    assert refused.is_error and "in the last minute" in refused.content[0].text  # type: ignore[union-attr]
    assert recorded.total("gloo_mcp.fair_use.refusals", gloo_mcp__limit="per_minute") == 1
    assert recorded.total("gloo_mcp.fair_use.refusals", gloo_mcp__limit="in_flight") == 0


async def test_a_call_in_flight_counts_while_gloo_answers_and_no_longer_once_it_has(recorded: Recorded) -> None:
    sim = SimulatorState()
    sim.inject("message", Fault(delay=0.5))
    tool_calls = {"mcp__method__name": "tools/call", "gen_ai__tool__name": "send_message"}
    seen_in_flight = 0.0
    async with mcp_session(sim) as client, anyio.create_task_group() as tasks:
        tasks.start_soon(client.call_tool, "send_message", {"query": "What is patience?"})
        with anyio.fail_after(10):
            while (seen_in_flight := recorded.total("gloo_mcp.server.in_flight", **tool_calls)) < 1:  # noqa: ASYNC110
                await anyio.sleep(0.01)  # polls the metric itself, as a scraper would: there is no event to wait on
    assert seen_in_flight == 1
    assert recorded.total("gloo_mcp.server.in_flight", **tool_calls) == 0


async def test_metrics_on_the_http_server_are_prometheus_text_under_the_conventions_names(
    recorded: Recorded,
) -> None:
    registry = CollectorRegistry()
    reader = PrometheusMetricReader(registry=registry)
    meter_provider = MeterProvider(metric_readers=[reader])
    previous = telemetry.activate(telemetry.Telemetry(meter_provider=meter_provider, prometheus=registry))
    try:
        sim = SimulatorState()
        settings = sim_settings(sim)
        server = build_server(settings, transport=sim_transport(sim))
        app = build_http_app(server, settings, HttpOptions())
        async with mcp_session(sim) as client:
            assert (await client.call_tool("continue_chat", {"chat_id": "c-gone", "query": "Still there?"})).is_error
        # the session above ran on its own server: the HTTP app's route reads the same (active) telemetry
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            text = await http.get(METRICS_PATH)
            openmetrics = await http.get(
                METRICS_PATH, headers={"Accept": "application/openmetrics-text; version=1.0.0"}
            )
    finally:
        telemetry.activate(previous)
        meter_provider.shutdown()
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    body = text.text
    assert "# TYPE mcp_server_operation_duration_seconds histogram" in body
    line = next(
        line
        for line in body.splitlines()
        if line.startswith("mcp_server_operation_duration_seconds_count{")
        and 'gen_ai_tool_name="continue_chat"' in line
    )
    assert 'mcp_method_name="tools/call"' in line and 'error_type="tool_error"' in line and line.endswith(" 1.0")
    assert "http_client_request_duration_seconds_count{" in body and 'http_response_status_code="404"' in body
    assert openmetrics.status_code == 200 and openmetrics.text.rstrip().endswith("# EOF")
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")


async def test_metrics_say_why_they_are_absent_when_nothing_exports_them(recorded: Recorded) -> None:
    sim = SimulatorState()
    settings = sim_settings(sim)
    app = build_http_app(build_server(settings, transport=sim_transport(sim)), settings, HttpOptions())
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        response = await http.get(METRICS_PATH)
    assert response.status_code == 404
    (sentence,) = response.text.strip().splitlines()
    assert "gloo-mcp[telemetry]" in sentence and "OTEL_SDK_DISABLED" in sentence


@pytest.mark.parametrize(
    ("environ", "warning"),
    [
        ({}, None),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none",
          "OTEL_METRICS_EXPORTER": "none"}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
         "exports OTLP over HTTP (http/protobuf, usually port 4318) only"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "zipkin",
          "OTEL_METRICS_EXPORTER": "none"}, "gloo-mcp exports over OTLP only"),
    ],
)  # fmt: skip
def test_nothing_is_installed_unless_asked_and_an_export_it_cannot_make_is_named(
    environ: dict[str, str], warning: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gloo_mcp.telemetry"):
        assert configure(environ, prometheus=False) == []
    said = [record.getMessage() for record in caplog.records]
    assert (warning is None and said == []) or (warning is not None and len(said) >= 1 and warning in said[0])


def test_importing_the_server_and_serving_stdio_without_otel_variables_loads_no_opentelemetry_sdk() -> None:
    program = (
        "import sys\n"
        "import gloo_mcp.cli.main, gloo_mcp.server, gloo_mcp.transports.http_app\n"
        "from gloo_mcp.telemetry import configure\n"
        "assert configure({}, prometheus=False) == []\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'prometheus_client'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_a_json_log_line_carries_level_logger_message_and_the_trace_it_was_written_in(
    span_exporter: InMemorySpanExporter,
) -> None:
    record = logging.LogRecord("gloo_mcp.client", logging.INFO, __file__, 1, "attempt %d failed", (2,), None)
    with trace.get_tracer("test").start_as_current_span("tools/call send_message") as span:
        line = JsonLines().format(record)
    entry = json.loads(line)
    context = span.get_span_context()
    assert entry == {
        "at": round(record.created, 3),
        "event": "log",
        "level": "INFO",
        "logger": "gloo_mcp.client",
        "message": "attempt 2 failed",
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
    }
    assert "trace_id" not in json.loads(JsonLines().format(record))  # outside a span: no trace to name
    said = json.loads(json_line("gloo-mcp: Streamable HTTP on http://127.0.0.1:8000/mcp"))
    assert said["event"] == "log" and said["message"].startswith("gloo-mcp: Streamable HTTP")


def test_without_the_telemetry_extra_nothing_is_installed_and_an_otlp_endpoint_is_named_in_a_warning() -> None:
    program = (
        "import logging, sys\n"
        "sys.modules['opentelemetry.sdk'] = None  # as if the telemetry extra were not installed\n"
        "logging.basicConfig(format='%(levelname)s %(message)s')\n"
        "from gloo_mcp.telemetry import configure, current\n"
        "print(configure({'OTEL_EXPORTER_OTLP_ENDPOINT': 'http://127.0.0.1:4318'}, prometheus=True))\n"
        "print(current().prometheus)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["[]", "None"]
    (warning,) = done.stderr.strip().splitlines()
    assert warning.startswith("WARNING telemetry is off:") and "gloo-mcp[telemetry]" in warning
