"""Every upstream body is bounded after decompression, on every read: gzip bombs end in one sentence.

Each bomb is about a megabyte on the wire and a gigabyte (or endless) once inflated. The
tests assert what the agent sees, how many requests reached each simulator endpoint (a
bomb is never fetched twice), and the peak of the process's Python allocations while the
call runs (tracemalloc: a memory bound, not a time bound).
"""

from __future__ import annotations

import tracemalloc
from typing import Any

from mcp import Client
from mcp_types import CallToolResult, TextContent

from gloo_mcp.gloo.bodies import HISTORY_BODY_BYTES, MAX_BODY_BYTES
from gloo_mcp.gloo.retry import RetryPolicy
from gloo_mcp.server import build_server
from gloo_mcp.simulator import Fault, SimulatorState, running_simulator
from tests.conftest import FakeSleep, mcp_session, sim_settings

TOO_LARGE = "Gloo's answer exceeded 8 MiB (after decompression) and was discarded"
MAYBE = "may or may not have been recorded"
MIB = 1024 * 1024
PEAK_BOUND = MAX_BODY_BYTES + 16 * MIB
"""The cap, one inflated piece (1 MiB), the compressed body the in-process transport holds, and room to spare."""


def text(result: CallToolResult) -> str:
    return next(c.text for c in result.content if isinstance(c, TextContent))


async def traced_call(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[CallToolResult, int]:
    """Call ``tool``, returning its result and the peak bytes Python allocated meanwhile."""
    tracemalloc.start()
    try:
        result = await client.call_tool(tool, arguments)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak


def assert_one_sentence(result: CallToolResult, says: str) -> None:
    assert result.is_error and result.structured_content is None
    assert says in text(result), text(result)
    assert "\n" not in text(result) and "Traceback" not in text(result)


async def test_a_gzip_bomb_from_the_token_endpoint_ends_at_the_cap_in_bounded_memory(sim: SimulatorState) -> None:
    sim.inject("token", Fault(bomb="json"))
    async with mcp_session(sim, retry=RetryPolicy(sleep=FakeSleep())) as client:
        result, peak = await traced_call(client, "send_message", {"query": "hi"})
    assert_one_sentence(result, TOO_LARGE)
    assert peak < PEAK_BOUND, f"peak {peak / MIB:.1f} MiB"
    assert sim.requests["token"] == 1 and sim.requests["message"] == 0


async def test_a_gzip_bomb_answering_a_completion_as_json_ends_at_the_cap_in_bounded_memory(
    sim: SimulatorState,
) -> None:
    sim.inject("completions", Fault(bomb="json"))
    async with mcp_session(sim, backend="completions", enable_suggestions=False) as client:
        result, peak = await traced_call(client, "send_message", {"query": "hi"})
        listed = await client.call_tool("list_chats", {})
    assert_one_sentence(result, TOO_LARGE)
    assert peak < PEAK_BOUND, f"peak {peak / MIB:.1f} MiB"
    assert sim.requests["completions"] == 1
    assert listed.structured_content == {"chats": [], "next_cursor": None}


async def test_a_gzip_bomb_of_sse_comment_lines_ends_at_the_cap_in_bounded_memory(sim: SimulatorState) -> None:
    sim.inject("completions", Fault(bomb="sse"))
    async with mcp_session(sim, backend="completions", enable_suggestions=False) as client:
        result, peak = await traced_call(client, "send_message", {"query": "hi"})
    assert_one_sentence(result, TOO_LARGE)
    assert peak < PEAK_BOUND, f"peak {peak / MIB:.1f} MiB"
    assert sim.requests["completions"] == 1


async def test_an_endless_stream_of_sse_comments_over_tcp_ends_at_the_cap() -> None:
    sim = SimulatorState()
    sim.inject("completions", Fault(bomb="sse", bomb_size=None))
    with running_simulator(sim) as url:
        async with Client(
            build_server(sim_settings(sim, base_url=url, backend="completions", enable_suggestions=False))
        ) as client:
            result, peak = await traced_call(client, "send_message", {"query": "hi"})
            after = await client.call_tool("send_message", {"query": "next"})
    assert_one_sentence(result, TOO_LARGE)
    assert peak < PEAK_BOUND, f"peak {peak / MIB:.1f} MiB"
    assert not after.is_error  # the endless stream was closed, the server serves on
    assert sim.requests["completions"] == 2


async def test_a_gzip_bomb_answering_a_message_post_says_it_may_have_been_recorded(sim: SimulatorState) -> None:
    sim.inject("message", Fault(bomb="json"))
    async with mcp_session(sim) as client:
        result, peak = await traced_call(client, "send_message", {"query": "hi"})
    assert_one_sentence(result, TOO_LARGE)
    assert MAYBE in text(result) and "get_chat_history" in text(result)
    assert peak < PEAK_BOUND, f"peak {peak / MIB:.1f} MiB"
    assert sim.requests["message"] == 1


async def test_a_gzip_bomb_answering_a_history_read_ends_at_the_history_cap_and_is_not_fetched_again(
    sim: SimulatorState,
) -> None:
    async with mcp_session(sim, retry=RetryPolicy(sleep=FakeSleep())) as client:
        seeded = await client.call_tool("send_message", {"query": "seed"})
        assert seeded.structured_content is not None
        sim.inject("chat", Fault(bomb="json"))
        result, peak = await traced_call(client, "get_chat_history", {"chat_id": seeded.structured_content["chat_id"]})
    assert_one_sentence(
        result, "Gloo's answer exceeded 64 MiB (after decompression) and was discarded; try again later."
    )
    assert MAYBE not in text(result)
    assert peak < HISTORY_BODY_BYTES + 16 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert sim.requests["chat"] == 1


async def test_a_body_that_does_not_decompress_is_one_sentence(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        seeded = await client.call_tool("send_message", {"query": "seed"})
        assert seeded.structured_content is not None
        sim.inject("chat", Fault(malformed=True, body=b"not gzip at all", headers={"Content-Encoding": "gzip"}))
        result = await client.call_tool("get_chat_history", {"chat_id": seeded.structured_content["chat_id"]})
    assert_one_sentence(result, "Gloo's answer could not be decompressed (gzip); try again later.")
    assert sim.requests["chat"] == 1


async def test_json_nested_deeper_than_python_allows_is_one_sentence(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        seeded = await client.call_tool("send_message", {"query": "seed"})
        assert seeded.structured_content is not None
        sim.inject("chat", Fault(malformed=True, body=b"[" * 100_000))
        result = await client.call_tool("get_chat_history", {"chat_id": seeded.structured_content["chat_id"]})
    assert_one_sentence(result, "not a JSON object (application/json, 100000 bytes); try again later.")
    assert sim.requests["chat"] == 1
