"""Fair use: the limits hold per principal, idle principals are forgotten in time order, busy ones never.

Every case runs on a fake clock that the test moves, so a minute (or five) of traffic takes
no time. What a call costs as principals grow is measured by the benchmark
(``python -m bench --only growth``, bench/admission.py), never asserted here.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2
import pytest

from bench.admission import AdmissionSizes, measure_admission
from gloo_mcp.access.fair_use import WINDOW_SECONDS, Admission, FairUse, shared_principal_notice
from gloo_mcp.errors import RateLimitedError
from tests.conftest import free_port
from tests.test_fail_closed import BASE_ENV, TOKEN


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def call(limits: Admission, principal: str) -> None:
    async with limits.admit(principal):
        pass


async def refusal(limits: Admission, principal: str) -> RateLimitedError:
    with pytest.raises(RateLimitedError) as refused:
        await call(limits, principal)
    return refused.value


async def test_a_principal_at_its_per_minute_limit_is_refused_until_its_oldest_call_is_a_minute_old() -> None:
    clock = FakeClock()
    limits = FairUse(per_minute=2, in_flight=0, clock=clock)
    await call(limits, "alice")
    clock.now = 30.0
    await call(limits, "alice")
    clock.now = 45.5
    refused = await refusal(limits, "alice")
    await call(limits, "bob")  # another principal's calls are counted apart
    clock.now = WINDOW_SECONDS  # the first call leaves the window
    await call(limits, "alice")
    assert refused.message == (
        "You have made 2 calls to Gloo in the last minute, the most this server allows each user; "
        "try again in about 15 s."
    )
    assert (refused.status, refused.retry_after) == (None, 15)


async def test_a_principal_at_its_in_flight_limit_is_refused_until_one_of_its_calls_ends() -> None:
    limits = FairUse(per_minute=0, in_flight=2, clock=FakeClock())
    async with limits.admit("alice"), limits.admit("alice"):
        refused = await refusal(limits, "alice")
        await call(limits, "bob")
    await call(limits, "alice")
    assert refused.message == (
        "You already have 2 calls to Gloo under way, the most this server allows at once; wait for one to "
        "finish, then try again."
    )
    assert (refused.status, refused.retry_after) == (None, None)


async def test_a_call_that_fails_or_is_refused_gives_its_place_back() -> None:
    limits = FairUse(per_minute=0, in_flight=1, clock=FakeClock())
    with pytest.raises(RuntimeError):
        async with limits.admit("alice"):
            raise RuntimeError("the call failed")
    async with limits.admit("alice"):
        await refusal(limits, "alice")
    await call(limits, "alice")
    assert limits.remembered == 0  # no limit per minute: nothing to remember once nothing is in flight


async def test_idle_principals_are_forgotten_in_time_order_so_only_the_last_minutes_callers_are_remembered() -> None:
    clock = FakeClock()
    limits = FairUse(per_minute=60, in_flight=4, clock=clock)
    most = 0
    for n in range(3_000):  # a new caller every 0.1 s, for 300 s of the fake clock
        clock.now = n * 0.1
        await call(limits, f"user-{n}")
        most = max(most, limits.remembered)
    assert most <= 601  # the callers of the last 60 s (600 of them) and the one calling now
    clock.now = 400.0  # a quiet minute after the last of them
    await call(limits, "late")
    assert limits.remembered == 1


async def test_forgetting_others_never_resets_a_principals_limit_within_its_minute() -> None:
    clock = FakeClock()
    limits = FairUse(per_minute=2, in_flight=0, clock=clock)
    await call(limits, "alice")
    clock.now = 30.0
    await call(limits, "alice")
    for n in range(2_000):  # others come and go around her: 2,000 callers between 30 s and 59 s
        clock.now = 30.0 + n * 0.0145
        await call(limits, f"user-{n}")
    clock.now = 59.0
    assert (await refusal(limits, "alice")).retry_after == 1
    clock.now = 60.0
    await call(limits, "alice")  # her first call has left the window; her second has not
    clock.now = 61.0
    assert (await refusal(limits, "alice")).retry_after == 29


async def test_a_principal_with_a_call_in_flight_is_never_forgotten_however_long_it_runs() -> None:
    clock = FakeClock()
    limits = FairUse(per_minute=60, in_flight=1, clock=clock)
    async with limits.admit("alice"):
        for n in range(5_000):  # 300 s of others' calls while alice's call runs
            clock.now = n * 0.06
            await call(limits, f"user-{n}")
        refused = await refusal(limits, "alice")
        assert limits.remembered <= 1 + 1_001  # alice, and the callers of the last minute
    assert "1 calls to Gloo under way" in refused.message
    await call(limits, "alice")  # her place is free again


async def test_a_principal_whose_minute_has_passed_is_forgotten_and_starts_afresh() -> None:
    clock = FakeClock()
    limits = FairUse(per_minute=1, in_flight=0, clock=clock)
    await call(limits, "alice")
    clock.now = 59.9
    assert (await refusal(limits, "alice")).retry_after == 1
    clock.now = 60.0
    await call(limits, "bob")  # any caller lets the limiter drop alice, idle for a minute
    assert limits.remembered == 1
    await call(limits, "alice")
    assert (await refusal(limits, "alice")).retry_after == 60


def test_a_shared_token_notice_names_both_limits_and_the_variables_that_set_them() -> None:
    notice = shared_principal_notice(per_minute=60, in_flight=4)
    assert notice is not None
    assert "GLOO_MCP_AUTH_TOKEN is one principal" in notice
    assert "4 calls in flight, 60 calls a minute" in notice
    assert "GLOO_MCP_CALLS_IN_FLIGHT" in notice and "GLOO_MCP_CALLS_PER_MINUTE" in notice
    assert "unlimited calls in flight, 30 calls a minute" in (shared_principal_notice(per_minute=30, in_flight=0) or "")
    assert shared_principal_notice(per_minute=0, in_flight=0) is None  # no limits: nothing is shared


def start_up_lines(env: dict[str, str]) -> list[str]:
    """What ``gloo-mcp serve --transport streamable-http`` writes to stderr from its start until it answers /health."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gloo_mcp", "serve", "--transport", "streamable-http", "--port", str(port)],
        env=BASE_ENV | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(400):
            try:
                httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx2.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                time.sleep(0.05)
        else:
            raise AssertionError("gloo-mcp did not start listening")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    return stderr.splitlines()


def test_a_shared_token_server_says_at_start_up_that_the_whole_team_shares_one_set_of_limits(tmp_path: Path) -> None:
    lines = start_up_lines({"GLOO_MCP_AUTH_TOKEN": TOKEN, "GLOO_API_KEY": "k", "XDG_DATA_HOME": str(tmp_path)})
    (notice,) = [line for line in lines if "GLOO_MCP_CALLS_PER_MINUTE" in line]
    assert "GLOO_MCP_CALLS_IN_FLIGHT" in notice and "4 calls in flight, 60 calls a minute" in notice
    assert "whole team" in notice
    assert TOKEN not in "\n".join(lines)


@pytest.mark.load  # one more server process: with the end-to-end runs (pytest -m load, .ci/run)
def test_a_server_without_the_shared_token_says_nothing_about_shared_limits(tmp_path: Path) -> None:
    lines = start_up_lines({"GLOO_API_KEY": "k", "XDG_DATA_HOME": str(tmp_path)})
    assert not [line for line in lines if "GLOO_MCP_CALLS_PER_MINUTE" in line]


def test_the_benchmarks_admission_curve_keeps_about_a_minute_of_principals_and_refuses_none() -> None:
    sizes = AdmissionSizes(principals=(10, 200, 1_000), batches=2, batch_calls=50, memory_principals=500)
    curve = anyio.run(measure_admission, sizes)
    assert [p.principals for p in curve.points] == [10, 200, 1_000]
    for point in curve.points:
        assert point.refused == 0 and point.calls == 100
        assert point.remembered is not None
        assert point.principals * 60 / 61 - 1 <= point.remembered <= point.principals  # each calls every 61 s
    assert curve.bytes_per_principal > 0
