"""A Tasks client nobody here wrote: the official TypeScript client (@modelcontextprotocol/client 2.4.0 with
@modelcontextprotocol/ext-tasks 0.2.2) against gloo-mcp's HTTP app on a loopback socket, on 2026-07-28.

tests/tasks_client/tasks-client.mjs starts an answer that takes longer than its per-request
timeout, cancels another one, hands the first off and closes, then resumes it from a new
client and fetches the answer. The load run does it with a 20 s answer and a 5 s timeout.
Needs ``npm install --prefix tests/tasks_client``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from gloo_mcp.simulator.state import Fault
from gloo_mcp.transports.http_app import HttpOptions, build_http_app
from gloo_mcp.transports.serving import running_in_thread
from tests.conftest import sim_settings, sim_transport

CLIENT_DIR = Path(__file__).resolve().parent / "tasks_client"
SCRIPT = CLIENT_DIR / "tasks-client.mjs"
CANCELLED_QUERY = "An answer nobody waits for"


def _client_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    if not (CLIENT_DIR / "node_modules" / "@modelcontextprotocol" / "ext-tasks").is_dir():
        pytest.skip("the TypeScript Tasks client is not installed: npm install --prefix tests/tasks_client")
    return node


@contextmanager
def gloo_mcp_over_http(sim: SimulatorState) -> Iterator[str]:
    settings = sim_settings(sim)
    server = build_server(settings, transport=sim_transport(sim))
    with running_in_thread(build_http_app(server, settings, HttpOptions())) as base:
        yield f"{base}/mcp"


def run_tasks_client(phase: str, url: str, *, timeout_ms: int, within: float, **env: str) -> dict[str, Any]:
    """One run of the client script: its JSON lines by event (the two "started" lines as a list)."""
    node = _client_or_skip()
    variables = {**os.environ, "MCP_URL": url, "CLIENT_TIMEOUT_MS": str(timeout_ms), **env}
    done = subprocess.run(
        [node, str(SCRIPT), phase], env=variables, capture_output=True, text=True, timeout=within, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    events: dict[str, Any] = {"started": []}
    for line in done.stdout.splitlines():
        event = json.loads(line)
        if event["event"] == "started":
            events["started"].append(event)
        else:
            events[event["event"]] = event
    return events


def answer_later(sim: SimulatorState, *, answer_s: float, timeout_ms: int, within: float) -> dict[str, Any]:
    """Start (and cancel) from one client process, fetch the answer from another, and check what each saw."""
    with gloo_mcp_over_http(sim) as url:
        began = time.monotonic()
        first = run_tasks_client("start", url, timeout_ms=timeout_ms, within=within)
        reference = first["handed-off"]["reference"]
        later = run_tasks_client("resume", url, timeout_ms=timeout_ms, within=within, REFERENCE=json.dumps(reference))
        took = time.monotonic() - began
    assert first["connected"] == {"event": "connected", "era": "modern", "tasks": {}}
    long, doomed = first["started"]
    assert long["kind"] == doomed["kind"] == "task" and long["ms"] < timeout_ms
    assert first["cancelled"]["status"] == "cancelled"
    assert first["handed-off"]["ms"] < answer_s * 1000  # the first client left before the answer existed
    assert reference["taskId"] == long["taskId"] and reference["generation"] == "v2"
    completed = later["completed"]
    assert completed["status"] == "completed" and completed["taskId"] == long["taskId"]
    assert took >= answer_s > timeout_ms / 1000  # the answer took longer than any one request may
    assert completed["answer"] and completed["chatId"] in sim.chats and completed["chatId"] in completed["text"]
    assert completed["statusMessages"][0].startswith("working: Waiting for Gloo's answer")
    assert completed["snapshot"] == {"status": "completed", "retentionMs": 3_600_000, "pollMs": 1000}
    # the cancelled answer: its request to Gloo was aborted, and no turn holds its question
    assert sim.aborted["message"] == 1 and sim.requests["message"] == 2
    assert not any(m.get("message") == CANCELLED_QUERY for chat in sim.chats.values() for m in chat.messages)
    return completed


def test_the_typescript_tasks_client_outlasts_its_timeout_resumes_and_cancels(sim: SimulatorState) -> None:
    """The default suite's run: a 1.5 s answer, a 1 s per-request timeout."""
    sim.inject("message", Fault(delay=1.5), Fault(delay=1.5))
    answer_later(sim, answer_s=1.5, timeout_ms=1000, within=60)


@pytest.mark.load
def test_a_20_second_answer_through_the_typescript_tasks_client_with_a_5_second_timeout(sim: SimulatorState) -> None:
    sim.inject("message", Fault(delay=20), Fault(delay=20))
    completed = answer_later(sim, answer_s=20, timeout_ms=5000, within=120)
    # while Gloo worked, the status message said how long it had waited (heartbeats every 5 s)
    assert completed["statusMessages"][:4] == [
        "working: Waiting for Gloo's answer.",
        *(f"working: Waiting for Gloo's answer ({s} s elapsed)." for s in (5, 10, 15)),
    ]
