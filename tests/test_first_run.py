"""A newcomer's first run, through real processes: what a terminal shows, Ctrl-C, a taken port, check, the demo."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gloo_mcp.config import Settings
from gloo_mcp.errors import ConfigurationError
from gloo_mcp.gloo.client import GlooClient
from gloo_mcp.models import MessageOptions
from gloo_mcp.simulator import SimulatorState, running_simulator
from gloo_mcp.transports.serving import running_in_thread
from tests.cli.test_cli import BASE_ENV, run
from tests.conftest import free_port

WAIT = 30.0  # seconds any one step may take before the test gives up; never a timing assertion
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


_started: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_child_outlives_its_test() -> Iterator[None]:
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=WAIT)


def start(
    *args: str, stdin: int | IO[bytes] | None = subprocess.PIPE, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``gloo-mcp ARGS`` as a child process, killed after the test if it is still running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gloo_mcp", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=BASE_ENV | (env or {}),
    )
    _started.append(proc)
    return proc


def read_line(stream: IO[bytes]) -> str:
    """One line from a child's pipe, waiting at most WAIT seconds for it to begin."""
    ready, _, _ = select.select([stream], [], [], WAIT)
    assert ready, "the child wrote nothing in time"
    return stream.readline().decode()


def wait_until_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(int(WAIT / 0.05)):
        assert proc.poll() is None, proc.communicate()[1].decode()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            select.select([], [], [], 0.05)  # a bounded pause between attempts
    raise AssertionError(f"nothing listened on port {port}")


def interrupt(proc: subprocess.Popen[bytes]) -> tuple[int, str, str]:
    """Ctrl-C: SIGINT, then the exit status, stdout and stderr."""
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=WAIT)
    return proc.returncode, out.decode(), err.decode()


def initialize(proc: subprocess.Popen[bytes]) -> dict[str, object]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
    proc.stdin.flush()
    answer: dict[str, object] = json.loads(read_line(proc.stdout))
    return answer


# --- a terminal gets one line saying what this is -------------------------------------------


def test_gloo_mcp_started_in_a_terminal_says_in_one_line_what_it_is_and_how_to_try_it() -> None:
    controller, terminal = pty.openpty()
    try:
        proc = start(stdin=terminal)
        os.close(terminal)
        assert proc.stderr is not None
        hint = read_line(proc.stderr)
        status, out, err = interrupt(proc)
    finally:
        os.close(controller)
    assert hint.startswith("gloo-mcp: ") and "MCP server" in hint and "waiting for an MCP host" in hint
    program = f"{sys.executable} -m gloo_mcp"  # as it was started: the commands work from here
    assert f"`{program} demo`" in hint and f"`npx -y @modelcontextprotocol/inspector@2.12.0 {program}`" in hint
    assert "MCP server" not in err  # said once, on one line
    assert out == ""  # stdout stays JSON-RPC only
    assert status == 130 and "Traceback" not in err


def test_gloo_mcp_started_by_a_host_prints_no_hint_and_only_json_rpc_on_stdout() -> None:
    proc = start()
    answer = initialize(proc)
    out, err = proc.communicate(timeout=WAIT)  # closes stdin: the host hangs up
    assert answer["id"] == 1 and "result" in answer
    assert proc.returncode == 0 and out == b""
    assert b"MCP server" not in err and b"npx" not in err


# --- Ctrl-C ends every server quietly ----------------------------------------------------------


def test_ctrl_c_ends_stdio_serving_quietly_with_status_130() -> None:
    proc = start()
    initialize(proc)
    status, out, err = interrupt(proc)
    assert status == 130 and out == "" and "Traceback" not in err
    assert len(err.splitlines()) <= 1  # at most the no-credentials warning


@pytest.mark.load  # servers in subprocesses: with the end-to-end runs (pytest -m load, .ci/run)
@pytest.mark.parametrize("command", [("serve", "--transport", "streamable-http"), ("simulator",)])
def test_ctrl_c_ends_http_serving_and_the_simulator_quietly_with_status_130(command: tuple[str, ...]) -> None:
    port = free_port()
    proc = start(*command, "--port", str(port), stdin=subprocess.DEVNULL)
    wait_until_listening(port, proc)
    status, out, err = interrupt(proc)
    assert status == 130 and out == "" and "Traceback" not in err
    assert not [line for line in err.splitlines() if "shutting down" in line.lower() or "KeyboardInterrupt" in line]


# --- a port in use is one line ------------------------------------------------------------------


@pytest.mark.load  # servers in subprocesses: with the end-to-end runs (pytest -m load, .ci/run)
@pytest.mark.parametrize(
    ("command", "program"),
    [(("serve", "--transport", "streamable-http"), "gloo-mcp"), (("simulator",), "gloo-mcp simulator")],
)
def test_a_port_in_use_is_one_line_that_suggests_port_and_exit_status_2(command: tuple[str, ...], program: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(*command, "--port", str(port), env={"GLOO_API_KEY": "k"})
    lines = [line for line in done.stderr.splitlines() if "no Gloo credentials" not in line]
    assert done.returncode == 2 and done.stdout == ""
    assert lines == [f"{program}: port {port} on 127.0.0.1 is already in use; choose another with --port."]


# --- check believes only an answer shaped like Gloo's --------------------------------------------


async def _html_404(request: Request) -> Response:
    return HTMLResponse("<html><body><h1>Not Found</h1></body></html>", status_code=404)


@contextmanager
def not_gloo() -> Iterator[str]:
    """A web server that answers every request with an HTML 404, as a website or a proxy would."""
    app = Starlette(routes=[Route("/{path:path}", _html_404, methods=["GET", "POST"])])
    with running_in_thread(app, lifespan="off") as url:
        yield url


def test_check_does_not_accept_credentials_from_a_server_that_does_not_answer_like_gloo(tmp_path: Path) -> None:
    with not_gloo() as url:
        done = run("check", cwd=tmp_path, env={"GLOO_BASE_URL": f"{url}/api/v1", "GLOO_API_KEY": "wrong-key"})
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert "ok    credentials" not in done.stdout
    assert lines[-1].startswith(f"FAIL  credentials: {url}/api/v1 did not answer like Gloo (")
    assert "HTTP 404, text/html" in lines[-1] and "check GLOO_BASE_URL" in lines[-1]
    assert "warn  configuration: GLOO_BASE_URL has a path (/api/v1); Gloo's base URL is an origin" in done.stdout


def test_check_fails_credentials_that_gloo_answers_with_401(tmp_path: Path) -> None:
    with running_simulator(SimulatorState()) as url:
        done = run("check", cwd=tmp_path, env={"GLOO_BASE_URL": url, "GLOO_API_KEY": "wrong-key"})
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].startswith("FAIL  credentials: Gloo rejected the credentials (HTTP 401)")


def test_check_names_the_env_file_it_read_and_gloo_names_that_look_like_typos(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GLOO_CLIENTID=abc\nGLOO_CLIENT_SECRET=s3cret-value\n")
    done = run("check", cwd=tmp_path, env={"GLOO_BACKENDS": "completions", "GLOO_SHINY": "1"})
    out = done.stdout
    assert f"(read {tmp_path / '.env'})" in out.splitlines()[0]
    assert "warn  configuration: GLOO_CLIENTID (in .env) is not a gloo-mcp setting; did you mean GLOO_CLIENT_ID?" in out
    assert "GLOO_BACKENDS (in the environment) is not a gloo-mcp setting; did you mean GLOO_BACKEND?" in out
    assert "GLOO_SHINY (in the environment) is not a gloo-mcp setting" in out
    assert "s3cret-value" not in out + done.stderr
    assert done.returncode == 1 and "FAIL  credentials: GLOO_CLIENT_ID is not set" in out


def test_check_says_when_no_env_file_was_found(tmp_path: Path) -> None:
    done = run("check", cwd=tmp_path)
    assert f"(no .env in {tmp_path}, environment only)" in done.stdout.splitlines()[0]


def test_check_warns_when_the_simulator_would_fill_the_real_conversation_store(tmp_path: Path) -> None:
    with running_simulator(SimulatorState()) as url:
        done = run("check", cwd=tmp_path, env={"GLOO_BASE_URL": url, "GLOO_API_KEY": "sim-api-key"})
    assert done.returncode == 0, done.stdout
    assert "the gloo-mcp simulator, not Gloo AI" in done.stdout
    assert "warn  store: GLOO_BASE_URL is the gloo-mcp simulator but GLOO_STORE_URL is not set" in done.stdout


async def test_a_404_on_a_send_points_at_gloo_base_url_not_at_the_arguments() -> None:
    with not_gloo() as url:
        client = GlooClient.open(Settings(base_url=f"{url}/v1", api_key="k"))
        try:
            with pytest.raises(ConfigurationError) as caught:
                await client.send_message("hello", options=MessageOptions())
        finally:
            await client.aclose()
    assert "check GLOO_BASE_URL" in str(caught.value) and "argument" not in str(caught.value)


# --- simulated conversations stay out of the user's store ----------------------------------------


def test_two_simulator_runs_never_hand_out_the_same_chat_id() -> None:
    first, second = SimulatorState(), SimulatorState()
    assert first.new_id("c") != second.new_id("c")
    assert SimulatorState(run_id="fixed").new_id("c") == SimulatorState(run_id="fixed").new_id("c")


@pytest.mark.load  # the whole demo in a subprocess: with the end-to-end runs (pytest -m load, .ci/run)
def test_the_offline_demo_uses_a_temporary_store_and_the_real_suggestion_on_completions_v2(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = run("demo", cwd=tmp_path, env={"XDG_DATA_HOME": str(data), "GLOO_BACKEND": "completions"})
    assert done.returncode == 0, done.stderr
    assert "temporary store" in done.stdout
    assert not (data / "gloo-mcp").exists()  # the user's conversation store was never opened
    suggested = done.stdout.split("Suggested follow-ups:", 1)[1].split("•", 1)[1].splitlines()[0].strip()
    assert f"② continue_chat with Gloo's first suggested follow-up: {suggested}" in done.stdout


@pytest.mark.load  # the whole demo in a subprocess: with the end-to-end runs (pytest -m load, .ci/run)
def test_the_demo_says_so_when_gloo_suggested_no_follow_ups(tmp_path: Path) -> None:
    done = run("demo", cwd=tmp_path, env={"GLOO_ENABLE_SUGGESTIONS": "false"})
    assert done.returncode == 0, done.stderr
    assert "Gloo suggested no follow-ups, so the demo asks its own" in done.stdout
    assert "first suggest" not in done.stdout


# --- host entries refer to secrets, never hold them ----------------------------------------------


def test_config_claude_code_refers_to_secrets_and_carries_the_base_url_and_backend() -> None:
    secrets = {"GLOO_CLIENT_ID": "my-id-123", "GLOO_CLIENT_SECRET": "my-secret-456", "GLOO_API_KEY": "my-key-789"}
    chosen = {"GLOO_BASE_URL": "http://127.0.0.1:8765", "GLOO_BACKEND": "completions"}
    client_only = {name: value for name, value in secrets.items() if name != "GLOO_API_KEY"}
    cases = (
        ((), client_only, ("GLOO_CLIENT_ID", "GLOO_CLIENT_SECRET")),
        ((), secrets, ("GLOO_API_KEY",)),  # the key takes precedence, in the server and so in its entry
        (("--api-key",), client_only, ("GLOO_API_KEY",)),
    )
    for flags, configured, names in cases:
        done = run("config", "claude-code", *flags, env=configured | chosen)
        assert done.returncode == 0, done.stderr
        env = json.loads(done.stdout)["mcpServers"]["gloo"]["env"]
        assert env == {**{name: f"${{{name}}}" for name in names}, **chosen}
        for value in secrets.values():
            assert value not in done.stdout + done.stderr
