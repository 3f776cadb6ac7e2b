"""``gloo-mcp check`` and a SQLite store: it names the absolute file, warns on a relative path and on a file it
would create, and creates nothing (issue 20, item 2)."""

from __future__ import annotations

from pathlib import Path

from gloo_mcp.simulator import SimulatorState, running_simulator
from tests.cli.test_cli import run


def check_with_store(store: str, cwd: Path) -> tuple[int, list[str]]:
    state = SimulatorState()
    with running_simulator(state) as url:
        done = run("check", cwd=cwd, env={"GLOO_BASE_URL": url, "GLOO_API_KEY": state.api_key, "GLOO_STORE_URL": store})
    assert "Traceback" not in done.stderr
    return done.returncode, [line for line in done.stdout.splitlines() if line[6:].startswith("store:")]


def test_a_relative_sqlite_path_is_resolved_named_and_warned_about_and_nothing_is_created(tmp_path: Path) -> None:
    status, lines = check_with_store("sqlite:///tmp/x/chats.db", cwd=tmp_path)
    assert status == 0, lines
    said = "\n".join(lines)
    assert f"sqlite:///{tmp_path / 'tmp' / 'x' / 'chats.db'}" in said  # the absolute file it would use
    assert "relative" in said and "working directory" in said and "sqlite:////tmp/x/chats.db" in said
    assert all(line.startswith("warn  store:") for line in lines)
    assert not (tmp_path / "tmp").exists()


def test_a_store_that_does_not_exist_yet_is_a_warning_and_check_creates_no_directory(tmp_path: Path) -> None:
    target = tmp_path / "nonexistent" / "dir" / "chats.db"
    status, lines = check_with_store(f"sqlite:///{target}", cwd=tmp_path)
    assert status == 0, lines
    assert len(lines) == 1 and lines[0].startswith("warn  store: ")
    assert f"sqlite:///{target}" in lines[0] and "does not exist yet" in lines[0] and "first use" in lines[0]
    assert not (tmp_path / "nonexistent").exists()


def test_an_existing_store_is_ok_with_its_absolute_file_and_count(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "chats.db").touch()
    status, lines = check_with_store("sqlite:///data/chats.db", cwd=tmp_path)
    assert status == 0, lines
    assert any(
        line.startswith(
            f"ok    store: sqlite:///{tmp_path / 'data' / 'chats.db'} (0 conversations of the local principal"
        )
        for line in lines
    ), lines
    assert any(line.startswith("warn  store: ") and "relative" in line for line in lines)


def test_a_store_whose_directory_cannot_be_made_fails_without_creating_anything(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a directory")
    status, lines = check_with_store(f"sqlite:///{tmp_path / 'blocker' / 'sub' / 'chats.db'}", cwd=tmp_path)
    assert status == 1 and lines[-1].startswith("FAIL  store: ")
    assert "blocker" in lines[-1] and (tmp_path / "blocker").is_file()


def test_with_sign_in_configured_check_says_whose_conversations_it_counted(tmp_path: Path) -> None:
    (tmp_path / "chats.db").touch()
    state = SimulatorState()
    with running_simulator(state) as url:
        env = {
            "GLOO_BASE_URL": url,
            "GLOO_API_KEY": state.api_key,
            "GLOO_STORE_URL": f"sqlite:///{tmp_path / 'chats.db'}",
            "GLOO_MCP_OAUTH_ISSUER": "https://127.0.0.1:9/",
            "GLOO_MCP_RESOURCE_URL": "https://mcp.example.com/",
        }
        done = run("check", cwd=tmp_path, env=env)
    out = done.stdout
    store = next(line for line in out.splitlines() if line.startswith("ok    store: "))
    assert "0 conversations of the local principal" in store and "signed-in users' own are not counted" in store
    assert "warn  configuration: GLOO_MCP_RESOURCE_URL (https://mcp.example.com/) does not end in /mcp" in out
