"""Tool calls through a real stdio session to a ``gloo-mcp`` process, against the simulator on loopback.

Per-call overhead (against the same upstream request made directly with httpx2, and a
trivial tool on a bare MCPServer), concurrency (against the seed tutorial's synchronous
one-after-another client), and resident memory over many calls.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx2
from mcp import Client, StdioServerParameters

from bench.process import FLOOR_COMMAND, GLOO_COMMAND, child_pid, rss_mib, server_env
from bench.raw_session import RawStdioSession
from gloo_mcp.simulator import SimulatorState

__all__ = [
    "Concurrency",
    "Memory",
    "Overhead",
    "measure_concurrency",
    "measure_memory",
    "measure_overhead",
]

QUERY = "How do I find meaning in hard times?"


def _env(url: str, sim: SimulatorState, *, client_credentials: bool = False) -> dict[str, str]:
    if client_credentials:
        return server_env(
            {"GLOO_BASE_URL": url, "GLOO_CLIENT_ID": sim.client_id, "GLOO_CLIENT_SECRET": sim.client_secret}
        )
    return server_env({"GLOO_BASE_URL": url, "GLOO_API_KEY": sim.api_key})


@asynccontextmanager
async def gloo_session(url: str, sim: SimulatorState, *, client_credentials: bool = False) -> AsyncIterator[Client]:
    command, *args = GLOO_COMMAND
    params = StdioServerParameters(
        command=command, args=args, env=_env(url, sim, client_credentials=client_credentials)
    )
    async with Client(params) as client:
        yield client


@asynccontextmanager
async def floor_session() -> AsyncIterator[Client]:
    command, *args = FLOOR_COMMAND
    async with Client(StdioServerParameters(command=command, args=args, env=server_env())) as client:
        yield client


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


def _ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _iqr_ms(samples: list[float]) -> tuple[float, float]:
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return q1 * 1000, q3 * 1000


# --- per-call overhead ------------------------------------------------------------------


@dataclass(frozen=True)
class Overhead:
    calls: int
    mcp_median_ms: float
    mcp_iqr_ms: tuple[float, float]
    direct_median_ms: float
    direct_iqr_ms: tuple[float, float]
    floor_median_ms: float  # a trivial tool on a bare MCPServer: the SDK's own round trip
    sdk_client_mcp_median_ms: float  # the same send_message through the SDK's Python Client
    sdk_client_floor_median_ms: float

    @property
    def overhead_ms(self) -> float:
        return self.mcp_median_ms - self.direct_median_ms


async def measure_overhead(url: str, sim: SimulatorState, calls: int, warmup: int = 20) -> Overhead:
    """send_message through MCP vs the same POST made directly, interleaved call by call.

    The MCP side is timed twice: from a raw JSON-RPC client (what a host pays for the
    server) and from the SDK's Python client (which adds its own validation).
    """
    body = {"query": QUERY, "character_limit": 1000, "sources_limit": 5, "publishers": [], "stream": False}
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    samples: dict[str, list[float]] = {k: [] for k in ("raw", "raw_floor", "direct", "sdk", "sdk_floor")}
    async with (
        RawStdioSession(GLOO_COMMAND, env=_env(url, sim)) as raw,
        RawStdioSession(FLOOR_COMMAND, env=server_env()) as raw_floor,
        gloo_session(url, sim) as sdk,
        floor_session() as sdk_floor,
        httpx2.AsyncClient(base_url=url, headers=headers) as http,
    ):

        async def raw_call() -> None:
            result = await raw.call_tool("send_message", {"query": QUERY})
            assert not result.get("isError"), result

        async def sdk_call() -> None:
            result = await sdk.call_tool("send_message", {"query": QUERY})
            assert not result.is_error, result.content

        async def direct_call() -> None:
            response = await http.post("/ai/v1/message", params={"enable_suggestions": 1}, json=body)
            response.raise_for_status()
            response.json()

        steps: dict[str, Callable[[], Awaitable[object]]] = {
            "raw": raw_call,
            "raw_floor": lambda: raw_floor.call_tool("echo", {"text": QUERY}),
            "direct": direct_call,
            "sdk": sdk_call,
            "sdk_floor": lambda: sdk_floor.call_tool("echo", {"text": QUERY}),
        }
        for _ in range(warmup):
            for step in steps.values():
                await step()
        for _ in range(calls):
            for name, step in steps.items():
                samples[name].append(await _timed(step))
    return Overhead(
        calls=calls,
        mcp_median_ms=_ms(samples["raw"]),
        mcp_iqr_ms=_iqr_ms(samples["raw"]),
        direct_median_ms=_ms(samples["direct"]),
        direct_iqr_ms=_iqr_ms(samples["direct"]),
        floor_median_ms=_ms(samples["raw_floor"]),
        sdk_client_mcp_median_ms=_ms(samples["sdk"]),
        sdk_client_floor_median_ms=_ms(samples["sdk_floor"]),
    )


# --- concurrency -------------------------------------------------------------------------


@dataclass(frozen=True)
class Concurrency:
    calls: int
    latency_s: float
    one_call_s: float  # median of a few single calls: what one answer costs
    concurrent_wall_s: float  # the first burst, on a fresh server
    warm_bursts_s: list[float]  # later bursts, on kept-alive connections
    errors: int
    token_fetches: int  # during the first burst, from a fresh server: exactly 1
    connections_opened: int  # during both bursts: bounded by the pool, not by the call count
    tutorial_wall_s: float  # the seed tutorial: synchronous, one request after another, token check per call

    @property
    def warm_wall_s(self) -> float:
        return statistics.median(self.warm_bursts_s)

    @property
    def ratio_to_one_call(self) -> float:
        return self.concurrent_wall_s / self.one_call_s

    @property
    def warm_ratio_to_one_call(self) -> float:
        return self.warm_wall_s / self.one_call_s

    @property
    def speed_up(self) -> float:
        return self.tutorial_wall_s / self.concurrent_wall_s


def tutorial_sequential(url: str, sim: SimulatorState, calls: int) -> float:
    """The seed tutorial's approach, timed: a sync request per call, each after the last.

    Like the cookbook's ``requests.post`` calls, every request opens its own connection;
    the token is checked before each call and fetched when missing or about to expire.
    """
    token: str | None = None
    expires_at = 0.0

    def valid_token() -> str:
        nonlocal token, expires_at
        if token is None or time.time() > expires_at - 60:
            response = httpx2.post(
                f"{url}/oauth2/token",
                data={"grant_type": "client_credentials", "scope": "api/access"},
                auth=(sim.client_id, sim.client_secret),
            )
            response.raise_for_status()
            token, expires_at = response.json()["access_token"], time.time() + response.json()["expires_in"]
        return token

    started = time.perf_counter()
    for i in range(calls):
        response = httpx2.post(
            f"{url}/ai/v1/message",
            headers={"Authorization": f"Bearer {valid_token()}"},
            json={"query": f"{QUERY} ({i})", "character_limit": 1000, "sources_limit": 5, "stream": False},
            timeout=30,
        )
        response.raise_for_status()
    return time.perf_counter() - started


async def measure_concurrency(
    url: str, sim: SimulatorState, calls: int, latency: float, warm_bursts: int = 7
) -> Concurrency:
    """``calls`` concurrent send_message with ``latency`` s upstream, against the tutorial's loop.

    A raw JSON-RPC client fires the calls (a host's view). The server is fresh (started
    a second earlier, as a host does before anyone asks), so the first burst includes its
    one token exchange and opens its connections; warm bursts reuse them.
    """
    sim.latency = latency
    errors = 0

    async def burst(gloo: RawStdioSession, label: str) -> float:
        nonlocal errors

        async def one(i: int) -> None:
            nonlocal errors
            result = await gloo.call_tool("send_message", {"query": f"{QUERY} ({label} {i})"})
            errors += int(bool(result.get("isError")))

        started = time.perf_counter()
        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                for i in range(calls):
                    group.start_soon(one, i)
        return time.perf_counter() - started

    async with RawStdioSession(GLOO_COMMAND, env=_env(url, sim, client_credentials=True)) as gloo:
        await anyio.sleep(1.0)  # a person asks a while after the host started the server
        tokens_before, connections_before = sim.requests["token"], set(sim.connections)
        first = await burst(gloo, "first")
        token_fetches = sim.requests["token"] - tokens_before
        warm = [await burst(gloo, f"warm {n}") for n in range(warm_bursts)]
        connections_opened = len(sim.connections - connections_before)
        singles = [await _timed(lambda: gloo.call_tool("send_message", {"query": QUERY})) for _ in range(5)]
    tutorial = await anyio.to_thread.run_sync(tutorial_sequential, url, sim, calls)
    sim.latency = 0.0
    return Concurrency(
        calls=calls,
        latency_s=latency,
        one_call_s=statistics.median(singles),
        concurrent_wall_s=first,
        warm_bursts_s=warm,
        errors=errors,
        token_fetches=token_fetches,
        connections_opened=connections_opened,
        tutorial_wall_s=tutorial,
    )


# --- memory ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    calls: int
    errors: int
    rss_after_warmup_mib: float
    rss_after_calls_mib: float

    @property
    def growth_mib(self) -> float:
        return self.rss_after_calls_mib - self.rss_after_warmup_mib


async def measure_memory(url: str, sim: SimulatorState, calls: int, warmup: int = 100) -> Memory:
    """Resident memory of the server process after warm-up and after ``calls`` more calls (all three tools)."""
    errors = 0

    async def round_of(gloo: Client, n: int) -> None:
        nonlocal errors
        chat_id = ""
        for i in range(n):
            if i % 3 == 0:
                result = await gloo.call_tool("send_message", {"query": f"{QUERY} ({i})"})
                chat_id = result.structured_content["chat_id"] if result.structured_content else chat_id
            elif i % 3 == 1:
                result = await gloo.call_tool("continue_chat", {"chat_id": chat_id, "query": "And then?"})
            else:
                result = await gloo.call_tool("get_chat_history", {"chat_id": chat_id})
            errors += int(bool(result.is_error))

    async with gloo_session(url, sim) as gloo:
        pid = child_pid(b"gloo_mcp")
        await round_of(gloo, warmup)
        before = rss_mib(pid)
        await round_of(gloo, calls)
        after = rss_mib(pid)
    return Memory(calls=calls, errors=errors, rss_after_warmup_mib=before, rss_after_calls_mib=after)
