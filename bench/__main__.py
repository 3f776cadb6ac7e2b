"""gloo-mcp against its floor and its alternatives, in one run.

    python -m bench                 # the full run (about 4 minutes); figures for docs/performance.md
    python -m bench --quick         # a smoke run with small counts (the test suite runs it)
    python -m bench --json out.json --server-src ../old-checkout/src   # another version, same benchmark
    python -m bench --only growth   # just the growth curves (long conversations, a big chat index, many users)
    python -m bench --only telemetry   # just the cost of telemetry: the same calls with it on and off

Cold start (spawn to tools/list) against a bare MCPServer; per-call overhead against
the same upstream request made directly with httpx2; concurrency against the seed
tutorial's synchronous loop; resident memory over many calls. Everything runs on
127.0.0.1 against the simulator. Growth curves (bench/growth.py): history, V2 request
bodies, list_chats and V2 suggestions as conversations and the chat index grow, and the
fair-use limiter as principals grow (bench/admission.py), in process. Telemetry
(bench/telemetry.py): per-call time and server CPU with OpenTelemetry on against off,
over stdio and Streamable HTTP, and the CPU it adds to one call in process. Timings are medians
of one run on whatever machine runs it: compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio

from bench.calls import Concurrency, Memory, Overhead, measure_concurrency, measure_memory, measure_overhead
from bench.cold_start import ColdStart, measure_cold_start, measure_cold_start_instructions
from bench.growth import FULL_GROWTH, QUICK_GROWTH, Growth, GrowthSizes, growth_rows, measure_growth
from bench.process import SERVER_SRC_VARIABLE
from bench.telemetry import TelemetryOverhead, measure_telemetry_overhead, telemetry_rows
from gloo_mcp.gloo.client import POOL_SIZE
from gloo_mcp.simulator import SimulatorState, running_simulator


@dataclass(frozen=True)
class Sizes:
    cold_start_runs: int
    overhead_calls: int
    concurrent_calls: int
    latency_s: float
    memory_calls: int
    growth: GrowthSizes
    telemetry_calls: int


FULL = Sizes(
    cold_start_runs=21,
    overhead_calls=300,
    concurrent_calls=50,
    latency_s=0.2,
    memory_calls=1000,
    growth=FULL_GROWTH,
    telemetry_calls=600,
)
QUICK = Sizes(
    cold_start_runs=2,
    overhead_calls=20,
    concurrent_calls=10,
    latency_s=0.05,
    memory_calls=60,
    growth=QUICK_GROWTH,
    telemetry_calls=20,
)
SECTIONS = ("calls", "growth", "telemetry")


@dataclass(frozen=True)
class Report:
    machine: dict[str, Any]
    sizes: Sizes
    cold_start: ColdStart | None
    overhead: Overhead | None
    concurrency: Concurrency | None
    memory: Memory | None
    growth: Growth | None
    telemetry: TelemetryOverhead | None = None


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "mcp": version("mcp"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
    }


def run(sizes: Sizes, sections: tuple[str, ...] = SECTIONS) -> Report:
    machine = _machine()
    cold = overhead = concurrency = memory = growth = telemetry = None
    if "calls" in sections:
        cold = measure_cold_start(sizes.cold_start_runs)
        sim = SimulatorState()
        with running_simulator(sim) as url:
            overhead = anyio.run(measure_overhead, url, sim, sizes.overhead_calls)
            concurrency = anyio.run(measure_concurrency, url, sim, sizes.concurrent_calls, sizes.latency_s)
            memory = anyio.run(measure_memory, url, sim, sizes.memory_calls)
    if "growth" in sections:
        growth = anyio.run(measure_growth, sizes.growth)
    if "telemetry" in sections:
        sim = SimulatorState()
        with running_simulator(sim) as url:
            telemetry = anyio.run(measure_telemetry_overhead, url, sim, sizes.telemetry_calls)
    return Report(machine, sizes, cold, overhead, concurrency, memory, growth, telemetry)


def _iqr(samples: list[float]) -> str:
    q1, _, q3 = statistics.quantiles(samples, n=4) if len(samples) > 1 else (samples[0],) * 3
    return f"{q1 * 1000:.0f}-{q3 * 1000:.0f} ms"


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    target_width = max(13, *(len(r[2]) + 1 for r in rows))
    return [
        f"{name:<{width}}  {value:<{value_width}}  {target:<{target_width}} {mark}".rstrip()
        for name, value, target, mark in rows
    ]


def _call_rows(c: ColdStart, o: Overhead, k: Concurrency, m: Memory) -> list[tuple[str, str, str, str]]:
    return [
        ("cold start, gloo-mcp (median)", f"{c.gloo_median_s * 1000:.0f} ms", "", ""),
        ("cold start, bare MCPServer (median)", f"{c.floor_median_s * 1000:.0f} ms", "", ""),
        (
            "cold start ratio (wall)",
            f"{c.ratio:.3f} (IQR of runs: {_iqr(c.gloo_s)} vs {_iqr(c.floor_s)})",
            "<= 1.10",
            _mark(c.ratio <= 1.10),
        ),
        ("cold start ratio (CPU time, spawn to exit)", f"{c.cpu_ratio:.3f}", "", ""),
        (
            "send_message via MCP (median, IQR)",
            f"{o.mcp_median_ms:.2f} ms ({o.mcp_iqr_ms[0]:.2f}-{o.mcp_iqr_ms[1]:.2f})",
            "",
            "",
        ),
        (
            "same request direct with httpx2",
            f"{o.direct_median_ms:.2f} ms ({o.direct_iqr_ms[0]:.2f}-{o.direct_iqr_ms[1]:.2f})",
            "",
            "",
        ),
        ("per-call overhead", f"{o.overhead_ms:.2f} ms", "<= 2 ms", _mark(o.overhead_ms <= 2.0)),
        ("  trivial tool on bare MCPServer", f"{o.floor_median_ms:.2f} ms", "", ""),
        ("  send_message via the SDK's Python client", f"{o.sdk_client_mcp_median_ms:.2f} ms", "", ""),
        (f"{k.calls} concurrent, {k.latency_s:g} s upstream: one call", f"{k.one_call_s * 1000:.0f} ms", "", ""),
        (
            "  first burst (fresh server)",
            f"{k.concurrent_wall_s * 1000:.0f} ms = {k.ratio_to_one_call:.2f} x one call",
            "",
            "",
        ),
        (
            "  warm bursts (median)",
            f"{k.warm_wall_s * 1000:.0f} ms = {k.warm_ratio_to_one_call:.2f} x one call",
            "<= 1.3 x",
            _mark(k.warm_ratio_to_one_call <= 1.3),
        ),
        ("  seed tutorial (sync, sequential)", f"{k.tutorial_wall_s:.2f} s; speed-up {k.speed_up:.0f} x", "", ""),
        ("  token fetches (first burst)", f"{k.token_fetches}", "exactly 1", _mark(k.token_fetches == 1)),
        (
            "  upstream connections opened",
            f"{k.connections_opened} for {k.calls * (1 + len(k.warm_bursts_s))} calls",
            f"<= pool ({POOL_SIZE})",
            _mark(k.connections_opened <= POOL_SIZE),
        ),
        ("  errors", f"{k.errors + m.errors}", "0", _mark(k.errors + m.errors == 0)),
        ("server RSS after warm-up", f"{m.rss_after_warmup_mib:.1f} MiB", "", ""),
        (f"server RSS after {m.calls} more calls", f"{m.rss_after_calls_mib:.1f} MiB", "", ""),
        ("memory growth", f"{m.growth_mib:+.2f} MiB", "< 5 MiB", _mark(m.growth_mib < 5)),
    ]


def render(report: Report) -> str:
    machine = report.machine
    lines = [
        f"{machine['platform']}, {machine['cpus']} CPUs, Python {machine['python']}, mcp {machine['mcp']}, "
        f"load average {machine['load_average']}"
    ]
    c, o, k, m = report.cold_start, report.overhead, report.concurrency, report.memory
    if c is not None and o is not None and k is not None and m is not None:
        lines += _table(_call_rows(c, o, k, m))
    if report.growth is not None:
        lines += [
            "",
            "growth curves (in process, against the simulator over ASGI)",
            *_table(growth_rows(report.growth)),
        ]
    if report.telemetry is not None:
        lines += ["", "telemetry on against off (OTLP to a loopback collector, /metrics scraped each second)"]
        lines += _table(telemetry_rows(report.telemetry))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run, not figures")
    parser.add_argument("--json", type=Path, help="also write every sample and figure to this file")
    parser.add_argument("--server-src", type=Path, help="benchmark the gloo_mcp package under this src directory")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count cold-start instructions with valgrind's callgrind (steady under load; ~70 s)",
    )
    parser.add_argument(
        "--only",
        choices=SECTIONS,
        help="run one section: calls (cold start, overhead, concurrency, memory), growth (the growth curves) or "
        "telemetry (its cost per call)",
    )
    args = parser.parse_args()
    if args.server_src:
        os.environ[SERVER_SRC_VARIABLE] = str(args.server_src.resolve())
    report = run(QUICK if args.quick else FULL, (args.only,) if args.only else SECTIONS)
    print(render(report))
    document = asdict(report)
    if args.instructions:
        gloo, floor = measure_cold_start_instructions()
        print(f"cold start ratio (instructions, callgrind)  {gloo / floor:.4f} ({gloo:,} vs {floor:,})")
        document["cold_start_instructions"] = {"gloo": gloo, "floor": floor}
    if args.json:
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
