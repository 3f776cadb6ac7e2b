"""Interoperability with the official MCP Inspector CLI (from the npm registry), over stdio and HTTP.

The Inspector is pinned to 0.15.0: it is the newest release whose ``engines`` admit the
Node.js 20 this machine type has (0.16 and later ask for Node >= 22.7.5, 2.x for
>= 22.19). Set GLOO_MCP_INSPECTOR to another npm spec to try a different release.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest

from gloo_mcp.cli.host_config import server_command
from gloo_mcp.simulator import SimulatorState, running_simulator
from tests.conftest import TOOL_NAMES, free_port

INSPECTOR = os.environ.get("GLOO_MCP_INSPECTOR", "@modelcontextprotocol/inspector@0.15.0")
NPX = shutil.which("npx")

pytestmark = [
    pytest.mark.load,  # npx and Node: with the end-to-end runs (pytest -m load, .ci/run)
    pytest.mark.skipif(NPX is None, reason="npx (Node.js) is not installed, so the Inspector cannot run"),
]


def inspector(*args: str) -> Any:
    """Run the Inspector CLI once and return the JSON it prints."""
    assert NPX is not None
    done = subprocess.run(
        [NPX, "-y", INSPECTOR, "--cli", *args],
        capture_output=True,
        text=True,
        timeout=300,  # the first run downloads the Inspector
        env={**os.environ, "npm_config_update_notifier": "false"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with running_simulator(SimulatorState()) as url:
        yield url


@contextmanager
def http_server(sim_url: str) -> Iterator[str]:
    """The real ``gloo-mcp serve --transport streamable-http`` command, as a deployment runs it."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "GLOO_API_KEY": "sim-api-key",
        "GLOO_BASE_URL": sim_url,
        "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"],
    }
    command = [*server_command(), "serve", "--transport", "streamable-http", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as process:
        try:
            deadline = time.monotonic() + 30
            while not _healthy(base):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    pytest.fail(f"gloo-mcp HTTP server did not start: {process.communicate()[1][-2000:]}")
                time.sleep(0.1)
            yield f"{base}/mcp"
        finally:
            process.terminate()
            process.wait(timeout=10)


def _healthy(base: str) -> bool:
    try:
        return httpx2.get(f"{base}/health").status_code == 200
    except httpx2.TransportError:
        return False


def stdio_target(sim_url: str) -> list[str]:
    data = f"XDG_DATA_HOME={os.environ['XDG_DATA_HOME']}"  # the tests' data directory, not the user's
    return ["-e", "GLOO_API_KEY=sim-api-key", "-e", f"GLOO_BASE_URL={sim_url}", "-e", data, *server_command()]


def test_inspector_lists_the_tools_over_stdio(sim_url: str) -> None:
    listed = inspector(*stdio_target(sim_url), "--method", "tools/list")
    names = {tool["name"] for tool in listed["tools"]}
    assert names == TOOL_NAMES
    assert all("outputSchema" in tool for tool in listed["tools"])


def test_inspector_calls_send_message_over_stdio(sim_url: str) -> None:
    result = inspector(
        *stdio_target(sim_url),
        "--method",
        "tools/call",
        "--tool-name",
        "send_message",
        "--tool-arg",
        "query=What is hope?",
        'publishers=["Example Press"]',
    )
    assert not result.get("isError")
    assert {source["publisher"] for source in result["structuredContent"]["sources"]} == {"Example Press"}
    assert result["structuredContent"]["chat_id"] in result["content"][0]["text"]


def test_inspector_cli_text_for_an_optional_number_is_read_as_the_number(sim_url: str) -> None:
    # The 0.15 CLI converts a --tool-arg only where the schema has a top-level "type"; an optional
    # number's schema is anyOf [integer, null], so it arrives as the text "2": digits are read as the number.
    result = inspector(
        *stdio_target(sim_url),
        "--method",
        "tools/call",
        "--tool-name",
        "send_message",
        "--tool-arg",
        "query=What is hope?",
        "sources_limit=2",
        "enable_suggestions=false",
    )
    assert not result.get("isError"), result["content"]
    assert len(result["structuredContent"]["sources"]) == 2
    assert result["structuredContent"]["suggestions"] == []


def test_inspector_lists_the_tools_and_calls_send_message_over_http(sim_url: str) -> None:
    with http_server(sim_url) as url:
        listed = inspector(url, "--transport", "http", "--method", "tools/list")
        result = inspector(
            url,
            "--transport",
            "http",
            "--method",
            "tools/call",
            "--tool-name",
            "send_message",
            "--tool-arg",
            "query=hi",
        )
    assert {tool["name"] for tool in listed["tools"]} == TOOL_NAMES
    assert not result.get("isError") and result["structuredContent"]["answer"]


def test_inspector_sees_the_prompts_over_stdio(sim_url: str) -> None:
    listed = inspector(*stdio_target(sim_url), "--method", "prompts/list")
    assert {prompt["name"] for prompt in listed["prompts"]} == {"ask_gloo", "summarize_gloo_chat"}
