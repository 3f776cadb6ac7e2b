"""The Tasks benchmark's smoke mode runs end to end (marker ``load``: .ci/run runs it). Counts only, never timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.load
def test_the_tasks_benchmark_runs_every_round_to_a_completed_task(tmp_path: Path) -> None:
    out = tmp_path / "tasks.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.tasks", "--quick", "--postgres", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    costs = json.loads(out.read_text())
    assert [cost["store"] for cost in costs] == ["SQLite", "PostgreSQL"]
    for cost in costs:
        assert cost["rounds"] == 30 and cost["polls_to_answer"] >= 1
        assert all(cost[key] > 0 for key in ("floor_ms", "plain_ms", "create_ms", "first_get_ms", "to_answer_ms"))
    assert "create + first get minus plain" in done.stdout
