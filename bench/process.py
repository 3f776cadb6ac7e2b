"""The processes the benchmarks start and what they read about them (Linux /proc)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["FLOOR_COMMAND", "GLOO_COMMAND", "child_pid", "rss_mib", "server_env"]

REPO = Path(__file__).resolve().parent.parent
GLOO_COMMAND = (sys.executable, "-m", "gloo_mcp")
FLOOR_COMMAND = (sys.executable, "-m", "bench.floor_server")
SERVER_SRC_VARIABLE = "GLOO_MCP_BENCH_SERVER_SRC"
_STORE = Path(tempfile.mkdtemp(prefix="gloo-mcp-bench-")) / "chats.db"


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a benchmarked server: no inherited GLOO_* settings, a throwaway store.

    ``GLOO_MCP_BENCH_SERVER_SRC`` (``--server-src``) puts another checkout's ``src`` first
    on the path, so the same benchmark measures an earlier version for before/after.
    """
    paths = [os.environ[SERVER_SRC_VARIABLE]] if os.environ.get(SERVER_SRC_VARIABLE) else []
    paths.append(str(REPO))
    base = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(paths),
        "GLOO_STORE_URL": f"sqlite:///{_STORE}",
    }
    return {**base, **(extra or {})}


def child_pid(marker: bytes) -> int:
    """The pid of this process's child whose command line contains ``marker`` (the stdio client hides it)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and marker in cmdline:
            return int(entry.name)
    raise RuntimeError(f"no child process running {marker!r}")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")
