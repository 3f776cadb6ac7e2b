"""The benchmark's smoke mode runs end to end (marker ``load``: .ci/run runs it). Counts only, never timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gloo_mcp.client import POOL_SIZE

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.load
def test_quick_benchmark_reports_every_figure_with_one_token_and_a_bounded_pool(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for figure in ("cold start ratio", "per-call overhead", "warm bursts", "token fetches", "memory growth"):
        assert figure in done.stdout
    report = json.loads(out.read_text())
    concurrency, memory = report["concurrency"], report["memory"]
    assert concurrency["errors"] == 0 and memory["errors"] == 0
    assert concurrency["token_fetches"] == 1
    assert concurrency["connections_opened"] <= POOL_SIZE
    assert len(report["cold_start"]["gloo_s"]) == len(report["cold_start"]["floor_s"]) == 2
