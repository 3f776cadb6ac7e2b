"""``gloo-mcp config HOST`` follows what is configured, read as ``check`` reads it, and offers a portable entry
(issue 20, item 3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import run


def local_entry(
    tmp_path: Path, *flags: str, env: dict[str, str] | None = None, host: str = "claude-code"
) -> tuple[dict[str, Any], str]:
    done = run("config", host, *flags, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    server: dict[str, Any] = json.loads(done.stdout)["mcpServers"]["gloo"]
    return server, done.stderr


def test_with_only_an_api_key_configured_the_entry_asks_for_the_api_key_and_says_why(tmp_path: Path) -> None:
    server, said = local_entry(tmp_path, env={"GLOO_API_KEY": "real-api-key-5678"})
    assert server["env"] == {"GLOO_API_KEY": "${GLOO_API_KEY}"}
    assert "GLOO_API_KEY" in said and "real-api-key-5678" not in said + json.dumps(server)


def test_an_api_key_in_the_env_file_counts_as_check_counts_it(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GLOO_API_KEY=real-api-key-5678\nGLOO_BACKEND=completions\n")
    server, said = local_entry(tmp_path, host="cursor")
    assert server["env"] == {"GLOO_API_KEY": "<your Gloo API key>", "GLOO_BACKEND": "completions"}
    assert str(tmp_path / ".env") in said


def test_client_credentials_configured_give_client_credential_references(tmp_path: Path) -> None:
    server, said = local_entry(tmp_path, env={"GLOO_CLIENT_ID": "id", "GLOO_CLIENT_SECRET": "real-secret-1234"})
    assert server["env"] == {"GLOO_CLIENT_ID": "${GLOO_CLIENT_ID}", "GLOO_CLIENT_SECRET": "${GLOO_CLIENT_SECRET}"}
    assert "GLOO_CLIENT_ID and GLOO_CLIENT_SECRET" in said


def test_the_machine_bound_entry_says_so_and_offers_the_portable_one(tmp_path: Path) -> None:
    server, said = local_entry(tmp_path)
    assert Path(server["command"]).is_absolute()
    assert server["command"] in said and "--uvx" in said and "uvx gloo-mcp" in said


@pytest.mark.parametrize("host", ["claude-code", "cursor", "claude-desktop"])
def test_uvx_prints_the_portable_entry_and_says_it_did(tmp_path: Path, host: str) -> None:
    server, said = local_entry(tmp_path, "--uvx", host=host)
    assert server["command"] == "uvx" and server["args"] == ["gloo-mcp"]
    assert "uvx gloo-mcp" in said and "this machine" not in said


def test_uvx_applies_only_to_a_local_entry() -> None:
    done = run("config", "cursor", "--uvx", "--url", "https://mcp.example.com/mcp")
    assert done.returncode == 2 and "--uvx" in done.stderr and "Traceback" not in done.stderr
