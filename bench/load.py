"""Load run: concurrent and sequential tool calls through a real stdio ``gloo-mcp`` against the simulator.

    python -m bench.load [--concurrent 100] [--sequential 1000]

Traffic stays on 127.0.0.1 and every loop is bounded. Prints the figures that
docs/reliability.md reports; ``tests/test_load.py`` (marker ``load``) asserts them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

import anyio
from mcp import Client, StdioServerParameters

from bench.process import child_pid, rss_mib
from gloo_mcp.simulator import SimulatorState, running_simulator


@dataclass
class LoadFigures:
    concurrent_calls: int
    concurrent_errors: int
    concurrent_wall_s: float
    token_fetches: int
    sequential_calls: int
    sequential_errors: int
    rss_after_warmup_mib: float
    rss_after_run_mib: float
    sequential_median_ms: float

    @property
    def rss_growth_mib(self) -> float:
        return self.rss_after_run_mib - self.rss_after_warmup_mib


async def _run(url: str, sim: SimulatorState, concurrent: int, sequential: int, warmup: int) -> LoadFigures:
    env = {"GLOO_BASE_URL": url, "GLOO_CLIENT_ID": sim.client_id, "GLOO_CLIENT_SECRET": sim.client_secret}
    params = StdioServerParameters(command=sys.executable, args=["-m", "gloo_mcp"], env=env)
    async with Client(params) as client:
        errors = 0

        async def one(i: int) -> None:
            nonlocal errors
            result = await client.call_tool("send_message", {"query": f"Concurrent question {i}"})
            errors += int(bool(result.is_error))

        started = time.perf_counter()
        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                for i in range(concurrent):
                    group.start_soon(one, i)
        wall = time.perf_counter() - started
        concurrent_errors, errors = errors, 0

        first = await client.call_tool("send_message", {"query": "Sequential conversation"})
        assert first.structured_content is not None
        chat_id = first.structured_content["chat_id"]
        pid = child_pid(b"gloo_mcp")
        for _ in range(warmup):
            await client.call_tool("get_chat_history", {"chat_id": chat_id})
        rss_warm = rss_mib(pid)
        latencies: list[float] = []
        with anyio.fail_after(600):
            for _ in range(sequential):
                t0 = time.perf_counter()
                result = await client.call_tool("get_chat_history", {"chat_id": chat_id})
                latencies.append(time.perf_counter() - t0)
                errors += int(bool(result.is_error))
        rss_end = rss_mib(pid)
    return LoadFigures(
        concurrent_calls=concurrent,
        concurrent_errors=concurrent_errors,
        concurrent_wall_s=wall,
        token_fetches=sim.requests["token"],
        sequential_calls=sequential,
        sequential_errors=errors,
        rss_after_warmup_mib=rss_warm,
        rss_after_run_mib=rss_end,
        sequential_median_ms=statistics.median(latencies) * 1000,
    )


def run_load(concurrent: int = 100, sequential: int = 1000, warmup: int = 200) -> LoadFigures:
    """Concurrent send_message calls, then sequential history reads of one chat (so the simulator's memory
    does not grow with the run and the server's resident memory is what is measured)."""
    sim = SimulatorState()
    with running_simulator(sim) as url:
        return anyio.run(_run, url, sim, concurrent, sequential, warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--sequential", type=int, default=1000)
    args = parser.parse_args()
    f = run_load(args.concurrent, args.sequential)
    print(
        f"{f.concurrent_calls} concurrent send_message: {f.concurrent_errors} errors, "
        f"{f.concurrent_wall_s:.2f} s wall, {f.token_fetches} token fetch(es)"
    )
    print(
        f"{f.sequential_calls} sequential get_chat_history: {f.sequential_errors} errors, "
        f"median {f.sequential_median_ms:.2f} ms"
    )
    print(
        f"server RSS: {f.rss_after_warmup_mib:.1f} MiB after warm-up, {f.rss_after_run_mib:.1f} MiB after the run "
        f"(growth {f.rss_growth_mib:+.2f} MiB)"
    )


if __name__ == "__main__":
    main()
