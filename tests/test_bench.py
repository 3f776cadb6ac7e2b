"""The benchmark's smoke mode runs end to end (marker ``load``: .ci/run runs it). Counts only, never timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gloo_mcp.chats.paging import PAGE_BUDGET_BYTES
from gloo_mcp.gloo.client import POOL_SIZE

REPO = Path(__file__).resolve().parent.parent


def run_quick_benchmark(tmp_path: Path, *options: str) -> tuple[str, dict[str, Any]]:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out), *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


def assert_growth_curves_have_their_shapes(growth: dict[str, Any]) -> None:
    sizes = growth["sizes"]
    assert growth["skipped"] == []

    history = growth["history"]
    assert [p["turns"] for p in history] == sizes["history_turns"]
    for point in history:
        assert point["error"] is None and point["messages"] > 0
        assert point["page_bytes"] <= PAGE_BUDGET_BYTES
        assert point["structured_bytes"] + point["text_bytes"] <= 2 * PAGE_BUDGET_BYTES
    assert history[-1]["has_more"]  # the longest chat does not fit one page

    message_api = growth["message_api_history"]
    assert [p["turns"] for p in message_api] == sizes["message_api_turns"]
    assert all(p["error"] is None and p["page_bytes"] <= PAGE_BUDGET_BYTES for p in message_api)
    assert message_api[-1]["upstream_bytes"] > message_api[0]["upstream_bytes"]

    bodies = growth["bodies"]
    assert [p["turn"] for p in bodies] == sizes["body_turns"]
    assert all(p["requests"] == 1 for p in bodies)  # no retry, and no suggestion request beside the answer
    assert bodies[0]["earlier_turns_omitted"] == 0
    capped = [p["body_bytes"] for p in bodies[1:]]
    assert all(p["earlier_turns_omitted"] > 0 for p in bodies[1:])
    assert max(capped) <= 1.05 * min(capped)  # flat once the context budget is reached

    index = growth["index"]
    assert [p["chats"] for p in index] == sizes["index_chats"]
    for point in index:
        assert (point["first_page_rows"], point["last_page_rows"], point["last_page_has_next"]) == (20, 20, False)
        assert point["no_match_rows"] == 0
        assert point["common_search_rows"] == min(20, point["chats"] // 10)

    suggestions = growth["suggestions"]
    calls = sizes["suggestion_calls"]
    assert len(suggestions["with_s"]) == len(suggestions["without_s"]) == calls
    assert suggestions["suggestion_requests"] == suggestions["replies_with_suggestions"] == calls
    assert suggestions["completion_requests"] == 3 * calls  # answer + suggestions, then the answer alone
    assert suggestions["errors"] == 0


@pytest.mark.load
def test_quick_benchmark_reports_every_figure_with_one_token_and_a_bounded_pool(tmp_path: Path) -> None:
    stdout, report = run_quick_benchmark(tmp_path)
    for figure in ("cold start ratio", "per-call overhead", "warm bursts", "token fetches", "memory growth"):
        assert figure in stdout
    for figure in ("get_chat_history, V2 store", "V2 request body at turn", "list_chats, 1,000 chats", "suggestions"):
        assert figure in stdout
    concurrency, memory = report["concurrency"], report["memory"]
    assert concurrency["errors"] == 0 and memory["errors"] == 0
    assert concurrency["token_fetches"] == 1
    assert concurrency["connections_opened"] <= POOL_SIZE
    assert len(report["cold_start"]["gloo_s"]) == len(report["cold_start"]["floor_s"]) == 2
    assert_growth_curves_have_their_shapes(report["growth"])


@pytest.mark.load
def test_only_growth_runs_the_growth_curves_alone(tmp_path: Path) -> None:
    stdout, report = run_quick_benchmark(tmp_path, "--only", "growth")
    assert "cold start" not in stdout and "growth curves" in stdout
    assert report["cold_start"] is None and report["concurrency"] is None
    assert_growth_curves_have_their_shapes(report["growth"])
