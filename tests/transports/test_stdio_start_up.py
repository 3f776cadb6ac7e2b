"""The stdio start-up path, as ``gloo-mcp`` runs it: no garbage collection until the server is built.

Start-up imports the SDK and builds some 100,000 long-lived objects (pydantic's schemas, the
tools'), and every allocation burst used to set off collections that found nothing to free,
about an eighth of the time to the first answer (docs/performance.md, "Cold start"). The
command pauses collection while it starts, freezes what start-up built, and collects as
usual from the moment it serves. A subprocess, so this test's own interpreter is untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DRIVER = """
import gc, json, sys
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
import gloo_mcp.transports.stdio as stdio

def serve_stdio(server, **_):  # stands in for serving: what the command left in place when it starts to serve
    seen = {"before_serving": len(collections), "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
    sys.stderr.write("START-UP " + json.dumps(seen) + "\\n")

stdio.serve_stdio = serve_stdio
from gloo_mcp.cli.main import main
collections.clear()  # count from the command's start, as a host's spawn does
main(["serve"])
"""


def test_the_stdio_command_collects_no_garbage_while_it_starts_and_collects_once_serving(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "XDG_DATA_HOME")}
    env["GLOO_API_KEY"] = "start-up-test"
    done = subprocess.run(
        [sys.executable, "-c", DRIVER], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("START-UP ")]
    seen = json.loads(line.removeprefix("START-UP "))
    assert seen["before_serving"] == 0, seen
    assert seen["enabled"] is True
    assert seen["frozen"] > 50_000  # the start-up heap, frozen: no full collection scans it again
