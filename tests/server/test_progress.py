"""Heartbeat progress while Gloo is slow: hosts that give up on silent calls keep waiting."""

from __future__ import annotations

import anyio
import pytest

from gloo_mcp.simulator import SimulatorState
from gloo_mcp.simulator.state import Fault
from tests.conftest import mcp_session

ERAS = pytest.mark.parametrize("mode", ["auto", "legacy"])


class ProgressLog:
    """Progress notifications as the client saw them, and what had already arrived by the result."""

    def __init__(self) -> None:
        self.events: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.events.append((progress, total, message))


@ERAS
async def test_a_slow_answer_sends_monotonic_heartbeats_that_stop_at_the_result(mode: str) -> None:
    sim, log = SimulatorState(), ProgressLog()
    sim.inject("message", Fault(delay=0.5))
    async with mcp_session(sim, mode=mode, heartbeat_interval=0.1) as client:
        result = await client.call_tool("send_message", {"query": "take your time"}, progress_callback=log)
        seen_at_result = len(log.events)
        await anyio.sleep(0.3)  # a late heartbeat would arrive in this window
    assert not result.is_error
    assert seen_at_result >= 3
    assert len(log.events) == seen_at_result
    progress = [p for p, _, _ in log.events]
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    assert all(total is None for _, total, _ in log.events)
    assert all(message and "Waiting for Gloo's answer" in message for _, _, message in log.events)


@ERAS
async def test_history_reads_send_heartbeats_too(mode: str) -> None:
    sim, log = SimulatorState(), ProgressLog()
    async with mcp_session(sim, mode=mode, heartbeat_interval=0.1) as client:
        chat_id = (await client.call_tool("send_message", {"query": "seed"})).structured_content["chat_id"]  # type: ignore[index]
        sim.inject("chat", Fault(delay=0.35))
        result = await client.call_tool("get_chat_history", {"chat_id": chat_id}, progress_callback=log)
    assert not result.is_error and len(log.events) >= 2


async def test_a_fast_answer_sends_no_progress_at_all() -> None:
    sim, log = SimulatorState(), ProgressLog()
    async with mcp_session(sim, heartbeat_interval=5) as client:
        result = await client.call_tool("send_message", {"query": "quick"}, progress_callback=log)
    assert not result.is_error and log.events == []


async def test_an_error_result_ends_the_heartbeats_too() -> None:
    sim, log = SimulatorState(), ProgressLog()
    sim.inject("message", Fault(status=400, delay=0.35))
    async with mcp_session(sim, heartbeat_interval=0.1) as client:
        result = await client.call_tool("send_message", {"query": "bad"}, progress_callback=log)
        seen_at_result = len(log.events)
        await anyio.sleep(0.3)
    assert result.is_error and result.structured_content is None
    assert seen_at_result >= 2 and len(log.events) == seen_at_result


@ERAS
async def test_cancelling_a_call_with_heartbeats_still_aborts_upstream(mode: str) -> None:
    sim, log = SimulatorState(), ProgressLog()
    sim.inject("message", Fault(delay=30))
    async with mcp_session(sim, mode=mode, heartbeat_interval=0.05) as client:
        with anyio.move_on_after(0.4):
            await client.call_tool("send_message", {"query": "slow"}, progress_callback=log)
        with anyio.fail_after(5):
            after = await client.call_tool("send_message", {"query": "next"})
        beats_after_cancel = len(log.events)
        await anyio.sleep(0.2)
    assert log.events and len(log.events) == beats_after_cancel
    assert not after.is_error and sim.aborted["message"] == 1
