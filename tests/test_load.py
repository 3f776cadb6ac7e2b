"""Load (marker ``load``, deselected by default; run with ``pytest -m load`` or ``python -m bench.load``)."""

from __future__ import annotations

import pytest

from bench.load import run_load


@pytest.mark.load
def test_100_concurrent_calls_share_one_token_and_1000_sequential_calls_keep_memory_flat() -> None:
    figures = run_load(concurrent=100, sequential=1000)
    assert figures.concurrent_errors == 0 and figures.sequential_errors == 0
    assert figures.token_fetches == 1
    assert figures.rss_growth_mib < 5.0
