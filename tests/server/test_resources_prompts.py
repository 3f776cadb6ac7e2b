"""Conversations as resources (Markdown and JSON) and the prompts a person can pick in a host."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, TextContent, TextResourceContents

from gloo_mcp.simulator import SimulatorState
from tests.conftest import mcp_session

ERAS = pytest.mark.parametrize("mode", ["auto", "legacy"])


async def start_chat(client: Client, query: str = "Where is hope?") -> dict[str, Any]:
    reply = (await client.call_tool("send_message", {"query": query})).structured_content
    assert reply is not None
    return reply


def only_text(contents: list[Any]) -> TextResourceContents:
    assert len(contents) == 1 and isinstance(contents[0], TextResourceContents)
    return contents[0]


@ERAS
async def test_both_chat_templates_are_listed(sim: SimulatorState, mode: str) -> None:
    async with mcp_session(sim, mode=mode) as client:
        templates = {t.uri_template: t for t in (await client.list_resource_templates()).resource_templates}
    assert templates["gloo://chats/{chat_id}"].mime_type == "text/markdown"
    assert templates["gloo://chats/{chat_id}/history.json"].mime_type == "application/json"


@ERAS
async def test_conversation_resource_reads_back_as_markdown(sim: SimulatorState, mode: str) -> None:
    async with mcp_session(sim, mode=mode) as client:
        reply = await start_chat(client)
        contents = only_text((await client.read_resource(f"gloo://chats/{reply['chat_id']}")).contents)
    assert contents.mime_type == "text/markdown"
    assert reply["chat_id"] in contents.text and "Where is hope?" in contents.text and "### Gloo" in contents.text


@ERAS
async def test_conversation_resource_reads_back_as_json_matching_the_history_tool(
    sim: SimulatorState, mode: str
) -> None:
    async with mcp_session(sim, mode=mode) as client:
        reply = await start_chat(client)
        contents = only_text((await client.read_resource(f"gloo://chats/{reply['chat_id']}/history.json")).contents)
        tool = await client.call_tool("get_chat_history", {"chat_id": reply["chat_id"]})
    assert contents.mime_type == "application/json"
    assert json.loads(contents.text) == tool.structured_content


async def test_results_carry_no_resource_link_by_default_and_their_text_names_the_resource(
    sim: SimulatorState,
) -> None:
    async with mcp_session(sim) as client:
        first = await client.call_tool("send_message", {"query": "a"})
        chat_id = first.structured_content["chat_id"]  # type: ignore[index]
        second = await client.call_tool("continue_chat", {"chat_id": chat_id, "query": "b"})
        history = await client.call_tool("get_chat_history", {"chat_id": chat_id})
        uri = f"gloo://chats/{chat_id}"
        for result in (first, second, history):
            assert [block.type for block in result.content] == ["text"]
            assert f"`{uri}`" in result.content[0].text  # type: ignore[union-attr]
        assert only_text((await client.read_resource(uri)).contents).text.startswith("## ")


async def test_hosts_that_opt_in_get_a_resource_link_to_the_conversation(sim: SimulatorState) -> None:
    async with mcp_session(sim, resource_links=True) as client:
        first = await client.call_tool("send_message", {"query": "a"})
        chat_id = first.structured_content["chat_id"]  # type: ignore[index]
        history = await client.call_tool("get_chat_history", {"chat_id": chat_id})
        for result in (first, history):
            (link,) = [c for c in result.content if c.type == "resource_link"]
            assert str(link.uri) == f"gloo://chats/{chat_id}"
            assert only_text((await client.read_resource(link.uri)).contents).text.startswith("## ")


async def test_reading_an_unknown_conversation_is_an_error_saying_what_to_do(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource("gloo://chats/cNOPE")
    assert "send_message" in raised.value.error.message


@ERAS
async def test_prompts_are_listed_with_their_arguments(sim: SimulatorState, mode: str) -> None:
    async with mcp_session(sim, mode=mode) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    ask = prompts["ask_gloo"]
    assert ask.title == "Ask Gloo AI"
    assert {a.name: a.required for a in ask.arguments or []} == {"question": True, "publishers": False}
    summarize = prompts["summarize_gloo_chat"]
    assert {a.name: a.required for a in summarize.arguments or []} == {"chat_id": True}


async def test_ask_gloo_prompt_asks_the_model_to_use_send_message_and_cite(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        prompt = await client.get_prompt("ask_gloo", {"question": "What is grace?", "publishers": "Alpha, Beta"})
    (message,) = prompt.messages
    assert message.role == "user" and isinstance(message.content, TextContent)
    text = message.content.text
    assert "send_message" in text and "What is grace?" in text and "['Alpha', 'Beta']" in text
    assert "cite" in text and "chat_id" in text


async def test_summarize_prompt_carries_the_conversation_transcript(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        reply = await start_chat(client, "How do I rest well?")
        prompt = await client.get_prompt("summarize_gloo_chat", {"chat_id": reply["chat_id"]})
    (message,) = prompt.messages
    assert isinstance(message.content, TextContent)
    assert "How do I rest well?" in message.content.text and reply["answer"][:40] in message.content.text


async def test_summarize_prompt_for_an_unknown_chat_is_an_error(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("summarize_gloo_chat", {"chat_id": "cNOPE"})
    assert raised.value.code == INVALID_PARAMS and "send_message" in raised.value.error.message
