"""Control characters Gloo sends never reach a host through error sentences or progress text either."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from gloo_mcp.server.build import build_server
from gloo_mcp.simulator import Fault, SimulatorState, running_simulator
from tests.conftest import mcp_session, sim_settings

HOSTILE = "\x1b]0;pwned\x07 \x1b[2J \x9b31m"


def _has_controls(text: str) -> bool:
    return any((ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in text)


@pytest.mark.parametrize("status", [400, 403, 422, 500])
async def test_gloos_reason_quoted_in_an_error_sentence_carries_no_control_characters(
    sim: SimulatorState, status: int
) -> None:
    detail: object = f"denied {HOSTILE}"
    if status == 422:
        detail = [{"loc": ["body", f"q{HOSTILE}"], "msg": f"bad {HOSTILE}"}]
    sim.inject("message", Fault(status=status, body=json.dumps({"detail": detail}).encode()))
    async with mcp_session(sim) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error and ("denied" in text or "bad" in text)
    assert not _has_controls(text), repr(text)


async def test_the_streamed_answer_in_progress_notifications_carries_no_control_characters() -> None:
    sim = SimulatorState()  # Completions V2 echoes the question into the streamed answer
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if message:
            messages.append(message)

    with running_simulator(sim) as url:
        server = build_server(sim_settings(sim, base_url=url, backend="completions", enable_suggestions=False))
        async with Client(server) as client:
            await client.call_tool("send_message", {"query": f"streamed {HOSTILE}"}, progress_callback=on_progress)
    streamed = [m for m in messages if "streamed" in m]
    assert streamed and not any(_has_controls(m) for m in streamed), streamed
