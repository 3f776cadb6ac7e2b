"""An old host, a real Python SDK 1.9 client in a venv of its own, against the real stdio server.

``resource_link`` blocks exist only from protocol 2025-06-18: Python SDK clients up to 1.9
(and TypeScript SDK clients up to 1.12) reject a whole tool result that carries one, so they
would never see a chat_id. Tool results therefore carry text alone unless
GLOO_MCP_RESOURCE_LINKS=true, and even then only on sessions whose protocol defines the
block. The test holds a conversation with such a client by default and with the opt-in.

The venv is made once for the module (``python -m venv`` plus a pinned ``mcp`` from the
package registry); when either step fails, the tests skip with the last line of the error.
tests/old_client_flow.py is the client, run with the venv's interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gloo_mcp.simulator import SimulatorState, running_simulator
from tests.conftest import TOOL_NAMES

# 1.9 is the newest line without resource_link (1.10 brought protocol 2025-06-18).
OLD_MCP = "mcp==1.9.4"
# mcp 1.9.4 imports a pydantic private that pydantic 2.14 removed: pin the pydantic of its day.
OLD_PINS = (OLD_MCP, "pydantic>=2.11,<2.12")
INSTALL_TIMEOUT = 300.0
TIMEOUT = 30.0
FLOW = Path(__file__).with_name("old_client_flow.py")

pytestmark = pytest.mark.load


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _run_or_skip(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"{what}: {error}")
    if done.returncode != 0:
        pytest.skip(f"{what}: {_last_line(done.stderr or done.stdout)}")


@pytest.fixture(scope="module")
def old_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh venv holding the old ``mcp``."""
    venv = tmp_path_factory.mktemp("old-mcp-venv")
    _run_or_skip([sys.executable, "-m", "venv", str(venv)], "cannot create a venv")
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *OLD_PINS]
    _run_or_skip(pip, f"cannot install {OLD_MCP}")
    return python


@pytest.fixture
def live_sim() -> Iterator[tuple[SimulatorState, str]]:
    state = SimulatorState()
    with running_simulator(state) as url:
        yield state, url


def run_old_client(python: Path, sim: tuple[SimulatorState, str], cwd: Path, **extra_env: str) -> dict[str, Any]:
    """Drive ``gloo-mcp`` (this checkout's, on this interpreter) with the old client; its summary."""
    state, url = sim
    env = {
        "GLOO_BASE_URL": url,
        "GLOO_CLIENT_ID": state.client_id,
        "GLOO_CLIENT_SECRET": state.client_secret,
        "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"],  # the test's data directory, not the user's
        **extra_env,
    }
    config = {
        "command": [sys.executable, "-m", "gloo_mcp"],
        "env": env,
        "cwd": str(cwd),  # an empty directory: no .env file to pick up
        "query": "Where does hope come from?",
        "follow_up": "Say more about the second point.",
        "timeout": TIMEOUT,
    }
    done = subprocess.run(
        [str(python), str(FLOW), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT + 10,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


@pytest.mark.parametrize(
    "extra_env",
    [{}, {"GLOO_MCP_RESOURCE_LINKS": "true"}],
    ids=["by-default", "with-resource-links-opted-in"],
)
def test_a_python_sdk_1_9_client_lists_tools_and_holds_a_conversation(
    old_python: Path, live_sim: tuple[SimulatorState, str], tmp_path: Path, extra_env: dict[str, str]
) -> None:
    summary = run_old_client(old_python, live_sim, tmp_path, **extra_env)

    assert summary["mcp_version"] == OLD_MCP.split("==")[1]
    assert summary["protocol_version"] == "2025-03-26"  # the newest the old client speaks
    assert set(summary["tools"]) == TOOL_NAMES
    first, second = summary["send_message"], summary["continue_chat"]
    for result in (first, second):
        assert "rejected" not in result
        assert result["is_error"] is False
        assert result["types"] == ["text"]
    assert first["chat_id"]
    assert second["chat_id"] == first["chat_id"]
    assert live_sim[0].requests["message"] == 2
