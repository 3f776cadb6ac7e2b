"""The examples run as a user runs them: offline, against the simulator, from a clean environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.load  # whole programs in subprocesses: with the end-to-end runs (pytest -m load)


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CLEAN_ENV = {
    k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "XDG_DATA_HOME")
}  # no GLOO_* credentials


def run_example(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_agent_holds_a_two_turn_conversation_through_gloo_mcp() -> None:
    out = run_example("agent_conversation.py")
    assert "using the local Gloo simulator" in out
    assert re.findall(r"agent used: (\S+)", out) == ["send_message", "continue_chat"]
    chats = re.findall(r"\(Gloo chat (\S+)\)", out)
    assert len(chats) == 2 and chats[0] == chats[1]  # the follow-up continued the same conversation
    assert "Following up (question 2)" in out  # Gloo saw it as the second turn
    assert "[1] " in out and "https://example.org/" in out  # the agent cites sources


def test_plain_client_asks_follows_up_and_reads_back() -> None:
    out = run_example("plain_client.py", "What is rest for?")
    assert 'You asked: "What is rest for?"' in out
    assert "Following up (question 2)" in out
    assert re.search(r"chat \S+: 4 messages", out)
