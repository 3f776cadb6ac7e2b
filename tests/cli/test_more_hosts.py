"""``gloo-mcp config`` for Windsurf, OpenAI Codex CLI (TOML), Gemini CLI and Zed, each in its documented format
(issue 20, item 8): parsed as the host parses it, references or placeholders only, and the local entry starts."""

from __future__ import annotations

import json
import os
import tomllib
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from gloo_mcp.simulator import SimulatorState, running_simulator
from tests.cli.test_cli import run
from tests.cli.test_host_config import REAL_LOOKING_SECRETS, assert_runs_installed_gloo_mcp

URL = "https://mcp.example.com/mcp"
KEY_ONLY = {"GLOO_API_KEY": "real-api-key-5678", "GLOO_MCP_AUTH_TOKEN": REAL_LOOKING_SECRETS["GLOO_MCP_AUTH_TOKEN"]}


def printed(host: str, *flags: str, env: dict[str, str] = KEY_ONLY) -> tuple[dict[str, Any], str]:
    done = run("config", host, *flags, env=env)
    assert done.returncode == 0, done.stderr
    for secret in (*REAL_LOOKING_SECRETS.values(), *KEY_ONLY.values()):
        assert secret not in done.stdout + done.stderr
    parsed: dict[str, Any] = tomllib.loads(done.stdout) if host == "codex" else json.loads(done.stdout)
    return parsed, done.stderr


LOCAL = {
    "windsurf": ("mcpServers", {"GLOO_API_KEY": "${env:GLOO_API_KEY}"}),
    "gemini-cli": ("mcpServers", {"GLOO_API_KEY": "$GLOO_API_KEY"}),
    "zed": ("context_servers", {"GLOO_API_KEY": "<your Gloo API key>"}),
}


@pytest.mark.parametrize("host", list(LOCAL))
def test_json_hosts_get_their_own_key_and_references_the_host_resolves(host: str) -> None:
    document, where = printed(host)
    key, env = LOCAL[host]
    assert list(document) == [key] and list(document[key]) == ["gloo"]
    server = document[key]["gloo"]
    assert set(server) == {"command", "args", "env"} and server["env"] == env
    assert_runs_installed_gloo_mcp(server)
    assert {"windsurf": "mcp_config.json", "gemini-cli": ".gemini/settings.json", "zed": "context_servers"}[
        host
    ] in where


def test_codex_gets_toml_that_forwards_the_variables_by_name() -> None:
    document, where = printed("codex", env={**KEY_ONLY, "GLOO_BACKEND": "completions"})
    server = document["mcp_servers"]["gloo"]
    assert server["env_vars"] == ["GLOO_API_KEY"] and server["env"] == {"GLOO_BACKEND": "completions"}
    assert_runs_installed_gloo_mcp(server)
    assert "~/.codex/config.toml" in where and "tool_timeout_sec" not in server


@pytest.mark.parametrize(
    ("host", "shape"),
    [
        ("windsurf", {"mcpServers": {"gloo": {"serverUrl": URL}}}),
        ("codex", {"mcp_servers": {"gloo": {"url": URL}}}),
        ("gemini-cli", {"mcpServers": {"gloo": {"httpUrl": URL}}}),
        ("zed", {"context_servers": {"gloo": {"url": URL}}}),
    ],
)
def test_remote_entries_sign_in_or_send_the_shared_token_by_reference(host: str, shape: dict[str, Any]) -> None:
    document, _ = printed(host, "--url", URL)
    assert document == shape
    shared, where = printed(host, "--url", URL, "--shared-token")
    server = shared[next(iter(shape))]["gloo"]
    if host == "codex":
        assert server["bearer_token_env_var"] == "GLOO_MCP_AUTH_TOKEN"
    else:
        expected = {
            "windsurf": "Bearer ${env:GLOO_MCP_AUTH_TOKEN}",
            "gemini-cli": "Bearer $GLOO_MCP_AUTH_TOKEN",
            "zed": "Bearer <your gloo-mcp shared token>",
        }[host]
        assert server["headers"] == {"Authorization": expected}
    assert where.strip()


def test_codex_toml_quotes_what_toml_must_quote() -> None:
    from gloo_mcp.cli.host_config import render

    text = render("codex", {"mcp_servers": {"gloo": {"command": 'C:\\Tools\\"gloo".exe', "args": [], "env": {}}}})
    assert tomllib.loads(text)["mcp_servers"]["gloo"]["command"] == 'C:\\Tools\\"gloo".exe'


async def test_the_printed_codex_entry_starts_a_working_server_once_its_variable_is_set() -> None:
    document, _ = printed("codex")
    server = document["mcp_servers"]["gloo"]
    sim = SimulatorState()
    with running_simulator(sim) as url:
        env = dict.fromkeys(server["env_vars"], sim.api_key) | {"GLOO_BASE_URL": url}
        env["XDG_DATA_HOME"] = os.environ["XDG_DATA_HOME"]  # the tests' data directory, not the user's
        params = StdioServerParameters(command=server["command"], args=server["args"], env=env)
        async with Client(params) as client:
            result = await client.call_tool("send_message", {"query": "Does the Codex entry work?"})
    assert not result.is_error and sim.requests["message"] == 1
