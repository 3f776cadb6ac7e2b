"""Cold start: spawn to the ``tools/list`` answer over stdio, as a host experiences it.

Raw pipes and a handshake-era session (what desktop hosts speak): write ``initialize``,
wait for its answer, send ``notifications/initialized`` and ``tools/list``, stop the
clock at the ``tools/list`` answer. gloo-mcp and the floor run interleaved, so drift
on a noisy machine hits both alike.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bench.process import FLOOR_COMMAND, GLOO_COMMAND, server_env

__all__ = [
    "ColdStart",
    "instructions_to_tools_list",
    "measure_cold_start",
    "measure_cold_start_instructions",
    "time_to_tools_list",
]

_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "gloo-mcp-bench", "version": "0"},
    },
}
_INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
_TOOLS_LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}


def _send(pipe: IO[bytes], message: Mapping[str, object]) -> None:
    pipe.write(json.dumps(message).encode() + b"\n")
    pipe.flush()


def _await_answer(pipe: IO[bytes], request_id: int) -> dict[str, object]:
    while line := pipe.readline():
        message: dict[str, object] = json.loads(line)
        if message.get("id") == request_id:
            return message
    raise RuntimeError("the server closed stdout before answering")


def time_to_tools_list(command: Sequence[str], env: Mapping[str, str]) -> tuple[float, float]:
    """Seconds from spawning ``command`` to reading its ``tools/list`` answer, and its CPU seconds to exit.

    CPU time (user + system, spawn to exit) is the steadier figure on a shared machine:
    other tenants stretch wall time but not the server's own work.
    """
    started = time.perf_counter()
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(env)
    ) as server:
        assert server.stdin is not None and server.stdout is not None
        _send(server.stdin, _INITIALIZE)
        _await_answer(server.stdout, 1)
        _send(server.stdin, _INITIALIZED)
        _send(server.stdin, _TOOLS_LIST)
        answer = _await_answer(server.stdout, 2)
        elapsed = time.perf_counter() - started
        server.stdin.close()
        _, status, usage = os.wait4(server.pid, 0)
        server.returncode = os.waitstatus_to_exitcode(status)
    if "result" not in answer:
        raise RuntimeError(f"tools/list failed: {answer}")
    return elapsed, usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class ColdStart:
    gloo_s: list[float]
    floor_s: list[float]
    gloo_cpu_s: list[float]
    floor_cpu_s: list[float]

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(self.gloo_cpu_s) / statistics.median(self.floor_cpu_s)

    @property
    def gloo_median_s(self) -> float:
        return statistics.median(self.gloo_s)

    @property
    def floor_median_s(self) -> float:
        return statistics.median(self.floor_s)

    @property
    def ratio(self) -> float:
        return self.gloo_median_s / self.floor_median_s


def measure_cold_start(runs: int) -> ColdStart:
    """``runs`` spawns of each, alternating gloo-mcp and the floor. gloo-mcp has credentials set, as in a host."""
    env = server_env({"GLOO_API_KEY": "bench-key", "GLOO_BASE_URL": "http://127.0.0.1:9"})
    gloo, floor = [], []
    for _ in range(runs):
        gloo.append(time_to_tools_list(GLOO_COMMAND, env))
        floor.append(time_to_tools_list(FLOOR_COMMAND, server_env()))
    return ColdStart(
        gloo_s=[wall for wall, _ in gloo],
        floor_s=[wall for wall, _ in floor],
        gloo_cpu_s=[cpu for _, cpu in gloo],
        floor_cpu_s=[cpu for _, cpu in floor],
    )


def instructions_to_tools_list(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Instructions executed from spawn through the ``tools/list`` answer to exit, counted by callgrind.

    Unlike time, the count does not move with other tenants' load: the same build, inputs and
    environment give the same total (to a few parts in ten thousand), so this is the ratio to
    trust on a noisy machine. About 35 s per run under valgrind.
    """
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        time_to_tools_list(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command], env)
        found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
    if found is None:
        raise RuntimeError("callgrind wrote no instruction total")
    return int(found.group(1))


def measure_cold_start_instructions() -> tuple[int, int]:
    """(gloo-mcp, floor) instruction counts; needs valgrind."""
    env = server_env({"GLOO_API_KEY": "bench-key", "GLOO_BASE_URL": "http://127.0.0.1:9"})
    gloo = instructions_to_tools_list(GLOO_COMMAND, env)
    return gloo, instructions_to_tools_list(FLOOR_COMMAND, server_env())
