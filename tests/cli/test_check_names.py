"""``gloo-mcp check`` catches settings written without the GLOO_ prefix or in lower case (issue 20, item 5)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import run


def test_env_file_names_without_the_prefix_or_in_lower_case_are_flagged_with_the_real_name(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "API_KEY=real-api-key-5678\nclient_id=abc\ngloo_backend=completions\nMCP_AUTH_TOKEN=x\nOPENAI_API_KEY=sk\n"
    )
    done = run("check", cwd=tmp_path, env={"gloo_timeout": "30"})
    out = done.stdout
    assert "warn  configuration: API_KEY (in .env) is not a gloo-mcp setting; did you mean GLOO_API_KEY?" in out
    assert "client_id (in .env) is not a gloo-mcp setting; did you mean GLOO_CLIENT_ID?" in out
    assert "gloo_backend (in .env) is not a gloo-mcp setting; did you mean GLOO_BACKEND?" in out
    assert "MCP_AUTH_TOKEN (in .env) is not a gloo-mcp setting; did you mean GLOO_MCP_AUTH_TOKEN?" in out
    assert "gloo_timeout (in the environment) is not a gloo-mcp setting; did you mean GLOO_TIMEOUT?" in out
    assert "OPENAI_API_KEY" not in out  # another program's setting, not a typo of ours
    assert "real-api-key-5678" not in out + done.stderr
