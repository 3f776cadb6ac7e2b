"""The commands as a user runs them: demo, check, and the simulator's options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gloo_mcp.simulator import SimulatorState, running_simulator

BASE_ENV = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "XDG_DATA_HOME")}


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gloo_mcp", *args],
        env=BASE_ENV | (env or {}),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.load  # the whole demo in a subprocess: with the end-to-end runs (pytest -m load, .ci/run)
def test_demo_runs_offline_on_the_simulator_and_says_so(tmp_path: Path) -> None:
    done = run("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "OFFLINE against the local Gloo simulator" in out
    assert "① send_message" in out and "② continue_chat" in out and "③ get_chat_history" in out
    assert "Sources:" in out and "Suggested follow-ups:" in out
    assert "(4 messages)" in out and out.rstrip().endswith("Demo complete.")


@pytest.mark.load  # the whole demo in a subprocess: with the end-to-end runs (pytest -m load, .ci/run)
def test_demo_with_unreachable_gloo_fails_with_one_clear_message(tmp_path: Path) -> None:
    done = run(
        "demo", cwd=tmp_path, env={"GLOO_API_KEY": "k", "GLOO_BASE_URL": "http://127.0.0.1:9", "GLOO_TIMEOUT": "5"}
    )
    assert done.returncode == 1
    assert "send_message failed: Could not reach Gloo at http://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_with_invalid_configuration_exits_2(tmp_path: Path) -> None:
    done = run("demo", cwd=tmp_path, env={"GLOO_BASE_URL": "http://gloo.example"})
    assert done.returncode == 2 and "must use https" in done.stderr


@pytest.mark.parametrize("mode", ["client_credentials", "api_key"])
def test_check_passes_against_the_simulator_without_creating_a_chat(tmp_path: Path, mode: str) -> None:
    state = SimulatorState()
    with running_simulator(state) as url:
        creds = (
            {"GLOO_CLIENT_ID": state.client_id, "GLOO_CLIENT_SECRET": state.client_secret}
            if mode == "client_credentials"
            else {"GLOO_API_KEY": state.api_key}
        )
        store = f"sqlite:///{tmp_path / 'simulated.db'}"  # simulated chats in a store of their own
        done = run("check", cwd=tmp_path, env={"GLOO_BASE_URL": url, "GLOO_STORE_URL": store, **creds})
    assert done.returncode == 0, done.stdout + done.stderr
    findings = [line.split(":", 1)[0] for line in done.stdout.splitlines()]
    assert findings == ["ok    configuration", "ok    reachability", "ok    credentials", "warn  store"]
    assert "does not exist yet" in done.stdout and not (tmp_path / "simulated.db").exists()
    assert state.chats == {}


def test_check_fails_clearly_on_wrong_credentials(tmp_path: Path) -> None:
    state = SimulatorState()
    with running_simulator(state) as url:
        done = run("check", cwd=tmp_path, env={"GLOO_BASE_URL": url, "GLOO_CLIENT_ID": "x", "GLOO_CLIENT_SECRET": "y"})
    assert done.returncode == 1
    assert "ok    reachability: " in done.stdout
    assert "FAIL  credentials: Gloo's token endpoint refused the client credentials" in done.stdout
    assert "y" not in done.stdout.split("refused", 1)[1].split("(HTTP")[0]


@pytest.mark.parametrize("key", ["sim-api-key", "wrong-key"])
def test_check_on_completions_probes_v2_without_spending_an_answer(tmp_path: Path, key: str) -> None:
    state = SimulatorState()
    with running_simulator(state) as url:
        env = {"GLOO_BASE_URL": url, "GLOO_API_KEY": key, "GLOO_BACKEND": "completions"}
        done = run("check", cwd=tmp_path, env=env)
    if key == "sim-api-key":
        assert done.returncode == 0, done.stdout
        assert "Completions V2 rejects as empty" in done.stdout and "backend completions" in done.stdout
    else:
        assert done.returncode == 1 and "FAIL  credentials: Gloo rejected the credentials (HTTP 401)" in done.stdout
    assert state.requests["completions"] == 1 and state.requests["message"] == 0


def test_check_fails_clearly_when_the_store_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a directory")
    state = SimulatorState()
    with running_simulator(state) as url:
        store = f"sqlite:///{tmp_path / 'blocker' / 'chats.db'}"
        done = run(
            "check", cwd=tmp_path, env={"GLOO_BASE_URL": url, "GLOO_API_KEY": "sim-api-key", "GLOO_STORE_URL": store}
        )
    assert done.returncode == 1 and done.stdout.splitlines()[-1].startswith("FAIL  store: Could not open")


def test_check_fails_clearly_when_gloo_cannot_be_reached(tmp_path: Path) -> None:
    done = run("check", cwd=tmp_path, env={"GLOO_BASE_URL": "http://127.0.0.1:9", "GLOO_API_KEY": "k"})
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].startswith("FAIL  reachability: Could not reach Gloo at http://127.0.0.1:9")
    assert "credentials" not in done.stdout.splitlines()[-1]


def test_check_without_credentials_names_the_variables(tmp_path: Path) -> None:
    done = run("check", cwd=tmp_path)
    assert done.returncode == 1 and "GLOO_API_KEY" in done.stdout


def test_version_and_help_work() -> None:
    assert run("--version").stdout.startswith("gloo-mcp ")
    assert "demo" in run("--help").stdout


def test_simulator_command_serves_the_contract_with_scripted_faults() -> None:
    import socket
    import time

    import httpx2

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gloo_mcp", "simulator", "--port", str(port), "--fail", "message=429:2,503"],
        env=BASE_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                about = httpx2.get(url + "/")
                break
            except httpx2.ConnectError:
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.05)
        assert about.json()["simulator"] is True
        headers = {"Authorization": "Bearer sim-api-key"}
        statuses = [httpx2.post(url + "/ai/v1/message", json={"query": "hi"}, headers=headers) for _ in range(3)]
        assert [r.status_code for r in statuses] == [429, 503, 200]
        assert statuses[0].headers["retry-after"] == "2"
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    assert b"NOT Gloo AI" in stderr


def test_simulator_command_rejects_a_bad_fault_spec() -> None:
    done = run("simulator", "--fail", "message=teapot")
    assert done.returncode != 0 and "--fail" in done.stderr
