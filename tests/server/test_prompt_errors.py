"""A prompt asked for by a wrong name, or without its argument, is the caller's mistake: -32602 and a sentence."""

from __future__ import annotations

import pytest
from mcp import MCPError
from mcp_types import INVALID_PARAMS

from gloo_mcp.simulator import SimulatorState
from tests.conftest import mcp_session

MODES = ["legacy", "auto"]  # the handshake era (2025-11-25) and 2026-07-28


@pytest.mark.parametrize("mode", MODES)
async def test_an_unknown_prompt_is_invalid_params_naming_the_prompts_there_are(sim: SimulatorState, mode: str) -> None:
    async with mcp_session(sim, mode=mode) as client:
        with pytest.raises(MCPError) as refused:
            await client.get_prompt("test_simple_prompt", {})
    assert refused.value.error.code == INVALID_PARAMS
    assert refused.value.error.message == (
        "Unknown prompt: test_simple_prompt (this server's prompts: ask_gloo, summarize_gloo_chat)."
    )


@pytest.mark.parametrize("mode", MODES)
async def test_a_prompt_without_its_required_argument_is_invalid_params(sim: SimulatorState, mode: str) -> None:
    async with mcp_session(sim, mode=mode) as client:
        with pytest.raises(MCPError) as refused:
            await client.get_prompt("summarize_gloo_chat", {})
    assert refused.value.error.code == INVALID_PARAMS
    assert "chat_id" in refused.value.error.message
    assert sim.requests.total() == 0
