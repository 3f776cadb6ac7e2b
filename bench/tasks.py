"""What a Task costs (SEP-2663): creating one and the first ``tasks/get``, against a plain ``send_message``.

    python -m bench.tasks                     # SQLite (the default store), 300 rounds
    python -m bench.tasks --postgres          # also against a throwaway PostgreSQL (tests/postgres_server.py)
    python -m bench.tasks --quick --json out.json

gloo-mcp's HTTP app under uvicorn on 127.0.0.1 in a child process, the simulator answering at
once (in that process), and a raw 2026-07-28 JSON-RPC client on one kept-alive connection. Each round, interleaved:
``server/discover`` (the floor: the SDK's own round trip), a plain ``send_message``, then
``send_message`` as a task (the ``CreateTaskResult``), the ``tasks/get`` sent right after it,
and polling on at once until the task is completed (the time to the answer through a task,
without waiting the suggested poll interval). Also the task store's own statements, timed
directly. Medians of one run: compare within it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
from pydantic import SecretStr

from gloo_mcp.chats.task_store import TaskRecord, open_task_store
from gloo_mcp.config import Settings
from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState, create_app
from gloo_mcp.transports.http_app import HttpOptions, build_http_app
from gloo_mcp.transports.serving import running_in_thread

__all__ = ["TaskCost", "measure_task_cost"]

PROTOCOL = "2026-07-28"
TASKS = "io.modelcontextprotocol/tasks"
QUERY = "How do I find meaning in hard times?"
SIM_URL = "https://gloo.simulator.test"


class _Rpc:
    def __init__(self, http: httpx2.AsyncClient) -> None:
        self._http = http
        self._id = 0

    async def __call__(self, method: str, params: dict[str, Any], *, tasks: bool = True) -> dict[str, Any]:
        self._id += 1
        capabilities = {"extensions": {TASKS: {}}} if tasks else {}
        meta = {
            "io.modelcontextprotocol/protocolVersion": PROTOCOL,
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": capabilities,
        }
        headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": PROTOCOL}
        headers["Mcp-Method"] = method
        name = params.get("name") if method == "tools/call" else params.get("taskId")
        if name is not None:
            headers["Mcp-Name"] = name
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": {**params, "_meta": meta}}
        response = await self._http.post("/mcp", json=body, headers=headers)
        if response.headers.get("content-type", "").startswith("application/json"):
            messages = [response.json()]
        else:
            messages = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
        for message in messages:
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result
        raise RuntimeError(f"{method}: no response (HTTP {response.status_code})")


@dataclass(frozen=True)
class TaskCost:
    store: str
    rounds: int
    floor_ms: float  # server/discover: the round trip every request pays
    plain_ms: float  # send_message, synchronous (the simulator answers at once)
    create_ms: float  # send_message as a task: the CreateTaskResult (the row written before it is sent)
    first_get_ms: float  # tasks/get right after
    to_answer_ms: float  # create, then tasks/get at once until completed
    polls_to_answer: float  # tasks/get sent before completed (median)
    overhead_ms: float  # per round, create + first get minus the plain call; the median (the goal: at most 5 ms)
    overhead_iqr_ms: tuple[float, float]
    to_answer_over_plain_ms: float  # per round, the answer through a task minus the plain call; the median
    store_create_us: float  # TaskStore.create (insert + purge of expired rows), timed directly
    store_get_us: float  # TaskStore.get


def _ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def _iqr_ms(samples: list[float]) -> tuple[float, float]:
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return round(q1 * 1000, 3), round(q3 * 1000, 3)


def _serve(store_url: str) -> None:
    """The child process: serve until stdin closes, after printing the base URL."""
    sim = SimulatorState()
    settings = Settings(
        base_url=SIM_URL,
        client_id=sim.client_id,
        client_secret=SecretStr(sim.client_secret),
        store_url=SecretStr(store_url),
    )
    server = build_server(settings, transport=httpx2.ASGITransport(app=create_app(sim)))
    with running_in_thread(build_http_app(server, settings, HttpOptions())) as base:
        print(base, flush=True)
        sys.stdin.read()


@asynccontextmanager
async def _serving(store_url: str) -> AsyncIterator[_Rpc]:
    """The server in a process of its own, so the client's work does not share its interpreter."""
    command = [sys.executable, "-m", "bench.tasks", "--serve", store_url]
    async with await anyio.open_process(command, stderr=None) as child:
        assert child.stdout is not None and child.stdin is not None
        base = (await child.stdout.receive()).decode().strip()
        try:
            async with httpx2.AsyncClient(base_url=base, timeout=30) as http:
                yield _Rpc(http)
        finally:
            await child.stdin.aclose()
            with anyio.fail_after(30):
                await child.wait()


async def _store_statements(store_url: str, rounds: int) -> tuple[float, float]:
    store = await open_task_store(store_url)
    creates: list[float] = []
    gets: list[float] = []
    try:
        for i in range(rounds):
            now = int(time.time() * 1000)
            task_id = f"bench-{i}-{now}"
            record = TaskRecord(task_id, "local", "send_message", "working", "w", None, now, now, now + 1, now, 1)
            started = time.perf_counter()
            await store.create(record, now_ms=now)
            creates.append(time.perf_counter() - started)
            started = time.perf_counter()
            await store.get(record.task_id, owner="local", now_ms=now)
            gets.append(time.perf_counter() - started)
    finally:
        await store.aclose()
    return _ms(creates) * 1000, _ms(gets) * 1000


async def measure_task_cost(store_url: str, store: str, rounds: int, warmup: int = 20) -> TaskCost:
    samples: dict[str, list[float]] = {k: [] for k in ("floor", "plain", "create", "get", "answer", "polls")}
    async with _serving(store_url) as rpc:
        for round_number in range(warmup + rounds):
            timed: dict[str, float] = {}
            started = time.perf_counter()
            await rpc("server/discover", {})
            timed["floor"] = time.perf_counter() - started

            started = time.perf_counter()
            plain = await rpc("tools/call", {"name": "send_message", "arguments": {"query": QUERY}}, tasks=False)
            timed["plain"] = time.perf_counter() - started
            assert "taskId" not in plain and not plain.get("isError"), plain

            started = time.perf_counter()
            created = await rpc("tools/call", {"name": "send_message", "arguments": {"query": QUERY}})
            timed["create"] = time.perf_counter() - started
            assert created["resultType"] == "task", created
            got_at = time.perf_counter()
            task = await rpc("tasks/get", {"taskId": created["taskId"]})
            timed["get"] = time.perf_counter() - got_at
            polls = 1
            while task["status"] == "working":
                task = await rpc("tasks/get", {"taskId": created["taskId"]})
                polls += 1
            timed["answer"] = time.perf_counter() - started
            timed["polls"] = polls
            assert task["status"] == "completed" and not task["result"].get("isError"), task
            if round_number >= warmup:
                for key, value in timed.items():
                    samples[key].append(value)
    store_create_us, store_get_us = await _store_statements(store_url, rounds)
    rounds_of = list(zip(samples["plain"], samples["create"], samples["get"], samples["answer"], strict=True))
    overhead = [create + get - plain for plain, create, get, _ in rounds_of]
    to_answer = [answer - plain for plain, _, _, answer in rounds_of]
    return TaskCost(
        store=store,
        rounds=rounds,
        floor_ms=_ms(samples["floor"]),
        plain_ms=_ms(samples["plain"]),
        create_ms=_ms(samples["create"]),
        first_get_ms=_ms(samples["get"]),
        to_answer_ms=_ms(samples["answer"]),
        polls_to_answer=statistics.median(samples["polls"]),
        overhead_ms=_ms(overhead),
        overhead_iqr_ms=_iqr_ms(overhead),
        to_answer_over_plain_ms=_ms(to_answer),
        store_create_us=round(store_create_us, 1),
        store_get_us=round(store_get_us, 1),
    )


@contextmanager
def _postgres() -> Iterator[str]:
    from tests.postgres_server import running_postgres

    with running_postgres(Path(tempfile.mkdtemp(prefix="gloo-mcp-bench-pg-"))) as url:
        yield url


def _rows(costs: list[TaskCost]) -> list[str]:
    lines = ["| figure | " + " | ".join(cost.store for cost in costs) + " |", "|---|" + "---|" * len(costs)]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    row("server/discover (floor)", [f"{c.floor_ms:.2f} ms" for c in costs])
    row("plain send_message", [f"{c.plain_ms:.2f} ms" for c in costs])
    row("CreateTaskResult", [f"{c.create_ms:.2f} ms" for c in costs])
    row("first tasks/get", [f"{c.first_get_ms:.2f} ms" for c in costs])
    row(
        "**create + first get minus plain**, per round (goal ≤ 5 ms)",
        [f"**{c.overhead_ms:.2f} ms** ({c.overhead_iqr_ms[0]:.2f} to {c.overhead_iqr_ms[1]:.2f})" for c in costs],
    )
    row("answer through a task, polling at once", [f"{c.to_answer_ms:.2f} ms" for c in costs])
    row("… minus the plain call, per round", [f"{c.to_answer_over_plain_ms:.2f} ms" for c in costs])
    row("tasks/get sent until completed (median)", [f"{c.polls_to_answer:g}" for c in costs])
    row("TaskStore.create / get, direct", [f"{c.store_create_us:.0f} / {c.store_get_us:.0f} µs" for c in costs])
    return lines


async def _main(options: argparse.Namespace) -> list[TaskCost]:
    rounds = 30 if options.quick else options.rounds
    costs: list[TaskCost] = []
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gloo-mcp-bench-tasks-")))
        costs.append(await measure_task_cost(f"sqlite:///{directory / 'chats.db'}", "SQLite", rounds))
        if options.postgres:
            url = stack.enter_context(_postgres())
            costs.append(await measure_task_cost(url, "PostgreSQL", rounds))
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tasks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="30 rounds")
    parser.add_argument("--postgres", action="store_true", help="also against a throwaway PostgreSQL server")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--serve", metavar="STORE_URL", help=argparse.SUPPRESS)  # the child process
    options = parser.parse_args()
    if options.serve:
        _serve(options.serve)
        return
    costs = anyio.run(_main, options)
    print("\n".join(_rows(costs)))
    if options.json:
        options.json.write_text(json.dumps([asdict(cost) for cost in costs], indent=2))


if __name__ == "__main__":
    main()
