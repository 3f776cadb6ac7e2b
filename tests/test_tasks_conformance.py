"""gloo-mcp's Tasks machinery (tasks.py) under the official conformance suite's tasks-* scenarios, fixtures and all.

The product server has none of the suite's fixture tools (``slow_compute``, ``failing_job`` …),
so against it only the generic Tasks checks apply (tests/test_tasks.py covers those, and
tests/test_conformance.py runs the whole suite). Here the same ``Tasks`` and
``TasksExtension`` serve the fixtures on a small MCPServer, so every scenario runs, and each
check must pass except those that need a task to ask for input (``input_required``), which
gloo-mcp's tools never do. Needs ``npm ci --prefix tests/conformance``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import pytest
from mcp.server import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, CallToolResult, TextContent
from pydantic import SecretStr

from gloo_mcp.config import Settings
from gloo_mcp.server.state import AppState
from gloo_mcp.server.tasks import Tasks, TasksExtension
from gloo_mcp.transports.serving import running_in_thread

pytestmark = pytest.mark.load  # a Node program, a dozen scenarios with real sleeps

SUITE = Path(__file__).parent / "conformance"
CONFORMANCE = SUITE / "node_modules" / ".bin" / "conformance"
SCENARIOS = [
    "tasks-capability-negotiation",
    "tasks-dispatch-and-envelope",
    "tasks-lifecycle",
    "tasks-request-headers",
    "tasks-request-state-removal",
    "tasks-required-task-error",
    "tasks-mrtr-input",
    "tasks-mrtr-composition",
    "tasks-status-notifications",
]
NEEDS_INPUT = "a task that asks for input (input_required, tasks/update with inputResponses): gloo-mcp's tools never do"
NOT_PASSING = {
    "sep-2663-tasks-get-status-input-required": NEEDS_INPUT,
    "tasks-mrtr-tasks-update-resumes": NEEDS_INPUT,
    "tasks-mrtr-partial-fulfillment": NEEDS_INPUT,
    "sep-2663-mrtr-synchronous-before-task-creation": NEEDS_INPUT + " (an MRTR round before the task)",
    "tasks-status-notifications": "the suite skips it (pending its subscriptions/listen rewrite)",
}


def fixture_server(store: Path) -> MCPServer[AppState]:
    """The suite's fixture tools, served as Tasks by gloo-mcp's Tasks extension."""
    state = AppState(Settings(store_url=SecretStr(f"sqlite:///{store}")))
    tasks = Tasks(state, tools=frozenset({"slow_compute", "protocol_error_job"}), required=frozenset({"failing_job"}))

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        async with tasks.serving():
            yield state

    server = MCPServer[AppState]("tasks-fixtures", lifespan=lifespan, extensions=[TasksExtension(tasks)])

    @server.tool()
    def greet(name: str) -> str:
        """Sync-only."""
        return f"Hello, {name}!"

    @server.tool()
    async def slow_compute(seconds: float, label: str = "") -> str:
        """Sleeps ``seconds``."""
        await anyio.sleep(seconds)
        return f"computed {label} in {seconds:g} s"

    @server.tool()
    async def failing_job() -> CallToolResult:
        """A tool error after about a second."""
        await anyio.sleep(1)
        return CallToolResult(content=[TextContent(type="text", text="the job failed")], is_error=True)

    @server.tool()
    async def protocol_error_job() -> str:
        """A JSON-RPC error."""
        raise MCPError(INTERNAL_ERROR, "the job broke")

    return server


@contextmanager
def serving_fixtures(store: Path) -> Iterator[str]:
    server = fixture_server(store)
    app = server.streamable_http_app(stateless_http=True, json_response=False, host="127.0.0.1")
    with running_in_thread(app) as base:
        yield f"{base}/mcp"


def test_the_tasks_machinery_passes_the_suites_tasks_scenarios_with_their_fixtures(tmp_path: Path) -> None:
    if not CONFORMANCE.exists() or shutil.which("node") is None:
        pytest.skip("the conformance suite is not installed: npm ci --prefix tests/conformance (.ci/run does it)")
    statuses: dict[str, str] = {}
    with serving_fixtures(tmp_path / "chats.db") as url:
        for scenario in SCENARIOS:
            output = tmp_path / scenario
            subprocess.run(
                [str(CONFORMANCE), "server", "--url", url, "--scenario", scenario, "-o", str(output)],
                capture_output=True,
                text=True,
                timeout=300,
                env=os.environ | {"NO_COLOR": "1"},
                cwd=SUITE,
                check=False,
            )
            for path in output.rglob("checks.json"):
                for check in json.loads(path.read_text()):
                    statuses[check["id"]] = check["status"]
    assert len(statuses) > 30
    failing = {check: status for check, status in statuses.items() if status != "SUCCESS"}
    assert failing.keys() == NOT_PASSING.keys(), failing
