"""Long conversations read page by page on both backends: newest first, within the budget, nothing lost."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from gloo_mcp.chats.paging import PAGE_BUDGET_BYTES
from gloo_mcp.chats.store import LOCAL_OWNER, open_store
from gloo_mcp.models import ChatMessage
from gloo_mcp.simulator import SimulatorState
from tests.conftest import mcp_session

TURNS = 1_500


async def long_v2_chat(data_home: Path, turns: int) -> str:
    """A Completions V2 conversation of ``turns`` turns, written straight into the default store."""
    store = await open_store(f"sqlite:///{data_home / 'gloo-mcp' / 'chats.db'}")
    at = datetime(2026, 11, 26, tzinfo=UTC)
    for n in range(turns):
        messages = [
            ChatMessage(role="user", content=f"question {n}", message_id=f"gu-{n}", query_id=f"gq-{n}"),
            ChatMessage(role="assistant", content=f"answer {n} " + "words " * 40, message_id=f"ga-{n}"),
        ]
        await store.record_turn(
            "gm-long", owner=LOCAL_OWNER, backend="completions", title="A long talk", at=at, messages=messages
        )
    await store.aclose()
    return "gm-long"


def long_message_chat(sim: SimulatorState, chat_id: str, turns: int) -> None:
    """Grow a simulator chat to ``turns`` turns by repeating its first turn with new ids and text."""
    chat = sim.chats[chat_id]
    question, answer = chat.messages[:2]
    chat.messages = []
    for n in range(turns):
        chat.messages.append({**question, "message_id": f"mu{n}", "message": f"question {n}"})
        chat.messages.append({**answer, "message_id": f"ma{n}", "message": f"answer {n} " + answer["message"]})


async def walk(client: Client, chat_id: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Every message id from the newest page back to the first, oldest first, and each page read."""
    ids: list[str] = []
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        result = await client.call_tool("get_chat_history", {"chat_id": chat_id, "cursor": cursor})
        assert not result.is_error, result.content
        page = result.structured_content
        assert page is not None
        pages.append(page)
        ids = [m["message_id"] for m in page["messages"]] + ids
        if not page["has_more"]:
            assert page["next_cursor"] is None and page["first_index"] == 0
            return ids, pages
        cursor = page["next_cursor"]


def assert_within_budget(pages: list[dict[str, Any]]) -> None:
    for page in pages:
        size = sum(len(json.dumps(m, separators=(",", ":"))) for m in page["messages"])
        assert size <= PAGE_BUDGET_BYTES * 1.1  # our JSON and the store's spell timestamps slightly differently


async def test_a_long_v2_conversation_is_read_back_page_by_page_with_nothing_missing_or_repeated(
    sim: SimulatorState, own_data_dir: Path
) -> None:
    chat_id = await long_v2_chat(own_data_dir, TURNS)
    async with mcp_session(sim, backend="completions") as client:
        ids, pages = await walk(client, chat_id)
    expected = [f"g{kind}-{n}" for n in range(TURNS) for kind in ("u", "a")]
    assert ids == expected
    assert len(pages) > 10 and all(p["total_messages"] == 2 * TURNS for p in pages)
    assert_within_budget(pages)


async def test_a_long_message_api_conversation_is_read_back_page_by_page(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        first = await client.call_tool("send_message", {"query": "Where is hope?"})
        chat_id = first.structured_content["chat_id"]  # type: ignore[index]
        long_message_chat(sim, chat_id, TURNS)
        ids, pages = await walk(client, chat_id)
    assert ids == [f"m{kind}{n}" for n in range(TURNS) for kind in ("u", "a")]
    assert_within_budget(pages)
    assert sim.requests["chat"] == 1  # the later pages are cut from the first page's read


@pytest.mark.parametrize("backend", ["message", "completions"])
async def test_the_default_page_is_the_newest_and_says_that_more_exists(
    sim: SimulatorState, own_data_dir: Path, backend: str
) -> None:
    async with mcp_session(sim, backend=backend) as client:
        if backend == "completions":
            chat_id = await long_v2_chat(own_data_dir, 200)
        else:
            first = await client.call_tool("send_message", {"query": "Where is hope?"})
            chat_id = first.structured_content["chat_id"]  # type: ignore[index]
            long_message_chat(sim, chat_id, 200)
        result = await client.call_tool("get_chat_history", {"chat_id": chat_id})
        transcript = await client.read_resource(f"gloo://chats/{chat_id}")
    page = result.structured_content
    assert page is not None and page["has_more"] and page["total_messages"] == 400
    assert page["messages"][-1]["content"].startswith("answer 199")
    assert page["first_index"] + len(page["messages"]) == 400
    text = result.content[0].text  # type: ignore[union-attr]
    assert "of 400 (the newest)" in text and page["next_cursor"] in text
    assert len(text) < 2 * PAGE_BUDGET_BYTES
    assert page["next_cursor"] in transcript.contents[0].text  # type: ignore[union-attr]


async def test_a_short_conversation_fits_one_page_with_no_cursor(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        first = await client.call_tool("send_message", {"query": "Where is hope?"})
        chat_id = first.structured_content["chat_id"]  # type: ignore[index]
        result = await client.call_tool("get_chat_history", {"chat_id": chat_id})
    page = result.structured_content
    assert page is not None
    assert (page["has_more"], page["next_cursor"], page["total_messages"], page["first_index"]) == (False, None, 2, 0)


@pytest.mark.parametrize("cursor", ["nonsense", "eyJiZWZvcmUiOiAtMX0", "eyJiZWZvcmUiOiB0cnVlfQ"])
async def test_a_cursor_get_chat_history_did_not_return_is_one_sentence(sim: SimulatorState, cursor: str) -> None:
    async with mcp_session(sim) as client:
        first = await client.call_tool("send_message", {"query": "Where is hope?"})
        chat_id = first.structured_content["chat_id"]  # type: ignore[index]
        result = await client.call_tool("get_chat_history", {"chat_id": chat_id, "cursor": cursor})
    assert result.is_error
    assert result.content[0].text.startswith("cursor is not one that get_chat_history returned")  # type: ignore[union-attr]
    assert sim.requests["chat"] == 0


def test_a_chat_body_is_scanned_once_and_only_the_page_asked_for_is_parsed() -> None:
    from gloo_mcp.chats.paging import scan_page
    from gloo_mcp.gloo.chat_scan import ChatScan

    messages = [
        {"role": "user" if n % 2 == 0 else "kallm", "message": f"m{n}", "message_id": f"x{n}"} for n in range(9)
    ]
    body = json.dumps({"chat_id": "c1", "title": "T", "pin": False, "messages": messages, "summary": None}).encode()
    scan = ChatScan.of(body)
    size = len(json.dumps(messages[0]))
    page = scan_page(scan, before=5, budget=2 * size + 2)
    assert scan.total == 9
    assert [m.message_id for m in page.messages] == ["x3", "x4"] and page.first_index == 3 and page.has_more
    assert page.messages[0].role == "assistant" and page.title == "T"  # kallm is the assistant


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"chat_id": "c1", "messages": [1, }', b"\xff", b'{"messages": []}', b'{"chat_id": "c", "messages": 5'],
)
def test_a_chat_body_that_is_not_the_documented_json_is_one_sentence(body: bytes) -> None:
    from gloo_mcp.errors import BadResponseError
    from gloo_mcp.gloo.chat_scan import ChatScan

    with pytest.raises(BadResponseError) as raised:
        ChatScan.of(body)
    assert raised.value.message.startswith(("Gloo's chat history is not the JSON", "Gloo answered with a body that is"))


async def test_a_10000_turn_message_api_chat_is_readable_at_both_ends(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        first = await client.call_tool("send_message", {"query": "Where is hope?"})
        chat_id = first.structured_content["chat_id"]  # type: ignore[index]
        long_message_chat(sim, chat_id, 10_000)
        newest = await client.call_tool("get_chat_history", {"chat_id": chat_id})
        page = newest.structured_content
        assert page is not None
        oldest_cursor = base64.urlsafe_b64encode(json.dumps({"before": 2}).encode()).decode().rstrip("=")
        oldest = await client.call_tool("get_chat_history", {"chat_id": chat_id, "cursor": oldest_cursor})
    assert page["total_messages"] == 20_000 and page["messages"][-1]["message_id"] == "ma9999"
    assert oldest.structured_content is not None
    assert [m["message_id"] for m in oldest.structured_content["messages"]] == ["mu0", "ma0"]
