"""``gloo-mcp config HOST [--url URL]``: JSON of each host's shape, absolute paths or the deployment's URL,
placeholders only, refusals in one sentence, and the local entry really starts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from gloo_mcp.cli.host_config import host_config
from gloo_mcp.simulator import SimulatorState, running_simulator
from tests.cli.test_cli import run

HOSTS = ["claude-desktop", "claude-code", "cursor", "vscode"]
REAL_LOOKING_SECRETS = {  # client credentials configured: the entries ask for them (test_host_config_choice.py)
    "GLOO_CLIENT_ID": "real-client-id-0912",
    "GLOO_CLIENT_SECRET": "real-secret-value-1234",
    "GLOO_MCP_AUTH_TOKEN": "real-shared-token-abcdefghijklmnop",
}
URL = "https://mcp.example.com/mcp"


def config_of(host: str, *flags: str) -> dict[str, Any]:
    done = run("config", host, *flags, env=REAL_LOOKING_SECRETS)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip()  # where to paste it, for the person reading
    for secret in REAL_LOOKING_SECRETS.values():
        assert secret not in done.stdout and secret not in done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def only_server(document: dict[str, Any], key: str) -> dict[str, Any]:
    assert list(document[key]) == ["gloo"]
    server: dict[str, Any] = document[key]["gloo"]
    return server


def assert_runs_installed_gloo_mcp(server: dict[str, Any]) -> None:
    command = Path(server["command"])
    assert command.is_absolute() and command.is_file() and os.access(command, os.X_OK)
    assert server["args"] == [] or server["args"] == ["-m", "gloo_mcp"]


@pytest.mark.parametrize("host", ["claude-desktop", "cursor"])
def test_desktop_style_hosts_get_an_mcp_servers_entry_with_placeholders(host: str) -> None:
    server = only_server(config_of(host), "mcpServers")
    assert set(server) == {"command", "args", "env"}
    assert_runs_installed_gloo_mcp(server)
    assert server["env"] == {
        "GLOO_CLIENT_ID": "<your Gloo client id>",
        "GLOO_CLIENT_SECRET": "<your Gloo client secret>",
    }


def test_claude_code_gets_a_typed_stdio_entry_for_mcp_json_with_references_to_the_secrets() -> None:
    server = only_server(config_of("claude-code"), "mcpServers")
    assert server["type"] == "stdio"
    assert_runs_installed_gloo_mcp(server)
    assert server["env"] == {"GLOO_CLIENT_ID": "${GLOO_CLIENT_ID}", "GLOO_CLIENT_SECRET": "${GLOO_CLIENT_SECRET}"}


def test_a_base_url_holding_a_password_is_never_carried_into_an_entry() -> None:
    done = run(
        "config", "cursor", env={"GLOO_BASE_URL": "https://user:hunter2@gloo.example", "GLOO_BACKEND": "message"}
    )
    assert done.returncode == 0 and "hunter2" not in done.stdout + done.stderr
    assert json.loads(done.stdout)["mcpServers"]["gloo"]["env"]["GLOO_BACKEND"] == "message"


def test_vscode_gets_servers_and_prompts_for_secrets_instead_of_storing_them() -> None:
    document = config_of("vscode")
    server = only_server(document, "servers")
    assert server["type"] == "stdio"
    assert_runs_installed_gloo_mcp(server)
    inputs = {i["id"]: i for i in document["inputs"]}
    assert server["env"] == {
        "GLOO_CLIENT_ID": "${input:gloo-client-id}",
        "GLOO_CLIENT_SECRET": "${input:gloo-client-secret}",
    }
    assert inputs["gloo-client-secret"]["password"] is True and inputs["gloo-client-id"]["password"] is False


@pytest.mark.parametrize("host", HOSTS)
def test_api_key_flag_asks_for_the_key_only(host: str) -> None:
    document = config_of(host, "--api-key")
    server = only_server(document, "servers" if host == "vscode" else "mcpServers")
    assert list(server["env"]) == ["GLOO_API_KEY"]


def test_windows_entries_force_utf8_stdio() -> None:
    server = host_config("claude-desktop", platform="win32")["mcpServers"]["gloo"]
    assert server["env"]["PYTHONIOENCODING"] == "utf-8"
    assert "PYTHONIOENCODING" not in host_config("claude-desktop", platform="linux")["mcpServers"]["gloo"]["env"]


def test_an_unknown_host_is_refused_with_the_choices() -> None:
    done = run("config", "emacs")
    assert done.returncode == 2 and "claude-desktop" in done.stderr


async def test_the_printed_entry_starts_a_working_server_once_filled_in() -> None:
    server = only_server(config_of("claude-desktop", "--api-key"), "mcpServers")
    sim = SimulatorState()
    with running_simulator(sim) as url:
        env = {**server["env"], "GLOO_API_KEY": sim.api_key, "GLOO_BASE_URL": url}
        env["XDG_DATA_HOME"] = os.environ["XDG_DATA_HOME"]  # the tests' data directory, not the user's
        params = StdioServerParameters(command=server["command"], args=server["args"], env=env)
        async with Client(params) as client:
            result = await client.call_tool("send_message", {"query": "Does the pasted config work?"})
    assert not result.is_error and sim.requests["message"] == 1


def test_claude_code_remote_entry_is_an_http_server_and_the_add_command() -> None:
    done = run("config", "claude-code", "--url", URL, env=REAL_LOOKING_SECRETS)
    assert done.returncode == 0, done.stderr
    assert only_server(json.loads(done.stdout), "mcpServers") == {"type": "http", "url": URL}
    assert f"claude mcp add --transport http gloo {URL}" in done.stderr


def test_vscode_remote_entry_is_an_http_server_without_credentials() -> None:
    document = config_of("vscode", "--url", URL)
    assert list(document) == ["servers"]
    assert only_server(document, "servers") == {"type": "http", "url": URL}


def test_cursor_remote_entry_is_a_url_without_credentials() -> None:
    assert only_server(config_of("cursor", "--url", URL), "mcpServers") == {"url": URL}


@pytest.mark.parametrize(
    ("host", "key", "authorization"),
    [
        ("claude-code", "mcpServers", "Bearer ${GLOO_MCP_AUTH_TOKEN}"),
        ("cursor", "mcpServers", "Bearer ${env:GLOO_MCP_AUTH_TOKEN}"),
        ("vscode", "servers", "Bearer ${input:gloo-mcp-auth-token}"),
    ],
)
def test_shared_token_entries_send_a_placeholder_the_host_fills_in(host: str, key: str, authorization: str) -> None:
    document = config_of(host, "--url", URL, "--shared-token")  # the real token is in the environment: never printed
    server = only_server(document, key)
    assert server["url"] == URL and server["headers"] == {"Authorization": authorization}
    if host == "vscode":
        assert document["inputs"] == [
            {
                "type": "promptString",
                "id": "gloo-mcp-auth-token",
                "description": "The gloo-mcp server's shared token (GLOO_MCP_AUTH_TOKEN)",
                "password": True,
            }
        ]


def test_a_loopback_http_url_is_accepted_for_local_testing() -> None:
    server = only_server(config_of("cursor", "--url", "http://127.0.0.1:8000/mcp"), "mcpServers")
    assert server == {"url": "http://127.0.0.1:8000/mcp"}


def assert_refused_in_one_sentence(*args: str) -> str:
    done = run("config", *args, env=REAL_LOOKING_SECRETS)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gloo-mcp config: ")
    assert lines[0].endswith(".") and ". " not in lines[0]  # one sentence
    for secret in REAL_LOOKING_SECRETS.values():
        assert secret not in done.stderr
    return lines[0]


def test_claude_desktop_is_told_to_add_a_connector_instead_of_getting_invalid_json() -> None:
    message = assert_refused_in_one_sentence("claude-desktop", "--url", URL)
    assert "Settings > Connectors > Add custom connector" in message and URL in message
    shared = assert_refused_in_one_sentence("claude-desktop", "--url", URL, "--shared-token")
    assert "GLOO_MCP_OAUTH_ISSUER" in shared and "real-shared-token" not in shared


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://mcp.example.com/mcp", "must use https unless it points at this machine"),
        ("ftp://mcp.example.com/mcp", "must be an http(s) URL with a host"),
        ("https://", "must be an http(s) URL with a host"),
        ("mcp.example.com/mcp", "must be an http(s) URL with a host"),
        ("https://mcp.example.com:99999/mcp", "malformed host or port"),
        ("https://mcp.example.com/m cp", "without spaces"),
        ("https://mcp.example.com/mcp#tools", "#fragment"),
        ("https://admin:hunter2-password@mcp.example.com/mcp", "must not contain a user name or password"),
        ("", "without spaces"),
    ],
)
def test_a_bad_url_is_refused_in_one_sentence_with_exit_status_2(url: str, says: str) -> None:
    message = assert_refused_in_one_sentence("cursor", "--url", url)
    assert says in message and "hunter2" not in message


@pytest.mark.parametrize(
    ("flags", "says"),
    [(("--shared-token",), "--shared-token applies only with --url"), (("--url", URL, "--api-key"), "--api-key")],
)
def test_options_of_the_other_kind_of_entry_are_refused(flags: tuple[str, ...], says: str) -> None:
    assert says in assert_refused_in_one_sentence("vscode", *flags)
