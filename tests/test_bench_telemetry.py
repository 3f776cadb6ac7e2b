"""The telemetry benchmark's smoke mode runs end to end (marker ``load``). Counts only, never timings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_bench import run_quick_benchmark


@pytest.mark.load
def test_the_telemetry_benchmark_times_both_transports_and_its_on_servers_really_export(tmp_path: Path) -> None:
    stdout, report = run_quick_benchmark(tmp_path, "--only", "telemetry")
    assert "telemetry on vs off, stdio" in stdout and "telemetry on vs off, http" in stdout
    assert report["cold_start"] is None and report["growth"] is None
    figures = report["telemetry"]
    for side in (figures["stdio"], figures["http"]):
        assert side["errors"] == 0
        assert len(side["off_ms"]) == len(side["on_ms"]) == report["sizes"]["telemetry_calls"]
    assert figures["spans_exported"] >= 1 and figures["metric_exports"] >= 1  # "on" means exported, not just kept
    assert min(figures["cost_off_us"], figures["cost_metrics_us"], figures["cost_on_us"]) > 0
