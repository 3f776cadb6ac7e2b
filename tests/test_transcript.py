"""The README's first-run transcript is what a new user sees: every ``$`` line replayed, its output lines checked.

Replayed in a scratch directory whose ``.venv`` is this installation's (a symbolic link; the
install line is what the suite itself was installed with), so ``.venv/bin/…`` runs as typed;
the simulator on a free port instead of 8765, and the scratch directory standing for
``/home/you/gloo-mcp`` and ``/tmp``. In the README, ``…``
stands for what differs from run to run; a line of its own ``…`` (or ``^C``) is not checked.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.load  # whole programs in subprocesses: with the end-to-end runs (pytest -m load)


README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## First run: a new user's transcript"
BIN = str(Path(sys.executable).parent)
WAIT = 60.0  # seconds any one step may take before the test gives up; never a timing assertion


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def transcript() -> list[Step]:
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, "the README lost its first-run transcript"
    block = re.search(r"```console\n(.*?)```", text.split(SECTION, 1)[1], re.S)
    assert block is not None
    steps: list[Step] = []
    for line in block.group(1).splitlines():
        if line.startswith("$ "):
            steps.append(Step(line[2:].strip()))
        elif line.strip() and line.strip() not in ("…", "^C"):
            steps[-1].expected.append(line.strip())
    return steps


def matches(expected: str, seen: str) -> bool:
    """Whether ``seen`` holds ``expected``'s pieces, in order, with ``…`` standing for anything."""
    at = 0
    for piece in expected.split("…"):
        found = seen.find(piece, at)
        if found < 0:
            return False
        at = found + len(piece)
    return True


def missing(expected: list[str], output: str) -> list[str]:
    seen = [line.strip() for line in output.splitlines()]
    return [line for line in expected if not any(matches(line, s) for s in seen)]


class Replay:
    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.port = str(free_port())
        (scratch / "tmp").mkdir()
        (scratch / "data").mkdir()
        (scratch / ".venv").symlink_to(Path(BIN).parent, target_is_directory=True)
        self.env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")} | {
            "XDG_DATA_HOME": str(scratch / "data"),  # the user's default conversation store, here
            "TMPDIR": str(scratch / "tmp"),
        }
        self.background: subprocess.Popen[bytes] | None = None

    def text(self, line: str) -> str:
        """A README line as it reads on this machine."""
        return (
            line.replace("/home/you/gloo-mcp/.venv/bin/", f"{BIN}/")
            .replace("/home/you/gloo-mcp", str(self.scratch))
            .replace("sqlite:////tmp/", f"sqlite:///{self.scratch / 'tmp'}/")
            .replace("8765", self.port)
        )

    def command(self, line: str) -> str:
        """A README command as it runs on this machine (``.venv`` in the scratch directory is this installation's)."""
        return self.text(line)

    def popen(self, command: str, stdin: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=self.scratch,
            env=self.env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def until_said(self, proc: subprocess.Popen[bytes], expected: list[str]) -> str:
        """What ``proc`` writes on stderr, read until every expected line is there (or WAIT passes)."""
        assert proc.stderr is not None
        stream = proc.stderr.fileno()
        said = b""
        while missing(expected, said.decode(errors="replace")):
            ready, _, _ = select.select([stream], [], [], WAIT)
            chunk = os.read(stream, 65536) if ready else b""
            if not chunk:
                break
            said += chunk
        return said.decode(errors="replace")

    def run(self, step: Step) -> None:
        command = self.command(step.command)
        if step.command.startswith("python3 -m venv"):
            assert "pip install" in command  # the suite runs inside that installation
            return
        if step.command == "kill %1":
            assert self.background is not None
            self.stop_background()
            return
        if command.endswith("&"):
            self.background = self.popen(command.rstrip("& "), subprocess.DEVNULL)
            said = self.until_said(self.background, [self.text(e) for e in step.expected])
        elif step.command == ".venv/bin/gloo-mcp":  # in a terminal: stdin is a TTY, and Ctrl-C ends it
            controller, terminal = pty.openpty()
            try:
                proc = self.popen(command, terminal)
                os.close(terminal)
                said = self.until_said(proc, [self.text(e) for e in step.expected])
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=WAIT)
            finally:
                os.close(controller)
            assert proc.returncode == 130 and out == b"" and b"Traceback" not in err
        else:
            done = subprocess.run(
                ["bash", "-c", command], cwd=self.scratch, env=self.env, capture_output=True, text=True, timeout=WAIT
            )
            said = done.stdout + done.stderr
        expected = [self.text(e) for e in step.expected]
        assert not missing(expected, said), f"$ {step.command}\n--- output:\n{said}"

    def stop_background(self) -> None:
        if self.background is not None:
            self.background.terminate()
            self.background.communicate(timeout=WAIT)
            self.background = None


def test_the_readme_transcript_has_the_steps_a_new_user_takes() -> None:
    commands = [step.command for step in transcript()]
    for needed in ("gloo-mcp check", "gloo-mcp demo", "gloo-mcp config claude-code", "gloo-mcp simulator"):
        assert any(needed in command for command in commands), needed


@pytest.mark.skipif(sys.platform == "win32", reason="the transcript is a POSIX shell session")
def test_the_readme_transcript_replays_as_shown(tmp_path: Path) -> None:
    replay = Replay(tmp_path)
    try:
        for step in transcript():
            replay.run(step)
    finally:
        replay.stop_background()
    assert not (tmp_path / "data" / "gloo-mcp").exists()  # the demo and the simulator left the user's store alone
