"""Throughput of two gloo-mcp replicas against one, behind the same HAProxy (bench/cluster.py).

    python -m bench.replicas                  # both scenarios (about 3 minutes); figures for docs/performance.md
    python -m bench.replicas --quick          # a smoke run with small counts
    python -m bench.replicas --only upstream --json out.json --latency 2 --concurrency 100

Two scenarios: upstream-bound (Gloo takes a second to answer, 128 callers at once: a replica
carries at most its pool of 64 Gloo connections at once, so a second replica should double
what gets through), and CPU-bound (Gloo answers at once: every process's CPU is the bound).

One deployment serves both figures: replicas ``a`` and ``b`` (``gloo-mcp serve --transport
streamable-http``, the shared token, a PostgreSQL store with the shared fair-use limits set
high enough never to refuse, so their cost is in every call), one simulated Gloo in this process
and Debian's HAProxy in front, configured as the replica test runs it. For one replica, ``b`` is
put in maintenance through HAProxy's runtime API; for two, it is back in the rotation: the same
proxy, configuration, store and Gloo for both. Rounds alternate one and two replicas.

A separate process drives the calls: ``send_message`` as raw JSON-RPC POSTs through HAProxy,
``--concurrency`` at once, so the client's own cost stays out of the servers' process. CPU
seconds per call are read from /proc for each process (the replicas, HAProxy, PostgreSQL, the
simulator in this process, the driver), which says what bounds the figure on the machine that
runs it. Timings are from one run on whatever machine runs it: compare the ratio, not the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio

from bench.cluster import REPO, Deployment, running_deployment
from gloo_mcp.simulator import SimulatorState

__all__ = [
    "CPU",
    "QUICK",
    "SCENARIOS",
    "UPSTREAM",
    "ReplicaRun",
    "ReplicaSizes",
    "SharedAdmission",
    "Throughput",
    "measure_replicas",
    "measure_shared_admission",
    "render",
]

TOKEN = "bench-shared-token-of-enough-length"
QUERY = "How do I find meaning in hard times?"
_CALL: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "send_message"}}
_HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}
_TICK = os.sysconf("SC_CLK_TCK")
_DRIVER = (sys.executable, "-m", "bench.replicas", "--drive")


@dataclass(frozen=True)
class ReplicaSizes:
    """One scenario: ``calls`` a batch, ``concurrency`` at once, Gloo taking ``latency_s`` to answer."""

    name: str
    calls: int
    concurrency: int
    rounds: int
    latency_s: float
    warmup: int = 40


UPSTREAM = ReplicaSizes("upstream-bound", calls=512, concurrency=128, rounds=2, latency_s=1.0)
"""Gloo takes a second, as real answers do: a replica carries at most its pool of Gloo connections (64) at once."""
CPU = ReplicaSizes("CPU-bound", calls=600, concurrency=24, rounds=3, latency_s=0.0)
"""Gloo answers at once: every process's CPU is the bound, all of them on this machine's cores."""
SCENARIOS = {"upstream": UPSTREAM, "cpu": CPU}
QUICK = {
    "upstream": ReplicaSizes("upstream-bound", calls=64, concurrency=32, rounds=1, latency_s=0.2, warmup=10),
    "cpu": ReplicaSizes("CPU-bound", calls=60, concurrency=8, rounds=1, latency_s=0.0, warmup=10),
}


@dataclass
class Throughput:
    """One timed batch of calls through HAProxy."""

    replicas: int
    calls: int
    errors: int
    wall_s: float
    latencies_ms: list[float] = field(repr=False)
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds each process spent during the batch."""
    error_samples: list[str] = field(default_factory=list)
    """The first few failed answers, as they began."""

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.wall_s

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p95_ms(self) -> float:
        return statistics.quantiles(self.latencies_ms, n=20)[-1] if len(self.latencies_ms) > 1 else self.median_ms


@dataclass
class ReplicaRun:
    machine: dict[str, Any]
    sizes: ReplicaSizes
    batches: list[Throughput]

    def of(self, replicas: int) -> list[Throughput]:
        return [b for b in self.batches if b.replicas == replicas]

    def median_rate(self, replicas: int) -> float:
        return statistics.median(b.calls_per_s for b in self.of(replicas))

    @property
    def ratio(self) -> float:
        return self.median_rate(2) / self.median_rate(1)


# --- the driver, in a process of its own ------------------------------------------------------------------


async def _drive(url: str, calls: int, concurrency: int, tag: str) -> dict[str, Any]:
    """POST ``calls`` tool calls to ``url``, ``concurrency`` at once, over plain sockets.

    HAProxy closes each client connection after its answer (``httpclose``), so a call is one
    connection: write the request, read to the end. A client this small keeps its CPU per call
    far below a server's, so the figure is the servers', not the driver's.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    errors = 0
    samples: list[str] = []
    queue = iter(range(calls))

    async def worker() -> None:
        nonlocal errors
        for n in queue:
            body = json.dumps(
                {**_CALL, "id": n, "params": {**_CALL["params"], "arguments": {"query": f"{QUERY} {tag} {n}"}}}
            ).encode()
            head = "".join(f"{name}: {value}\r\n" for name, value in _HEADERS.items())
            request = (
                f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\n{head}Content-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode() + body
            started = time.perf_counter()
            async with await anyio.connect_tcp(host, port) as stream:
                await stream.send(request)
                answer = b""
                with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                    while True:
                        answer += await stream.receive()
            latencies.append((time.perf_counter() - started) * 1000)
            if not answer.startswith(b"HTTP/1.1 200") or b'"isError":false' not in answer:
                errors += 1
                if len(samples) < 3:
                    samples.append(answer[:400].decode(errors="replace"))

    cpu, started = _self_cpu(), time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    wall = time.perf_counter() - started
    return {
        "wall_s": wall,
        "errors": errors,
        "error_samples": samples,
        "latencies_ms": latencies,
        "cpu_s": _self_cpu() - cpu,
    }


def _run_driver(url: str, calls: int, concurrency: int, tag: str) -> dict[str, Any]:
    done = subprocess.run(
        [*_DRIVER, url, "--calls", str(calls), "--concurrency", str(concurrency), "--tag", tag],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the driver failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# --- CPU by process ---------------------------------------------------------------------------------------


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _postgres_cpu(port: int) -> float:
    """CPU seconds of the PostgreSQL server on ``port``: its postmaster and every process it forked."""
    parents: dict[int, int] = {}
    postmaster = None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if postmaster is None and f"-p {port} ".encode() in (entry / "cmdline").read_bytes().replace(b"\0", b" "):
                postmaster = int(entry.name)
        except OSError:
            continue  # ended while we looked
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    if postmaster is None:
        return 0.0
    total = 0.0
    for pid in [postmaster, *(pid for pid, parent in parents.items() if parent == postmaster)]:
        with contextlib.suppress(OSError):
            total += _cpu_of(pid)
    return total


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_now(deployment: Deployment, postgres_port: int) -> dict[str, float]:
    readings = {f"replica {r.name}": _cpu_of(r.pid) for r in deployment.replicas}
    readings["haproxy"] = _cpu_of(deployment.haproxy.pid)
    readings["postgres"] = _postgres_cpu(postgres_port)
    readings["simulator"] = _self_cpu()  # this process: the simulator's thread, and waiting for the driver
    return readings


# --- the measurement --------------------------------------------------------------------------------------


def _rotation(deployment: Deployment, replicas: int) -> None:
    """Take replica b out of HAProxy's rotation (1) or put it back (2), and wait until HAProxy says so."""
    haproxy = deployment.haproxy
    mark = haproxy.mark()
    if replicas == 1:
        haproxy.command("set server replicas/b state maint")
        haproxy.wait_server("b", "going DOWN for maintenance", after=mark)
    else:
        haproxy.command("set server replicas/b state ready")
        haproxy.wait_server("b", "UP", after=mark)


def _batch(
    deployment: Deployment, postgres_port: int, replicas: int, calls: int, concurrency: int, tag: str
) -> Throughput:
    before = _cpu_now(deployment, postgres_port)
    driven = _run_driver(deployment.url, calls, concurrency, tag)
    after = _cpu_now(deployment, postgres_port)
    cpu = {name: after[name] - before[name] for name in before}
    cpu["driver"] = driven["cpu_s"]
    return Throughput(
        replicas, calls, driven["errors"], driven["wall_s"], driven["latencies_ms"], cpu, driven["error_samples"]
    )


@contextmanager
def _postgres(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    from tests.postgres_server import running_postgres  # the store tests' throwaway server

    with running_postgres(Path(tempfile.mkdtemp(prefix="gloo-mcp-bench-pg-"))) as started:
        yield started


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "command": " ".join(["python -m bench.replicas", *sys.argv[1:]]),
    }


def measure_replicas(sizes: ReplicaSizes, *, store: str) -> ReplicaRun:
    """One scenario on a deployment of two replicas whose conversation store (and shared limits) is ``store``."""

    def settings(_public: str) -> dict[str, str]:
        return {
            "GLOO_STORE_URL": store,
            "GLOO_MCP_AUTH_TOKEN": TOKEN,
            "GLOO_MCP_CALLS_PER_MINUTE": "100000",  # counted, shared, never reached
            "GLOO_MCP_CALLS_IN_FLIGHT": "1000",
        }

    described = machine()
    workdir = Path(tempfile.mkdtemp(prefix="gloo-mcp-bench-replicas-"))
    port = urlsplit(store).port or 5432
    batches: list[Throughput] = []
    state = SimulatorState(latency=sizes.latency_s)
    with running_deployment(2, workdir=workdir, settings=settings, state=state) as deployment:
        _batch(deployment, port, 2, sizes.warmup, sizes.concurrency, "warm-up")  # tokens, store, caches: both
        serving = 2
        for n in range(sizes.rounds):
            for replicas in (1, 2) if n % 2 == 0 else (2, 1):
                if replicas != serving:
                    _rotation(deployment, replicas)
                    serving = replicas
                tag = f"{sizes.name} r{n}x{replicas}"
                batches.append(_batch(deployment, port, replicas, sizes.calls, sizes.concurrency, tag))
    described["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return ReplicaRun(described, sizes, batches)


@dataclass(frozen=True)
class SharedAdmission:
    """What one admission costs through PostgreSQL: ``admit`` and giving the place back, two round trips."""

    calls: int
    one_principal_ms: float
    many_principals_ms: float
    local_us: float


async def measure_shared_admission(store: str, calls: int = 2_000) -> SharedAdmission:
    """Median time per admission with the default limits: one principal calling, then ``calls`` principals in turn."""
    from gloo_mcp.access.fair_use import FairUse
    from gloo_mcp.access.shared_limits import SharedFairUse

    async def timed(limits: SharedFairUse | FairUse, principals: list[str]) -> float:
        samples = []
        for principal in principals:
            started = time.perf_counter()
            async with limits.admit(principal):
                pass
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    shared = SharedFairUse(store, per_minute=100_000, in_flight=4, lease=60.0)
    try:
        await timed(shared, ["warm-up"] * 50)
        one = await timed(shared, ["bench-one"] * calls)
        many = await timed(shared, [f"bench-{n}" for n in range(calls)])
    finally:
        await shared.aclose()
    local = await timed(FairUse(per_minute=100_000, in_flight=4), ["bench-one"] * calls)
    return SharedAdmission(calls, one * 1000, many * 1000, local * 1_000_000)


def render(run: ReplicaRun) -> str:
    m, s = run.machine, run.sizes
    lines = [
        f"{s.name}: {s.calls} send_message calls a batch, {s.concurrency} at once, simulator latency "
        f"{s.latency_s:g} s, {s.rounds} rounds (load average {m['load_average']} before, "
        f"{m['load_average_after']} after)",
    ]
    for replicas in (1, 2):
        batches = run.of(replicas)
        rates = ", ".join(f"{b.calls_per_s:.0f}" for b in batches)
        median = statistics.median(b.median_ms for b in batches)
        p95 = statistics.median(b.p95_ms for b in batches)
        errors = sum(b.errors for b in batches)
        lines.append(
            f"{replicas} replica{'s' if replicas > 1 else ' '}  {run.median_rate(replicas):6.0f} calls/s "
            f"(batches: {rates}); latency median {median:.0f} ms, p95 {p95:.0f} ms; errors {errors}"
        )
        names = sorted({name for b in batches for name in b.cpu_s})
        per_call = {name: statistics.median(b.cpu_s.get(name, 0.0) / b.calls for b in batches) for name in names}
        total = sum(per_call.values())
        parts = ", ".join(f"{name} {per_call[name] * 1000:.1f}" for name in names if per_call[name] >= 0.00005)
        lines.append(f"   CPU ms a call: {parts}; all {total * 1000:.1f}")
    lines.append(f"2 replicas / 1 replica: {run.ratio:.2f} x")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run, not figures")
    parser.add_argument("--only", choices=sorted(SCENARIOS), help="one scenario (default: both)")
    parser.add_argument("--calls", type=int, help="calls a batch")
    parser.add_argument("--concurrency", type=int, help="calls at once")
    parser.add_argument("--rounds", type=int, help="rounds of one batch on 1 replica and one on 2")
    parser.add_argument("--latency", type=float, help="seconds the simulator thinks before each answer")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to use instead of a throwaway one")
    parser.add_argument("--json", type=Path, help="also write every batch to this file")
    parser.add_argument("--drive", metavar="URL", help=argparse.SUPPRESS)  # the driver process
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        print(json.dumps(anyio.run(_drive, args.drive, args.calls, args.concurrency, args.tag)))
        return
    chosen = QUICK if args.quick else SCENARIOS
    scenarios = [chosen[args.only]] if args.only else list(chosen.values())
    overrides = {
        key: value
        for key, value in (
            ("calls", args.calls),
            ("concurrency", args.concurrency),
            ("rounds", args.rounds),
            ("latency_s", args.latency),
        )
        if value is not None
    }
    print(f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    runs = []
    with _postgres(args.postgres) as store:
        admission = anyio.run(measure_shared_admission, store, 200 if args.quick else 2_000)
        print(
            f"shared admission (admit and give back: two round trips to PostgreSQL), median of {admission.calls}: "
            f"{admission.one_principal_ms:.2f} ms for one principal, {admission.many_principals_ms:.2f} ms for "
            f"{admission.calls} principals in turn; in-process FairUse: {admission.local_us:.1f} µs",
            flush=True,
        )
        for sizes in scenarios:
            runs.append(measure_replicas(replace(sizes, **overrides), store=store))
            print(render(runs[-1]), flush=True)
    if args.json:
        document = {"admission": asdict(admission), "runs": [asdict(run) | {"ratio": run.ratio} for run in runs]}
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
