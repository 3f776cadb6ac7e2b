"""Fail closed: a configuration error never opens a door, and no store secret leaves the process.

The HTTP cases run the real ``gloo-mcp serve`` command on a loopback socket and talk to it
with the official SDK client, as a deployment would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest
from mcp import MCPError
from mcp_types import ResourceTemplateReference
from pydantic import SecretStr

from gloo_mcp.chats.store import LOCAL_OWNER, open_store
from gloo_mcp.simulator import SimulatorState
from tests.conftest import free_port, mcp_session
from tests.test_http import http_client

TOKEN = "a-team-token-of-enough-length"
SECRET_TITLE = "My private question about grief"
PASSWORD = "pa%ss-w0rd"
BASE_ENV = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}


async def seed_default_store(data_home: Path) -> None:
    """One conversation in the default store, whose title must never reach a caller while settings are broken."""
    store = await open_store(f"sqlite:///{data_home / 'gloo-mcp' / 'chats.db'}")
    await store.record_turn("c-private", owner=LOCAL_OWNER, backend="message", title=SECRET_TITLE, at=datetime.now(UTC))
    await store.aclose()


@contextmanager
def gloo_mcp_http(env: dict[str, str], *args: str) -> Iterator[str]:
    """``gloo-mcp serve --transport streamable-http`` as a subprocess; yields its base URL once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gloo_mcp", "serve", "--transport", "streamable-http", "--port", str(port), *args],
        env=BASE_ENV | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                httpx2.get(f"{base}/health", timeout=1)
                break
            except httpx2.TransportError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                time.sleep(0.05)
        else:
            raise AssertionError("gloo-mcp did not start listening")
        yield base
    finally:
        process.terminate()
        process.communicate(timeout=20)


def serve_and_fail(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the HTTP server command expecting it to refuse to start."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gloo_mcp",
            "serve",
            "--transport",
            "streamable-http",
            "--port",
            str(free_port()),
            *args,
        ],
        env=BASE_ENV | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("token", ["short-token", "fifteen-chars!!"])
def test_an_unusable_auth_token_refuses_to_start_naming_the_variable_and_the_rule(token: str) -> None:
    done = serve_and_fail({"GLOO_MCP_AUTH_TOKEN": token, "GLOO_API_KEY": "k"})
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert "refusing to start" in line and "GLOO_MCP_AUTH_TOKEN" in line and "16" in line
    assert token not in line


def test_a_public_bind_without_authentication_refuses_to_start() -> None:
    done = serve_and_fail({"GLOO_API_KEY": "k"}, "--host", "0.0.0.0")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "GLOO_MCP_AUTH_TOKEN" in line and "--no-auth" in line


def test_a_public_bind_serves_unauthenticated_only_with_the_explicit_opt_out(tmp_path: Path) -> None:
    env = {"GLOO_API_KEY": "k", "XDG_DATA_HOME": str(tmp_path)}
    with gloo_mcp_http(env, "--host", "0.0.0.0", "--no-auth") as base:
        assert httpx2.get(f"{base}/health").status_code == 200


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GLOO_TIMEOUT", "abc"),
        # each is a server process: one runs in the quick suite, the rest with the end-to-end runs (-m load)
        pytest.param("GLOO_BASE_URL", "http://platform.ai.gloo.com", marks=pytest.mark.load),
        pytest.param("GLOO_STORE_URL", "mysql://somewhere/db", marks=pytest.mark.load),
        pytest.param("GLOO_CHARACTER_LIMIT", "0", marks=pytest.mark.load),
    ],
)
async def test_a_configuration_error_keeps_the_token_guard_and_every_entry_point_reports_it(
    tmp_path: Path, variable: str, value: str
) -> None:
    await seed_default_store(tmp_path)
    env = {"GLOO_MCP_AUTH_TOKEN": TOKEN, "GLOO_API_KEY": "k", "XDG_DATA_HOME": str(tmp_path), variable: value}
    with gloo_mcp_http(env) as base:
        anonymous = httpx2.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert anonymous.status_code == 401
        async with http_client(f"{base}/mcp", TOKEN) as client:
            listed = await client.call_tool("list_chats", {})
            history = await client.call_tool("get_chat_history", {"chat_id": "c-private"})
            sent = await client.call_tool("send_message", {"query": "hello"})
            failures: list[str] = []
            for uri in ("gloo://chats", "gloo://chats/c-private"):
                with pytest.raises(MCPError) as read:
                    await client.read_resource(uri)
                failures.append(read.value.error.message)
            with pytest.raises(MCPError) as completed:
                await client.complete(
                    ResourceTemplateReference(uri="gloo://chats/{chat_id}"), {"name": "chat_id", "value": "c"}
                )
            failures.append(completed.value.error.message)
            for prompt, arguments in (
                ("summarize_gloo_chat", {"chat_id": "c-private"}),
                ("ask_gloo", {"question": "q"}),
            ):
                with pytest.raises(MCPError) as rendered:
                    await client.get_prompt(prompt, arguments)
                failures.append(rendered.value.error.message)
    for result in (listed, history, sent):
        assert result.is_error and result.structured_content is None
        failures.append(result.content[0].text)  # type: ignore[union-attr]
    for message in failures:
        assert variable in message, message
        assert SECRET_TITLE not in message


def test_a_store_url_with_a_bare_percent_is_one_sentence_without_the_password(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gloo_mcp", "check"],
        env=BASE_ENV | {"GLOO_API_KEY": "k", "GLOO_STORE_URL": f"postgresql://gloo:{PASSWORD}@127.0.0.1:5432/db"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "GLOO_STORE_URL" in output and "%25" in output
    assert PASSWORD not in output and "pa%ss" not in output and "Traceback" not in output


@pytest.mark.parametrize("port", ["99999", "abc"])
def test_a_store_url_with_a_malformed_port_is_one_sentence_without_the_url(tmp_path: Path, port: str) -> None:
    url = f"postgresql://gloo:hunter2hunter2@db.example:{port}/chats"
    done = subprocess.run(
        [sys.executable, "-m", "gloo_mcp", "check"],
        env=BASE_ENV | {"GLOO_API_KEY": "k", "GLOO_STORE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in output
    assert "GLOO_STORE_URL" in output and "port" in output
    assert "hunter2" not in output


async def test_a_driver_error_that_quotes_the_password_reaches_no_tool_result(sim: SimulatorState) -> None:
    url = f"postgresql://gloo:{PASSWORD}@127.0.0.1:{free_port()}/db"  # past config validation, straight to the driver
    async with mcp_session(sim, backend="completions", store_url=SecretStr(url)) as client:
        listed = await client.call_tool("list_chats", {})
        sent = await client.call_tool("send_message", {"query": "hello"})
    for result in (listed, sent):
        text = result.content[0].text  # type: ignore[union-attr]
        assert result.is_error and "GLOO_STORE_URL" in text
        assert PASSWORD not in text and "pa%ss" not in text and "ss-w0rd" not in text


async def test_a_store_that_cannot_be_reached_is_reported_as_a_store_error_not_a_cursor_error(
    sim: SimulatorState,
) -> None:
    url = f"postgresql://gloo:secretsecret@127.0.0.1:{free_port()}/db"
    async with mcp_session(sim, store_url=SecretStr(url)) as client:
        listed = await client.call_tool("list_chats", {"cursor": "abc"})
    text = listed.content[0].text  # type: ignore[union-attr]
    assert listed.is_error and "conversation store" in text and "cursor" not in text
    assert "secretsecret" not in text


async def test_a_cursor_that_list_chats_did_not_return_is_one_sentence(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        listed = await client.call_tool("list_chats", {"cursor": "not-a-cursor"})
    assert listed.is_error
    assert listed.content[0].text.startswith("cursor is not one that list_chats returned")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GLOO_MCP_OAUTH_ISSUER": "https://idp.example"}, "GLOO_MCP_RESOURCE_URL"),
        ({"GLOO_MCP_RESOURCE_URL": "https://mcp.example/mcp"}, "GLOO_MCP_OAUTH_ISSUER"),
        (
            {
                "GLOO_MCP_OAUTH_ISSUER": "https://idp.example",
                "GLOO_MCP_RESOURCE_URL": "https://mcp.example/mcp",
                "GLOO_MCP_AUTH_TOKEN": TOKEN,
            },
            "choose one way",
        ),
        (
            {"GLOO_MCP_OAUTH_ISSUER": "http://idp.example", "GLOO_MCP_RESOURCE_URL": "https://mcp.example/mcp"},
            "https",
        ),
    ],
)
def test_a_sign_in_that_cannot_work_refuses_to_start(env: dict[str, str], named: str) -> None:
    done = serve_and_fail({"GLOO_API_KEY": "k", **env})
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "refusing to start" in line and named in line
