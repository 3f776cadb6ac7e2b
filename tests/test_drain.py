"""A stop never loses a call: SIGTERM (and SIGINT, and stdin's end on stdio) drains before the server exits.

The upstream is slow on demand: the simulator, in this process, holds every message request
until the test lets it through, so a call is provably in flight when the signal arrives. The
servers are the real ``gloo-mcp`` command in a subprocess, except for one in-process case
that drives the drain directly.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import anyio
import httpx2
import pytest
from mcp_types import CallToolResult
from starlette.types import Receive, Scope, Send

from gloo_mcp.access.audit import AuditLog
from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState, create_app
from gloo_mcp.transports.drain import DRAINING_SENTENCE, Drain
from gloo_mcp.transports.http_app import HttpOptions, build_http_app
from gloo_mcp.transports.serving import running_in_thread
from tests.conftest import free_port, sim_settings
from tests.test_http import LEGACY_HEADERS, http_client

WAIT = 30.0
BASE_ENV = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
CALL = {
    "jsonrpc": "2.0",
    "id": 9,
    "method": "tools/call",
    "params": {"name": "send_message", "arguments": {"query": "Too late?"}},
}


class HeldMessages:
    """The simulator, holding each message request until :attr:`release` is set."""

    def __init__(self, sim: SimulatorState) -> None:
        self._app = create_app(sim)
        self.arrived = threading.Event()
        self.release = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/ai/v1/message":
            self.arrived.set()
            await anyio.to_thread.run_sync(self.release.wait)
        await self._app(scope, receive, send)

    async def wait_arrived(self) -> None:
        assert await anyio.to_thread.run_sync(self.arrived.wait, WAIT), "no message request reached the simulator"


@contextmanager
def held_simulator(sim: SimulatorState) -> Iterator[tuple[str, HeldMessages]]:
    """The holding simulator on a loopback port; yields its base URL and the hold."""
    held = HeldMessages(sim)
    with running_in_thread(held, lifespan="off") as url:
        try:
            yield url, held
        finally:
            held.release.set()


def server_env(sim: SimulatorState, url: str, data: Path, **extra: str) -> dict[str, str]:
    return BASE_ENV | {"GLOO_BASE_URL": url, "GLOO_API_KEY": sim.api_key, "XDG_DATA_HOME": str(data), **extra}


def audit_lines(stderr: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith('{"event":"tool_call"')]
    return lines


def refused_connection(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


# --- HTTP: the real command in a subprocess -----------------------------------------------------


class HttpServer:
    """``gloo-mcp serve --transport streamable-http`` in a subprocess."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gloo_mcp", "serve", "--transport", "streamable-http", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.stderr = ""

    def wait_listening(self) -> None:
        for _ in range(int(WAIT / 0.05)):
            assert self.proc.poll() is None, self.proc.communicate()[1].decode()
            try:
                httpx2.get(f"{self.base}/health", timeout=1)
                return
            except httpx2.TransportError:
                threading.Event().wait(0.05)  # a bounded pause between attempts to connect
        raise AssertionError("gloo-mcp did not start listening")

    async def exit_status(self) -> int:
        """Wait (bounded) for the server to exit; keeps its stderr."""
        _, err = await anyio.to_thread.run_sync(lambda: self.proc.communicate(timeout=WAIT))
        self.stderr = err.decode()
        return self.proc.returncode

    async def readiness_once_draining(self) -> httpx2.Response:
        """/readyz, asked until the signal has been handled and it says so (bounded)."""
        async with httpx2.AsyncClient(timeout=10) as http:
            with anyio.fail_after(WAIT):
                while True:
                    response = await http.get(f"{self.base}/readyz")
                    if response.status_code == 503:
                        return response
                    await anyio.sleep(0.05)

    async def new_call(self) -> httpx2.Response:
        async with httpx2.AsyncClient(timeout=10) as http:
            return await http.post(f"{self.base}/mcp", json=CALL, headers=LEGACY_HEADERS)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=WAIT)


@contextmanager
def http_server(env: dict[str, str]) -> Iterator[HttpServer]:
    server = HttpServer(env)
    try:
        server.wait_listening()
        yield server
    finally:
        server.kill()


class InFlight:
    """One send_message through the official client, run in the background; keeps its result or failure."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.result: CallToolResult | None = None
        self.failure: BaseException | None = None
        self.done = anyio.Event()

    async def run(self) -> None:
        try:
            async with http_client(self._url) as client:
                await client.list_tools()  # the client checks results against the listed schema: list before the stop
                self.result = await client.call_tool("send_message", {"query": "What is rest?"})
        except Exception as failure:  # a cut connection: the tests that expect one look at it
            self.failure = failure
        finally:
            self.done.set()

    async def finished(self) -> CallToolResult:
        with anyio.fail_after(WAIT):
            await self.done.wait()
        assert self.failure is None, repr(self.failure)
        assert self.result is not None
        return self.result


def assert_full_answer(result: CallToolResult) -> None:
    assert not result.is_error, result.content
    reply = result.structured_content
    assert reply is not None and reply["chat_id"] and "You asked" in reply["answer"]
    assert reply["answer"] in result.content[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("stop", "status"),
    [
        pytest.param(signal.SIGTERM, 0, id="SIGTERM"),
        # Ctrl-C drains the same way, then ends with the interrupt's status, as it always has
        pytest.param(signal.SIGINT, 130, marks=pytest.mark.load, id="SIGINT"),
    ],
)
async def test_a_stop_signal_lets_the_call_in_flight_finish_refuses_new_ones_and_exits_cleanly(
    sim: SimulatorState, tmp_path: Path, stop: signal.Signals, status: int
) -> None:
    with held_simulator(sim) as (url, held), http_server(server_env(sim, url, tmp_path)) as server:
        call = InFlight(f"{server.base}/mcp")
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call.run)
            await held.wait_arrived()
            server.proc.send_signal(stop)
            readiness = await server.readiness_once_draining()
            refused = await server.new_call()
            held.release.set()
            result = await call.finished()
        exit_status = await server.exit_status()
    assert_full_answer(result)
    assert readiness.json()["status"] == "draining"
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["error_description"] == DRAINING_SENTENCE
    assert exit_status == status, server.stderr
    (audit,) = audit_lines(server.stderr)
    assert audit["tool"] == "send_message" and audit["outcome"] == "ok"
    assert audit["chat_id"] == result.structured_content["chat_id"]
    assert "Traceback" not in server.stderr
    assert refused_connection(server.port)  # stopped: new connections are refused


@pytest.mark.load  # a server process per case: with the end-to-end runs
async def test_a_second_sigterm_ends_the_server_at_once_with_status_143(sim: SimulatorState, tmp_path: Path) -> None:
    with held_simulator(sim) as (url, held), http_server(server_env(sim, url, tmp_path)) as server:
        call = InFlight(f"{server.base}/mcp")
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call.run)
            await held.wait_arrived()
            server.proc.send_signal(signal.SIGTERM)
            await server.readiness_once_draining()
            server.proc.send_signal(signal.SIGTERM)
            exit_status = await server.exit_status()
            with anyio.fail_after(WAIT):
                await call.done.wait()
    assert exit_status == 143
    assert call.result is None and call.failure is not None  # cut, as the operator asked
    assert "exiting now" in server.stderr


@pytest.mark.load  # a server process per case: with the end-to-end runs
async def test_a_call_that_outlives_its_deadline_ends_with_its_timeout_and_does_not_hold_the_stop(
    sim: SimulatorState, tmp_path: Path
) -> None:
    env = server_env(sim, "", tmp_path, GLOO_TIMEOUT="2")
    with held_simulator(sim) as (url, held), http_server(env | {"GLOO_BASE_URL": url}) as server:
        call = InFlight(f"{server.base}/mcp")
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call.run)
            await held.wait_arrived()  # and never released: Gloo does not answer
            server.proc.send_signal(signal.SIGTERM)
            result = await call.finished()
        exit_status = await server.exit_status()
    assert result.is_error and "2 s" in result.content[0].text  # type: ignore[union-attr]
    assert exit_status == 0, server.stderr
    (audit,) = audit_lines(server.stderr)
    assert audit["tool"] == "send_message" and audit["outcome"] != "ok"


async def test_once_draining_the_app_refuses_new_calls_and_completes_the_one_in_flight(sim: SimulatorState) -> None:
    held, drain, written = HeldMessages(sim), Drain(), list[str]()
    settings = sim_settings(sim)
    server = build_server(settings, transport=httpx2.ASGITransport(app=held), audit=AuditLog(write=written.append))
    app = build_http_app(server, settings, HttpOptions(), drain=drain)
    try:
        with running_in_thread(app) as base:
            call = InFlight(f"{base}/mcp")
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(call.run)
                await held.wait_arrived()
                in_flight = drain.in_flight
                drain.begin()
                async with httpx2.AsyncClient(timeout=10) as http:
                    refused = await http.post(f"{base}/mcp", json=CALL, headers=LEGACY_HEADERS)
                    health = await http.get(f"{base}/health")
                held.release.set()
                result = await call.finished()
    finally:
        held.release.set()
    assert in_flight == 1 and drain.in_flight == 0
    assert_full_answer(result)
    assert refused.status_code == 503 and refused.headers["connection"] == "close"
    assert health.status_code == 200  # liveness is not readiness: nothing should restart a draining server
    assert [json.loads(line)["outcome"] for line in written] == ["ok"]


# --- stdio: the real command in a subprocess ----------------------------------------------------


class StdioHost:
    """Just enough of a host on gloo-mcp's stdio: requests out, every stdout and stderr line kept."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gloo_mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.lines: list[bytes] = []
        self.stderr_lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.lines.append(line)
            self.messages.put(json.loads(line))

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.stderr_lines.put(line.decode())

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self, request_id: int) -> dict[str, Any]:
        while True:
            message = self.messages.get(timeout=WAIT)
            if message.get("id") == request_id:
                return message

    def said(self, text: str) -> None:
        """Wait (bounded) for a stderr line containing ``text``."""
        while text not in self.stderr_lines.get(timeout=WAIT):
            pass

    def start_call(self) -> None:
        self.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            }
        )
        assert "result" in self.answer(1)
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.send(CALL | {"id": 2, "params": {"name": "send_message", "arguments": {"query": "What is rest?"}}})

    def exit_status(self) -> int:
        self.proc.wait(timeout=WAIT)
        for reader in self._readers:
            reader.join(timeout=WAIT)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)
        for reader in self._readers:
            reader.join(timeout=WAIT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()


@contextmanager
def stdio_server(env: dict[str, str]) -> Iterator[StdioHost]:
    host = StdioHost(env)
    try:
        yield host
    finally:
        host.kill()


def assert_full_stdio_answer(message: dict[str, Any]) -> None:
    result = message["result"]
    assert result["isError"] is False and "You asked" in result["structuredContent"]["answer"]


async def test_stdio_sigterm_answers_the_call_in_flight_refuses_new_requests_and_exits_0(
    sim: SimulatorState, tmp_path: Path
) -> None:
    env = server_env(sim, "", tmp_path, GLOO_MCP_LOG_LEVEL="INFO")
    with held_simulator(sim) as (url, held), stdio_server(env | {"GLOO_BASE_URL": url}) as host:
        host.start_call()
        await held.wait_arrived()
        host.proc.send_signal(signal.SIGTERM)
        host.said("stopping: answering 1 request(s) in flight first")
        host.send(CALL | {"id": 3})
        refused = host.answer(3)
        held.release.set()
        answered = host.answer(2)
        status = host.exit_status()
    assert_full_stdio_answer(answered)
    assert refused["error"]["message"] == (
        "gloo-mcp is shutting down and takes no new requests; start it again to continue."
    )
    assert status == 0
    assert all(json.loads(line)["jsonrpc"] == "2.0" for line in host.lines)  # stdout stays JSON-RPC only
    assert sim.requests["message"] == 1  # the refused request never reached Gloo


@pytest.mark.load  # a server process per case: with the end-to-end runs
async def test_stdio_end_of_input_answers_the_call_in_flight_then_exits_0(sim: SimulatorState, tmp_path: Path) -> None:
    env = server_env(sim, "", tmp_path, GLOO_MCP_LOG_LEVEL="INFO")
    with held_simulator(sim) as (url, held), stdio_server(env | {"GLOO_BASE_URL": url}) as host:
        host.start_call()
        await held.wait_arrived()
        assert host.proc.stdin is not None
        host.proc.stdin.close()  # the host hangs up, as MCP's stdio shutdown begins
        host.said("stopping: answering 1 request(s) in flight first")
        held.release.set()
        answered = host.answer(2)
        status = host.exit_status()
    assert_full_stdio_answer(answered)
    assert status == 0
