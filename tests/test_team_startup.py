"""What a team's admin sees starting gloo-mcp over HTTP (issue 20, item 6): a start-up line with auth, store and
backend; ``--allowed-host NAME:443`` behind a TLS proxy; a warning for a resource URL without /mcp. (The expected
audience and issuer in a refused token's log line: tests/access/test_oauth.py.)"""

from __future__ import annotations

import os
import re
import select
import subprocess

import httpx2

from tests.test_first_run import WAIT, interrupt, start

TOKEN = "a-shared-token-of-32-characters!"


def started(*args: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, list[str]]:
    """A serving gloo-mcp, its base URL, and what it said on stderr up to the two lines after its address."""
    proc = start("serve", "--transport", "streamable-http", "--port", "0", *args, env=env)
    assert proc.stderr is not None
    stream, said = proc.stderr.fileno(), b""  # the raw pipe: the announcement's lines arrive in one write
    while True:
        text = said.decode(errors="replace")
        found = re.search(r"Streamable HTTP on (http://\S+)/mcp\n[^\n]*\n[^\n]*\n", text)
        if found:
            return proc, found.group(1), text.splitlines()
        ready, _, _ = select.select([stream], [], [], WAIT)
        chunk = os.read(stream, 65536) if ready else b""
        assert chunk, text
        said += chunk


def test_the_start_up_lines_say_auth_mode_store_and_backend() -> None:
    env = {"GLOO_MCP_AUTH_TOKEN": TOKEN, "GLOO_BACKEND": "completions", "GLOO_STORE_URL": "sqlite:////tmp/x/chats.db"}
    proc, _, said = started(env=env)
    interrupt(proc)
    line = next(line for line in said if "auth:" in line)
    assert "shared token" in line and "store sqlite:////tmp/x/chats.db" in line and "backend completions" in line


def test_an_allowed_host_with_port_443_accepts_the_name_a_tls_proxy_forwards() -> None:
    proc, url, _ = started("--allowed-host", "mcp.example.com:443", env={"GLOO_MCP_AUTH_TOKEN": TOKEN})
    try:
        headers = {"Host": "mcp.example.com", "Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
        answer = httpx2.post(f"{url}/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        other = httpx2.post(f"{url}/mcp", headers={**headers, "Host": "evil.example"}, json={})
    finally:
        interrupt(proc)
    assert answer.status_code != 421 and other.status_code == 421


def test_a_resource_url_without_the_mcp_path_is_warned_about() -> None:
    env = {"GLOO_MCP_OAUTH_ISSUER": "https://login.example.com/", "GLOO_MCP_RESOURCE_URL": "https://mcp.example.com/"}
    proc, _, said = started(env=env)
    interrupt(proc)
    assert any("GLOO_MCP_RESOURCE_URL" in line and "/mcp" in line for line in said), said
