"""Completions V2 at any length: suggested follow-ups, and a context budget that keeps long chats answering."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gloo_mcp.chats.store import LOCAL_OWNER, open_store
from gloo_mcp.models import ChatMessage
from gloo_mcp.simulator import SimulatorState
from tests.conftest import mcp_session

LONG_ANSWER = "Gloo answered at length. " * 40  # about 1,000 characters a turn


async def seeded_chat(data_home: Path, turns: int) -> str:
    """A V2 chat of ``turns`` long turns written straight into the default store."""
    store = await open_store(f"sqlite:///{data_home / 'gloo-mcp' / 'chats.db'}")
    at = datetime(2026, 11, 26, tzinfo=UTC)
    for n in range(turns):
        messages = [
            ChatMessage(role="user", content=f"question {n}", query_id=f"q{n}"),
            ChatMessage(role="assistant", content=f"answer {n}: {LONG_ANSWER}", query_id=f"q{n}"),
        ]
        await store.record_turn(
            "gm-seeded", owner=LOCAL_OWNER, backend="completions", title="Long", at=at, messages=messages
        )
    await store.aclose()
    return "gm-seeded"


def reply_of(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


async def test_v2_replies_carry_three_suggested_follow_ups_like_the_message_api(sim: SimulatorState) -> None:
    async with mcp_session(sim, backend="completions") as client:
        reply = reply_of(await client.call_tool("send_message", {"query": "How do I find hope?"}))
        text = (await client.call_tool("continue_chat", {"chat_id": reply["chat_id"], "query": "More?"})).content
    assert len(reply["suggestions"]) == 3
    assert all(isinstance(s, str) and s.endswith("?") for s in reply["suggestions"])
    assert not any(s[0].isdigit() for s in reply["suggestions"])  # the suggester's numbering is stripped
    assert "Suggested follow-ups" in text[0].text  # type: ignore[union-attr]
    assert sim.suggestion_requests == 2 and sim.requests["completions"] == 4


async def test_v2_asks_for_no_suggestions_when_they_are_disabled(sim: SimulatorState) -> None:
    async with mcp_session(sim, backend="completions") as client:
        reply = reply_of(await client.call_tool("send_message", {"query": "Hope?", "enable_suggestions": False}))
    assert reply["suggestions"] == [] and sim.suggestion_requests == 0 and sim.requests["completions"] == 1


async def test_progress_text_carries_the_answer_and_never_the_suggestion_machinery(sim: SimulatorState) -> None:
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with mcp_session(sim, backend="completions") as client:
        result = await client.call_tool("send_message", {"query": "Hope?"}, progress_callback=on_progress)
    reply = reply_of(result)
    streamed = "".join(messages)
    assert reply["answer"] in streamed or streamed in reply["answer"]
    assert not any(s in streamed for s in reply["suggestions"])


@pytest.mark.parametrize("status", [503, 500, 400])
async def test_a_failed_suggestion_request_costs_the_suggestions_and_never_the_answer(
    sim: SimulatorState, status: int
) -> None:
    sim.follow_ups_status = status
    async with mcp_session(sim, backend="completions") as client:
        reply = reply_of(await client.call_tool("send_message", {"query": "Where is hope?"}))
        history = reply_of(await client.call_tool("get_chat_history", {"chat_id": reply["chat_id"]}))
    assert reply["answer"] and reply["suggestions"] == []
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"]


async def test_a_2000_turn_chat_keeps_answering_with_the_newest_turns_that_fit(
    sim: SimulatorState, own_data_dir: Path
) -> None:
    chat_id = await seeded_chat(own_data_dir, 2_000)
    sim.context_window = 20_000  # tokens as the simulator counts them; 2,000 turns are ~500,000
    async with mcp_session(sim, backend="completions", enable_suggestions=False) as client:
        result = await client.call_tool("continue_chat", {"chat_id": chat_id, "query": "And now?"})
    reply = reply_of(result)
    assert 1_900 < reply["earlier_turns_omitted"] < 2_000
    assert f"{reply['earlier_turns_omitted']:,} oldest turns were not sent" in result.content[0].text  # type: ignore[union-attr]
    assert sim.requests["completions"] == 1 and sim.completion_bodies[-1] < 40_000


async def test_a_context_too_long_answer_is_retried_once_with_a_smaller_budget(
    sim: SimulatorState, own_data_dir: Path
) -> None:
    chat_id = await seeded_chat(own_data_dir, 100)
    sim.context_window = 8_000
    async with mcp_session(sim, backend="completions", enable_suggestions=False, context_budget=16_000) as client:
        reply = reply_of(await client.call_tool("continue_chat", {"chat_id": chat_id, "query": "And now?"}))
    assert sim.requests["completions"] == 2
    assert sim.completion_bodies[1] < sim.completion_bodies[0] / 2
    assert reply["answer"] and reply["earlier_turns_omitted"] > 0


async def test_a_conversation_that_never_fits_is_one_sentence_after_one_retry(
    sim: SimulatorState, own_data_dir: Path
) -> None:
    chat_id = await seeded_chat(own_data_dir, 100)
    sim.context_window = 100
    async with mcp_session(sim, backend="completions", enable_suggestions=False, context_budget=100_000) as client:
        result = await client.call_tool("continue_chat", {"chat_id": chat_id, "query": "And now?"})
        history = reply_of(await client.call_tool("get_chat_history", {"chat_id": chat_id}))
    assert result.is_error
    assert result.content[0].text.startswith("This conversation no longer fits")  # type: ignore[union-attr]
    assert sim.requests["completions"] == 2 and history["total_messages"] == 200  # nothing recorded


async def test_the_budget_comes_from_the_routed_models_context_window(sim: SimulatorState, own_data_dir: Path) -> None:
    chat_id = await seeded_chat(own_data_dir, 150)
    async with mcp_session(sim, backend="completions", enable_suggestions=False) as client:
        auto = reply_of(await client.call_tool("continue_chat", {"chat_id": chat_id, "query": "a?"}))
        routed = reply_of(
            await client.call_tool("continue_chat", {"chat_id": chat_id, "query": "b?", "model": "gloo-deepseek-v3.2"})
        )
    assert auto["earlier_turns_omitted"] > 0  # the conservative default leaves most of 150 long turns out
    assert routed["earlier_turns_omitted"] == 0  # half of a 128k-token window holds them all
