"""What the benchmarks read about the server process: its pid and resident memory (Linux /proc)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["child_pid", "rss_mib"]


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
