"""Control characters from Gloo, the store or a question never reach a host: ESC, BEL and CSI are stripped.

A terminal host would act on them (``ESC [ 31 m`` recolours, ``ESC ] 0 ;`` retitles the
window, ``U+009B`` is a CSI on its own). Every text channel is checked in both forms a host
may show: the structured content and the Markdown text. Message bodies keep their newlines
and tabs; titles, ids, roles and suggestions keep no control character at all.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent

from gloo_mcp.models import ChatMessage, ChatSummary, Source, one_line, plain_text
from gloo_mcp.simulator import Fault, SimulatorState
from tests.conftest import mcp_session

HOSTILE = "\x1b[31mred\x1b[0m \x07bell \x9b2Jcsi \x1b]0;pwned\x07 \x00\x7f\x85"
"""Colour, bell, a C1 CSI, a window-title sequence, NUL, DEL and NEL."""
QUESTION = f"Where is hope? {HOSTILE}\r\nSecond line\tafter a tab"
BANNED = ("\x1b", "\x07", "\x9b", "\x00", "\x7f")
CLEANED = "[31mred[0m bell 2Jcsi ]0;pwned "
"""HOSTILE in a body: every control gone, NEL too."""
CLEANED_LINE = CLEANED + " "
"""HOSTILE on one line: NEL, a line break, became a space."""


def controls(text: str, *, allowed: str = "") -> set[str]:
    """The control characters (Unicode category Cc) in ``text`` other than ``allowed``."""
    return {c for c in text if unicodedata.category(c) == "Cc" and c not in allowed}


def strings(value: object) -> list[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [*strings(k), *strings(v)]]
    return []


def text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def assert_clean(result: CallToolResult) -> None:
    """Nothing but newlines and tabs, in the structured content and the Markdown alike."""
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    for value in strings(result.structured_content):
        assert not controls(value, allowed="\n\t"), repr(value)
    assert not controls(text(result), allowed="\n\t"), repr(text(result))
    for banned in BANNED:
        assert banned not in json.dumps(result.structured_content, ensure_ascii=False)


def hostile_answer(chat_id: str) -> dict[str, Any]:
    return {
        "success": True,
        "chat_id": chat_id,
        "query_id": "q\x1b[2J1",
        "message_id": "m\x071",
        "message": f"First paragraph {HOSTILE}\n\n\tIndented second paragraph\r\nthird",
        "timestamp": "2026-06-15T12:00:00",
        "suggestions": [f"Ask again? {HOSTILE}", "\x1b\x07"],
        "sources": [
            {
                "title": f"Title {HOSTILE}\nsecond line",
                "url": "https://example.org/\x1b[31m",
                "publisher": f"Press {HOSTILE}",
                "snippet": f"Snippet {HOSTILE}\nnext line",
                "extra": {"note\x1b": [f"nested {HOSTILE}"]},
            }
        ],
    }


async def started_chat(client: Client, query: str = QUESTION) -> str:
    first = await client.call_tool("send_message", {"query": query})
    assert not first.is_error, text(first)
    assert first.structured_content is not None
    chat_id: str = first.structured_content["chat_id"]
    return chat_id


async def test_a_question_with_control_characters_comes_back_clean_in_the_reply_history_and_list(
    sim: SimulatorState,
) -> None:
    async with mcp_session(sim) as client:
        chat_id = await started_chat(client)
        history = await client.call_tool("get_chat_history", {"chat_id": chat_id})
        listed = await client.call_tool("list_chats", {})
    assert_clean(history)
    assert_clean(listed)
    page = history.structured_content
    assert page is not None
    assert "\x1b" in sim.chats[chat_id].messages[0]["message"]  # Gloo (the simulator) kept them; we did not
    assert not controls(page["title"]) and page["title"].startswith("Simulated chat: Where is hope? [31mred[0m bell")
    question = page["messages"][0]["content"]
    assert question == f"Where is hope? {CLEANED}\nSecond line\tafter a tab"
    title = listed.structured_content["chats"][0]["title"]
    assert not controls(title) and title.startswith("Where is hope? [31mred[0m bell 2Jcsi ]0;pwned")
    assert "[31mred" in text(listed) and "\x1b" not in text(listed)


async def test_control_characters_in_an_answer_its_sources_and_suggestions_are_stripped_keeping_line_breaks(
    sim: SimulatorState,
) -> None:
    sim.inject("message", Fault(malformed=True, body=json.dumps(hostile_answer("C_hostile")).encode()))
    async with mcp_session(sim) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
    assert_clean(result)
    reply = result.structured_content
    assert reply is not None
    assert reply["answer"] == f"First paragraph {CLEANED}\n\n\tIndented second paragraph\nthird"
    assert reply["message_id"] == "m1" and reply["query_id"] == "q[2J1"
    assert reply["suggestions"] == [f"Ask again? {CLEANED_LINE}"]  # the one of controls alone is gone
    source = reply["sources"][0]
    assert source["title"] == f"Title {CLEANED_LINE}second line"  # the line break became a space
    assert source["snippet"].endswith("\nnext line")
    assert source["extra"] == {"note": [f"nested {CLEANED}"]}
    assert "\tIndented second paragraph\nthird" in text(result)


async def test_control_characters_in_a_chat_gloo_hands_back_are_stripped_from_every_page_field(
    sim: SimulatorState,
) -> None:
    async with mcp_session(sim) as client:
        chat_id = await started_chat(client, "plain question")
        answer = {k: v for k, v in hostile_answer(chat_id).items() if k != "chat_id"}
        sim.chats[chat_id].messages[1] = {**answer, "role": "kallm\x1b[8m"}
        history = await client.call_tool("get_chat_history", {"chat_id": chat_id})
        transcript = await client.read_resource(f"gloo://chats/{chat_id}")
    assert_clean(history)
    page = history.structured_content
    assert page is not None
    turn = page["messages"][1]
    assert turn["role"] == "kallm[8m" and turn["content"].endswith("\n\n\tIndented second paragraph\nthird")
    assert turn["sources"][0]["publisher"] == f"Press {CLEANED}"  # the trailing NEL went with the trim
    assert turn["suggestions"][0] == f"Ask again? {CLEANED_LINE}"
    resource_text = transcript.contents[0].text  # type: ignore[union-attr]
    assert not controls(resource_text, allowed="\n\t") and "Indented second paragraph" in resource_text


async def test_a_completions_v2_conversation_stored_with_control_characters_reads_back_clean(
    sim: SimulatorState,
) -> None:
    async with mcp_session(sim, backend="completions", enable_suggestions=False) as client:
        result = await client.call_tool("send_message", {"query": QUESTION})
        assert result.structured_content is not None
        history = await client.call_tool("get_chat_history", {"chat_id": result.structured_content["chat_id"]})
        listed = await client.call_tool("list_chats", {})
    assert_clean(result)
    assert_clean(history)
    assert_clean(listed)
    assert history.structured_content is not None
    assert history.structured_content["messages"][0]["content"].endswith("\nSecond line\tafter a tab")


@pytest.mark.parametrize("character", [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]])
def test_every_c0_and_c1_control_is_stripped_from_titles_and_all_but_newline_and_tab_from_bodies(
    character: str,
) -> None:
    body = plain_text(f"a{character}b")
    line = one_line(f"a{character}b")
    assert body == {"\n": "a\nb", "\t": "a\tb", "\r": "a\nb"}.get(character, "a" + "b")
    assert line in ("ab", "a b") and not controls(line)
    assert ChatSummary.model_validate(
        {"chat_id": "c1", "title": f"t{character}", "backend": "message", "created_at": 0, "updated_at": 0}
    ).title in ("t", "t ")
    assert not controls(ChatMessage(role="user", content=f"x{character}y").content, allowed="\n\t")
    assert not controls(Source.model_validate({"title": f"x{character}y"}).title or "")


def test_text_without_control_characters_is_left_exactly_as_it_was() -> None:
    kept = "Grace — ünïcode 😀 [31m \\x1b literal backslashes, \u200b and a newline\n"
    assert plain_text(kept) is kept
    assert one_line("a title — 😀") == "a title — 😀"
    assert plain_text("windows\r\nline\rends") == "windows\nline\nends"
