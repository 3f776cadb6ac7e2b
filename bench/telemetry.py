"""What telemetry costs a tool call: the same ``send_message`` on a server with telemetry on and one with it off.

Off is ``OTEL_SDK_DISABLED=true``: the OpenTelemetry API's no-op providers, nothing exported.
On is everything an operator turns on: the SDK's span per MCP request and gloo-mcp's span per
Gloo request exported over OTLP/HTTP (batched) to a collector on loopback, metrics exported
over OTLP too, and on HTTP the Prometheus registry behind ``/metrics``, scraped every second
as Prometheus would. Both servers run side by side against the same simulator and take calls
in turn, so drift on the machine hits both alike; per transport (stdio through a raw JSON-RPC
client, Streamable HTTP through raw POSTs) the figures are the median wall time per call and
the server's CPU time per call (user + system, from /proc), on against off.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx2

from bench.process import GLOO_COMMAND, server_env
from bench.raw_session import RawStdioSession
from gloo_mcp.simulator import SimulatorState

__all__ = ["TelemetryOverhead", "TransportOverhead", "measure_telemetry_overhead"]

QUERY = "How do I find meaning in hard times?"
TARGET_PERCENT = 3.0
_HTTP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}


@dataclass(frozen=True)
class TransportOverhead:
    transport: str
    calls: int
    off_ms: list[float]
    on_ms: list[float]
    off_cpu_ms_per_call: float
    on_cpu_ms_per_call: float
    errors: int
    sampled_ms: list[float] | None = None  # on, with 1 trace in 10 sampled (OTEL_TRACES_SAMPLER); stdio only
    sampled_cpu_ms_per_call: float | None = None
    metrics_only_ms: list[float] | None = None  # Prometheus on /metrics alone, the HTTP server's default; HTTP only
    metrics_only_cpu_ms_per_call: float | None = None

    @property
    def off_median_ms(self) -> float:
        return statistics.median(self.off_ms)

    @property
    def on_median_ms(self) -> float:
        return statistics.median(self.on_ms)

    @property
    def wall_percent(self) -> float:
        """Median per-call time with telemetry on over off, as a percentage added."""
        return (self.on_median_ms / self.off_median_ms - 1) * 100

    @property
    def cpu_percent(self) -> float:
        return (self.on_cpu_ms_per_call / self.off_cpu_ms_per_call - 1) * 100

    @property
    def sampled_percent(self) -> float | None:
        if not self.sampled_ms:
            return None
        return (statistics.median(self.sampled_ms) / self.off_median_ms - 1) * 100

    @property
    def metrics_only_percent(self) -> float | None:
        if not self.metrics_only_ms:
            return None
        return (statistics.median(self.metrics_only_ms) / self.off_median_ms - 1) * 100


@dataclass(frozen=True)
class TelemetryOverhead:
    stdio: TransportOverhead
    http: TransportOverhead
    cost_off_us: float  # CPU per tools/call with one Gloo request, in process: the API's no-ops
    cost_metrics_us: float  # the same with metrics only (the HTTP server's default: Prometheus on /metrics)
    cost_on_us: float  # the same with spans too (batched for OTLP, as OTEL_EXPORTER_OTLP_ENDPOINT turns on)
    spans_exported: int  # OTLP requests the collector received: proof the "on" servers really exported
    metric_exports: int
    scrapes: int


def _environments(url: str, sim: SimulatorState, collector: str) -> tuple[dict[str, str], dict[str, str]]:
    # no fair-use limits: the benchmark is one principal making hundreds of calls a minute
    gloo = {
        "GLOO_BASE_URL": url,
        "GLOO_API_KEY": sim.api_key,
        "GLOO_MCP_CALLS_PER_MINUTE": "0",
        "GLOO_MCP_CALLS_IN_FLIGHT": "0",
    }
    off = server_env({**gloo, "OTEL_SDK_DISABLED": "true"})
    on = server_env(
        {
            **gloo,
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector,
            "OTEL_METRIC_EXPORT_INTERVAL": "5000",  # more often than the SDK's 60 s: the cost shows within the run
        }
    )
    return off, on


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Collector(BaseHTTPRequestHandler):
    counts: dict[str, int]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.counts[self.path] = self.counts.get(self.path, 0) + 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def _otlp_collector() -> Iterator[tuple[str, dict[str, int]]]:
    """An OTLP/HTTP endpoint on loopback that accepts and counts every export."""
    counts: dict[str, int] = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Collector", (_Collector,), {"counts": counts}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", counts
    finally:
        server.shutdown()
        server.server_close()


async def _interleaved(
    servers: dict[str, Callable[[], Awaitable[bool]]], calls: int
) -> tuple[dict[str, list[float]], int]:
    """Call each server in turn, call by call, rotating which goes first; milliseconds per call, and errors."""
    timings: dict[str, list[float]] = {name: [] for name in servers}
    names = list(servers)
    errors = 0
    for index in range(calls):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            started = time.perf_counter()
            ok = await servers[name]()
            timings[name].append((time.perf_counter() - started) * 1000)
            errors += not ok
    return timings, errors


async def _timed(
    transport: str, servers: dict[str, tuple[int, Callable[[], Awaitable[bool]]]], calls: int, warmup: int
) -> TransportOverhead:
    """Warm every server up, then time them interleaved, with each one's CPU time over the timed calls."""
    for _ in range(warmup):
        for _, call in servers.values():
            await call()
    before = {name: _cpu_seconds(pid) for name, (pid, _) in servers.items()}
    timings, errors = await _interleaved({name: call for name, (_, call) in servers.items()}, calls)
    cpu = {name: (_cpu_seconds(pid) - before[name]) * 1000 / calls for name, (pid, _) in servers.items()}
    return TransportOverhead(
        transport,
        calls,
        timings["off"],
        timings["on"],
        cpu["off"],
        cpu["on"],
        errors,
        timings.get("sampled"),
        cpu.get("sampled"),
        timings.get("metrics"),
        cpu.get("metrics"),
    )


async def _stdio(url: str, sim: SimulatorState, collector: str, calls: int, warmup: int) -> TransportOverhead:
    off_env, on_env = _environments(url, sim, collector)
    sampled_env = {**on_env, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    async with (
        RawStdioSession(GLOO_COMMAND, env=off_env) as off,
        RawStdioSession(GLOO_COMMAND, env=on_env) as on,
        RawStdioSession(GLOO_COMMAND, env=sampled_env) as sampled,
    ):

        def caller(session: RawStdioSession) -> tuple[int, Callable[[], Awaitable[bool]]]:
            async def call() -> bool:
                return not (await session.call_tool("send_message", {"query": QUERY})).get("isError")

            return session.pid, call

        return await _timed("stdio", {"off": caller(off), "on": caller(on), "sampled": caller(sampled)}, calls, warmup)


@asynccontextmanager
async def _http_server(env: dict[str, str]) -> AsyncIterator[tuple[str, int]]:
    """``gloo-mcp serve --transport streamable-http`` on a free loopback port; its base URL and pid."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [*GLOO_COMMAND, "serve", "--transport", "streamable-http", "--port", str(port)]
    process = await anyio.open_process(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        with anyio.fail_after(30):
            async with httpx2.AsyncClient() as http:
                while True:
                    try:
                        if (await http.get(f"{base}/health")).status_code == 200:
                            break
                    except httpx2.TransportError:
                        pass
                    await anyio.sleep(0.05)
        yield base, process.pid
    finally:
        process.terminate()
        with anyio.fail_after(30):
            await process.wait()
        await process.aclose()


def _scrape_every_second(base: str, stop: threading.Event, counts: dict[str, int]) -> None:
    """What Prometheus does to the "on" server: GET /metrics once a second."""
    with httpx2.Client() as http:
        while not stop.wait(1.0):
            if http.get(f"{base}/metrics").status_code == 200:
                counts["scrapes"] = counts.get("scrapes", 0) + 1


async def _http(
    url: str, sim: SimulatorState, collector: str, calls: int, warmup: int
) -> tuple[TransportOverhead, int]:
    off_env, on_env = _environments(url, sim, collector)
    metrics_env = {k: v for k, v in off_env.items() if k != "OTEL_SDK_DISABLED"}  # no OTLP: /metrics alone
    scraped: dict[str, int] = {}
    async with (
        _http_server(off_env) as (off_base, off_pid),
        _http_server(on_env) as (on_base, on_pid),
        _http_server(metrics_env) as (metrics_base, metrics_pid),
        httpx2.AsyncClient(timeout=30) as http,
    ):
        body: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "send_message", "arguments": {"query": QUERY}},
        }

        def caller(base: str, pid: int) -> tuple[int, Callable[[], Awaitable[bool]]]:
            async def call() -> bool:
                response = await http.post(f"{base}/mcp", json=body, headers=_HTTP_HEADERS)
                return response.status_code == 200 and b'"isError":false' in response.content.replace(b" ", b"")

            return pid, call

        stop = threading.Event()
        scrapers = [
            threading.Thread(target=_scrape_every_second, args=(base, stop, counts), daemon=True)
            for base, counts in ((on_base, scraped), (metrics_base, {}))
        ]
        for scraper in scrapers:
            scraper.start()
        try:
            servers = {
                "off": caller(off_base, off_pid),
                "on": caller(on_base, on_pid),
                "metrics": caller(metrics_base, metrics_pid),
            }
            overhead = await _timed("http", servers, calls, warmup)
        finally:
            stop.set()
            for scraper in scrapers:
                scraper.join(timeout=5)
    return overhead, scraped.get("scrapes", 0)


async def measure_telemetry_overhead(url: str, sim: SimulatorState, calls: int, warmup: int = 20) -> TelemetryOverhead:
    """Telemetry on against off, over stdio then Streamable HTTP, ``calls`` timed calls to each server."""
    with _otlp_collector() as (collector, counts):
        stdio = await _stdio(url, sim, collector, calls, warmup)
        http, scrapes = await _http(url, sim, collector, calls, warmup)
    return TelemetryOverhead(
        stdio=stdio,
        http=http,
        cost_off_us=_in_process_cost("off", 50 * calls),
        cost_metrics_us=_in_process_cost("metrics", 50 * calls),
        cost_on_us=_in_process_cost("on", 50 * calls),
        spans_exported=counts.get("/v1/traces", 0),
        metric_exports=counts.get("/v1/metrics", 0),
        scrapes=scrapes,
    )


def _in_process_cost(mode: str, calls: int) -> float:
    """Microseconds of CPU per instrumented tools/call, measured in a process of its own (it installs globals)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.telemetry", "--cost", mode, str(calls)],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def _cost(mode: str, calls: int = 20_000, repeats: int = 5) -> float:
    """CPU microseconds per tools/call through the SDK's middleware and gloo-mcp's, with one traced Gloo request.

    The handler does no work of its own, so this is what telemetry adds to every call, with
    nothing else in it: the best of ``repeats`` runs, as load on the machine only ever adds.
    """
    from types import SimpleNamespace

    from mcp.server import MCPServer
    from mcp.server._otel import OpenTelemetryMiddleware

    from gloo_mcp import telemetry
    from gloo_mcp.config import Settings

    if mode in ("on", "metrics"):
        from opentelemetry import metrics, trace
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
        from prometheus_client import CollectorRegistry

        class Discard(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        tracer_provider = None
        if mode == "on":
            tracer_provider = TracerProvider()
            tracer_provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=4 * calls))
            trace.set_tracer_provider(tracer_provider)
        registry = CollectorRegistry()
        meter_provider = MeterProvider(
            metric_readers=[PrometheusMetricReader(registry=registry)], exemplar_filter=AlwaysOffExemplarFilter()
        )
        metrics.set_meter_provider(meter_provider)
        telemetry.activate(telemetry.Telemetry(tracer_provider, meter_provider, prometheus=registry))

    server: MCPServer[Any] = MCPServer("bench")

    @server.tool()
    def send_message(query: str) -> str:
        return query

    operation_metrics = telemetry._OperationMetrics(server)
    sdk_middleware = OpenTelemetryMiddleware()
    settings = Settings()

    class Answered:
        status_code = 200

    class Request:
        async def __aenter__(self) -> Answered:
            return Answered()

        async def __aexit__(self, *_: object) -> None:
            return None

    async def handler(ctx: Any) -> dict[str, Any]:
        stream: Any = Request()  # stands in for AsyncClient.stream(...): only the status is read
        async with telemetry.traced_gloo_request(
            stream, settings, "POST", "/ai/v1/message", attempt=1, payload={"query": QUERY}
        ):
            return {"content": [], "isError": False}

    async def ours(ctx: Any) -> Any:
        return await operation_metrics(ctx, handler)

    ctx = SimpleNamespace(
        method="tools/call",
        params={"name": "send_message", "arguments": {"query": QUERY}},
        protocol_version="2025-11-25",
        request_id=1,
        meta=None,
    )

    async def run() -> float:
        best = float("inf")
        for _ in range(repeats):
            started = time.process_time()
            for _ in range(calls):
                await sdk_middleware(ctx, ours)  # type: ignore[arg-type]
            best = min(best, (time.process_time() - started) / calls)
        return best * 1e6

    return anyio.run(run)


async def _server_instructions(env: dict[str, str], url_calls: int) -> int:
    """Instructions a stdio server executes from spawn to exit around ``url_calls`` send_message calls (callgrind)."""
    import re
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *GLOO_COMMAND]
        async with RawStdioSession(command, env=env, exit_wait=120) as session:
            for _ in range(url_calls):
                assert not (await session.call_tool("send_message", {"query": QUERY})).get("isError")
        # the server flushes its spans as it exits (the SDK's shutdown at exit), inside the count
        with anyio.fail_after(120):
            while not out.exists() or not re.search(r"^(?:summary|totals): ", out.read_text(), re.MULTILINE):  # noqa: ASYNC110
                await anyio.sleep(0.5)  # valgrind writes the file as the process ends: nothing to wait on but it
        found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
    assert found is not None
    return int(found.group(1))


async def measure_instructions(url: str, sim: SimulatorState, few: int = 50, many: int = 250) -> dict[str, float]:
    """Instructions per call in the server process, off and on: (count at ``many`` - count at ``few``) / difference.

    Start-up and exit cancel out; unlike time, the count does not move with other tenants' load.
    """
    with _otlp_collector() as (collector, _):
        off_env, on_env = _environments(url, sim, collector)
        # Exports by count, not by clock: valgrind runs the server some 50 times slower, and exports on a
        # timer (spans every 5 s, metrics every 60 s) would be counted 50 times too often. Spans then go
        # in batches of 512 as on a busy server, the metrics once, at exit; all of it inside the count.
        on_env |= {"OTEL_BSP_SCHEDULE_DELAY": "3600000", "OTEL_METRIC_EXPORT_INTERVAL": "3600000"}
        per_call = {}
        for name, env in (("off", off_env), ("on", on_env)):
            counts = [await _server_instructions(env, calls) for calls in (few, many)]
            per_call[name] = (counts[1] - counts[0]) / (many - few)
    return per_call


def telemetry_rows(t: TelemetryOverhead) -> list[tuple[str, str, str, str]]:
    rows = []
    for side in (t.stdio, t.http):
        within = side.wall_percent <= TARGET_PERCENT
        rows += [
            (
                f"telemetry on vs off, {side.transport}: per call (median)",
                f"{side.on_median_ms:.2f} vs {side.off_median_ms:.2f} ms = {side.wall_percent:+.1f} %",
                f"<= {TARGET_PERCENT:g} %",
                "met" if within else "MISSED",
            ),
            (
                f"  server CPU per call, {side.transport}",
                f"{side.on_cpu_ms_per_call:.2f} vs {side.off_cpu_ms_per_call:.2f} ms = {side.cpu_percent:+.1f} %",
                "",
                "",
            ),
        ]
        if side.metrics_only_ms and side.metrics_only_percent is not None:
            rows.append(
                (
                    f"  Prometheus alone (the default), {side.transport}",
                    f"{statistics.median(side.metrics_only_ms):.2f} ms = {side.metrics_only_percent:+.1f} %; server "
                    f"CPU {side.metrics_only_cpu_ms_per_call:.2f} ms",
                    f"<= {TARGET_PERCENT:g} %",
                    "met" if side.metrics_only_percent <= TARGET_PERCENT else "MISSED",
                )
            )
        if side.sampled_ms and side.sampled_percent is not None and side.sampled_cpu_ms_per_call is not None:
            rows.append(
                (
                    f"  on, 1 trace in 10 sampled, {side.transport}",
                    f"{statistics.median(side.sampled_ms):.2f} ms = {side.sampled_percent:+.1f} %; server CPU "
                    f"{side.sampled_cpu_ms_per_call:.2f} ms",
                    "",
                    "",
                )
            )
    rows.append(
        (
            "  CPU telemetry adds to a tools/call (in process)",
            f"spans and metrics {t.cost_on_us - t.cost_off_us:.0f} us = "
            f"{(t.cost_on_us - t.cost_off_us) / (t.stdio.off_median_ms * 10):.1f} % of a stdio call; "
            f"metrics only {t.cost_metrics_us - t.cost_off_us:.0f} us = "
            f"{(t.cost_metrics_us - t.cost_off_us) / (t.http.off_median_ms * 10):.1f} % of an HTTP call",
            "",
            "",
        )
    )
    rows.append(
        (
            "  exported while timing",
            f"{t.spans_exported} OTLP trace posts, {t.metric_exports} metric posts, {t.scrapes} scrapes; "
            f"errors {t.stdio.errors + t.http.errors}",
            "0 errors",
            "met" if t.stdio.errors + t.http.errors == 0 else "MISSED",
        )
    )
    return rows


if __name__ == "__main__":  # python -m bench.telemetry [calls]; --cost on|off is the in-process measure
    if sys.argv[1:2] == ["--cost"]:
        print(f"{_cost(sys.argv[2], int(sys.argv[3])):.2f}")
        raise SystemExit(0)
    from gloo_mcp.simulator import running_simulator

    if sys.argv[1:2] == ["--instructions"]:  # per-call instructions in the server, off and on (valgrind, minutes)
        state = SimulatorState()
        with running_simulator(state) as sim_url:
            counted = anyio.run(measure_instructions, sim_url, state)
        extra = counted["on"] / counted["off"] - 1
        print(f"instructions per call: {counted['on']:,.0f} on vs {counted['off']:,.0f} off = {extra * 100:+.2f} %")
        raise SystemExit(0)

    state = SimulatorState()
    with running_simulator(state) as sim_url:
        figures = anyio.run(measure_telemetry_overhead, sim_url, state, int(sys.argv[1]) if len(sys.argv) > 1 else 300)
    for row in telemetry_rows(figures):
        print("  ".join(part for part in row if part))
    print(json.dumps({"stdio_percent": figures.stdio.wall_percent, "http_percent": figures.http.wall_percent}))
