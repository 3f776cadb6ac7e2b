"""Telemetry leaving real processes (marker ``load``): a real Prometheus on ``/metrics``, OTLP over HTTP, JSON logs.

Every server here is the real ``gloo-mcp`` command against the simulator on loopback; the
Prometheus is Debian's (``/usr/bin/prometheus``, which ``.ci/run`` installs), started with a
temporary configuration that scrapes the server every second, and read through its HTTP API.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from gloo_mcp.simulator import SimulatorState, running_simulator
from tests.conftest import free_port
from tests.test_http import http_client

pytestmark = pytest.mark.load

QUERY = "How should I forgive my neighbour Bartholomew for the fence?"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
BY_METHOD_TOOL_AND_ERROR = (
    "sum by (mcp_method_name, gen_ai_tool_name, error_type) (mcp_server_operation_duration_seconds_count)"
)


def _server_env(sim_url: str, sim: SimulatorState, data: Path, **extra: str) -> dict[str, str]:
    """A server's whole environment: client credentials (so a token is fetched), a store of its own."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "GLOO_BASE_URL": sim_url,
        "GLOO_CLIENT_ID": sim.client_id,
        "GLOO_CLIENT_SECRET": sim.client_secret,
        "XDG_DATA_HOME": str(data),
        **extra,
    }


@contextmanager
def http_server(env: dict[str, str], stderr: Path) -> Iterator[str]:
    """``gloo-mcp serve --transport streamable-http`` on a free loopback port; yields its base URL once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "gloo_mcp", "serve", "--transport", "streamable-http", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with stderr.open("w") as errors, subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors) as p:
        try:
            _wait_until(lambda: _answers(f"{base}/health"), 30, lambda: f"gloo-mcp did not start: {stderr.read_text()}")
            yield base
        finally:
            p.terminate()
            p.wait(timeout=30)


@contextmanager
def prometheus_scraping(target: str, tmp_path: Path) -> Iterator[str]:
    """Debian's Prometheus scraping ``target`` (host:port) every second; yields the base URL of its HTTP API."""
    if not Path(PROMETHEUS).exists() and not os.environ.get("GLOO_MCP_NO_SKIPS"):
        pytest.skip("Debian's prometheus is not installed (apt-get install prometheus; .ci/run installs it)")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: gloo-mcp\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    port = free_port()
    command = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    log = tmp_path / "prometheus.log"
    with log.open("w") as errors, subprocess.Popen(command, stdout=errors, stderr=errors) as process:
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until(lambda: _answers(f"{base}/-/ready"), 30, lambda: f"prometheus did not start: {log.read_text()}")
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx2.get(url, timeout=2).status_code == 200
    except httpx2.TransportError:
        return False


def _wait_until(done: Any, seconds: float, why: Any) -> None:
    """Poll ``done()`` until it is true; fail with ``why()`` after ``seconds`` (processes have no event to await)."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(why())
        time.sleep(0.1)


def _query(prometheus: str, promql: str) -> dict[tuple[tuple[str, str], ...], float]:
    """An instant PromQL query through Prometheus' HTTP API: each series' labels and value."""
    answer = httpx2.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert answer["status"] == "success", answer
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in answer["data"]["result"]}


async def test_a_real_prometheus_scrapes_the_mcp_operation_histogram_by_method_tool_and_error_type(
    tmp_path: Path,
) -> None:
    sim = SimulatorState()
    with running_simulator(sim) as sim_url:
        env = _server_env(sim_url, sim, tmp_path / "data")
        with http_server(env, tmp_path / "server.log") as base:
            async with http_client(f"{base}/mcp") as client:
                for question in ("What is grace?", "What is hope?", "What is love?"):
                    assert not (await client.call_tool("send_message", {"query": question})).is_error
                failed = await client.call_tool("continue_chat", {"chat_id": "c-not-a-chat", "query": "And?"})
                assert failed.is_error
            target = base.removeprefix("http://")
            with prometheus_scraping(target, tmp_path) as prometheus:
                calls = ("mcp_method_name", "tools/call")
                wanted = {
                    (("gen_ai_tool_name", "send_message"), calls): 3.0,
                    (("error_type", "tool_error"), ("gen_ai_tool_name", "continue_chat"), calls): 1.0,
                }
                seen: dict[tuple[tuple[str, str], ...], float] = {}

                def scraped() -> bool:
                    nonlocal seen
                    seen = _query(prometheus, BY_METHOD_TOOL_AND_ERROR)
                    return all(seen.get(labels) == value for labels, value in wanted.items())

                _wait_until(scraped, 30, lambda: f"Prometheus has {seen}, not {wanted}")
                buckets = _query(
                    prometheus,
                    'sum by (le) (mcp_server_operation_duration_seconds_bucket{gen_ai_tool_name="send_message"})',
                )
                assert {dict(labels)["le"] for labels in buckets} >= {"0.01", "1.0", "300.0", "+Inf"}
                gloo = _query(
                    prometheus,
                    "sum by (url_template, http_response_status_code) (http_client_request_duration_seconds_count)",
                )
                assert gloo[(("http_response_status_code", "200"), ("url_template", "/ai/v1/message"))] == 3.0
                assert gloo[(("http_response_status_code", "404"), ("url_template", "/ai/v1/message"))] == 1.0
                assert _query(prometheus, "sum(gloo_mcp_token_fetches_total)") == {(): 1.0}
                assert _query(prometheus, 'up{job="gloo-mcp"}') != {}


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps each POST body by path, answers 200 (an empty protobuf response)."""

    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def otlp_collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    received: list[tuple[str, bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


async def test_a_stdio_server_exports_its_spans_and_metrics_over_otlp_to_the_standard_endpoint(tmp_path: Path) -> None:
    sim = SimulatorState()
    with running_simulator(sim) as sim_url, otlp_collector() as (endpoint, received):
        env = _server_env(
            sim_url,
            sim,
            tmp_path / "data",
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_BSP_SCHEDULE_DELAY="100",
            OTEL_METRIC_EXPORT_INTERVAL="200",
        )
        params = StdioServerParameters(command=sys.executable, args=["-m", "gloo_mcp"], env=env)
        async with Client(params) as client:
            assert not (await client.call_tool("send_message", {"query": QUERY})).is_error
        # the server flushes what it holds as it exits (the SDK's providers shut down at exit)
        _wait_until(
            lambda: {path for path, _ in received} >= {"/v1/traces", "/v1/metrics"},
            30,
            lambda: f"the collector received {[path for path, _ in received]}",
        )
    spans = {}
    for path, body in received:
        if path == "/v1/traces":
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
                assert service == "gloo-mcp"
                for scope in resource.scope_spans:
                    spans.update({span.name: span for span in scope.spans})
    server, message = spans["tools/call send_message"], spans["POST /ai/v1/message"]
    assert message.parent_span_id == server.span_id and message.trace_id == server.trace_id
    assert spans["POST /oauth2/token"].parent_span_id == server.span_id
    exported = b"".join(body for _, body in received)
    assert b"mcp.server.operation.duration" in exported and b"http.client.request.duration" in exported
    (token,) = sim.tokens
    for secret in (QUERY, "Bartholomew", token, sim.client_secret):
        assert secret.encode() not in exported


async def test_json_logs_put_every_stderr_line_of_the_http_server_audit_lines_included_in_one_json_stream(
    tmp_path: Path,
) -> None:
    sim = SimulatorState()
    stderr = tmp_path / "server.log"
    with running_simulator(sim) as sim_url:
        env = _server_env(sim_url, sim, tmp_path / "data", GLOO_MCP_LOG_FORMAT="json", GLOO_MCP_LOG_LEVEL="INFO")
        with http_server(env, stderr) as base:
            async with http_client(f"{base}/mcp") as client:
                assert not (await client.call_tool("send_message", {"query": QUERY})).is_error
                assert (await client.call_tool("continue_chat", {"chat_id": "c-gone", "query": "Hm?"})).is_error
    lines = [line for line in stderr.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line, or this fails naming the one that is not JSON
    events = [(entry["event"], entry.get("tool"), entry.get("outcome")) for entry in entries]
    assert ("tool_call", "send_message", "ok") in events and (
        "tool_call",
        "continue_chat",
        "ChatNotFoundError",
    ) in events
    said = [entry["message"] for entry in entries if entry["event"] == "log"]
    assert any(message.startswith("gloo-mcp: Streamable HTTP on http://127.0.0.1:") for message in said)
    assert any(message.startswith("telemetry: Prometheus metrics on /metrics") for message in said)
    assert all({"at", "level", "logger"} <= entry.keys() for entry in entries if entry["event"] == "log")
    text = stderr.read_text()
    assert QUERY not in text and sim.client_secret not in text
