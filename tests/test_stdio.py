"""End to end: a real ``gloo-mcp`` subprocess over stdio, against the simulator on 127.0.0.1.

The raw test speaks JSON-RPC through pipes as a handshake-era host does and checks that
every byte on stdout is JSON-RPC, with DEBUG logging on; the SDK test uses the 2026 era.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from gloo_mcp.simulator import SimulatorState, running_simulator
from tests.conftest import TOOL_NAMES

TIMEOUT = 30.0


@pytest.fixture
def live_sim() -> Iterator[tuple[SimulatorState, str]]:
    state = SimulatorState()
    with running_simulator(state) as url:
        yield state, url


def server_env(state: SimulatorState, url: str, **extra: str) -> dict[str, str]:
    return {
        "GLOO_BASE_URL": url,
        "GLOO_CLIENT_ID": state.client_id,
        "GLOO_CLIENT_SECRET": state.client_secret,
        "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"],  # the tests' data directory, not the user's
        **extra,
    }


class RawSession:
    """Just enough of a JSON-RPC host to drive the server and keep every stdout line."""

    def __init__(self, env: dict[str, str]) -> None:
        base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gloo_mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=base | env,
            cwd=os.path.dirname(__file__),
        )
        self.lines: list[bytes] = []
        self._inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr = b""
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self._next_id = 0

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            with contextlib.suppress(ValueError):
                self._inbox.put(json.loads(line))

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self._send({"jsonrpc": "2.0", "method": method, **({"params": params} if params else {})})

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        self._send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        while True:
            message = self._inbox.get(timeout=TIMEOUT)
            if message.get("id") == self._next_id:
                return message

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=TIMEOUT)
        self._reader.join(timeout=TIMEOUT)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()


def test_stdio_server_runs_the_whole_flow_and_stdout_is_only_json_rpc(live_sim: tuple[SimulatorState, str]) -> None:
    state, url = live_sim
    session = RawSession(server_env(state, url, GLOO_MCP_LOG_LEVEL="DEBUG"))
    try:
        init = session.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw-host", "version": "1"},
            },
        )
        assert init["result"]["protocolVersion"] == "2025-06-18"
        session.notify("notifications/initialized")
        tools = session.request("tools/list", {})["result"]["tools"]
        assert {t["name"] for t in tools} == TOOL_NAMES

        first = session.request("tools/call", {"name": "send_message", "arguments": {"query": "Where is hope?"}})
        reply = first["result"]["structuredContent"]
        second = session.request(
            "tools/call",
            {
                "name": "continue_chat",
                "arguments": {"chat_id": reply["chat_id"], "query": reply["suggestions"][0]},
            },
        )
        assert second["result"]["isError"] is False
        history = session.request(
            "tools/call", {"name": "get_chat_history", "arguments": {"chat_id": reply["chat_id"]}}
        )
        assert len(history["result"]["structuredContent"]["messages"]) == 4
    finally:
        session.close()

    assert session.proc.returncode == 0
    assert session.lines, "the server wrote nothing"
    for line in session.lines:
        assert json.loads(line)["jsonrpc"] == "2.0"
    stderr = session.stderr.decode()
    assert "DEBUG" in stderr  # logging really was on, and went to stderr
    assert state.client_secret not in stderr
    for token in state.tokens:
        assert token not in stderr and all(token.encode() not in line for line in session.lines)


def test_stdio_server_starts_without_credentials_and_stdout_stays_clean() -> None:
    session = RawSession({"GLOO_TIMEOUT": "not-a-number"})
    try:
        session.request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        )
        session.notify("notifications/initialized")
        result = session.request("tools/call", {"name": "send_message", "arguments": {"query": "hi"}})["result"]
    finally:
        session.close()
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith("GLOO_TIMEOUT is invalid")
    assert "structuredContent" not in result
    for line in session.lines:
        json.loads(line)


async def test_sdk_client_over_stdio_in_the_current_protocol_era(live_sim: tuple[SimulatorState, str]) -> None:
    state, url = live_sim
    params = StdioServerParameters(command=sys.executable, args=["-m", "gloo_mcp"], env=server_env(state, url))
    async with Client(params) as client:
        result = await client.call_tool("send_message", {"query": "How do I find meaning?"})
        assert client.session.protocol_version == "2026-07-28"
    assert not result.is_error and result.structured_content is not None
    assert state.requests["token"] == 1 and state.requests["message"] == 1


def test_starting_the_server_loads_neither_the_http_stack_nor_the_simulator() -> None:
    """Hosts spawn servers often: what only a tool call, the demo or the simulator needs loads later."""
    probe = (
        "import sys; from gloo_mcp.cli.main import main; from gloo_mcp.server import build_server; "
        "from gloo_mcp.config import Settings; build_server(Settings()); "
        "print(sorted(m for m in ('httpcore2', 'gloo_mcp.gloo.client', 'gloo_mcp.gloo.auth', 'gloo_mcp.simulator', "
        "'gloo_mcp.cli.demo', 'gloo_mcp.transports.http_app', 'dotenv') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
