"""Arguments clients can rely on: one-sentence errors, no guessing of types, null for every option,
and the same chat_id rule on tools, prompts, resource templates and completion.

Through a real ``gloo-mcp`` stdio subprocess with the official SDK client, against the
simulator on 127.0.0.1, counting what reached it.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp_types import PromptReference, ResourceTemplateReference

from gloo_mcp.simulator import SimulatorState, running_simulator
from tests.conftest import mcp_session
from tests.test_stdio import server_env

HUGE_ID = "c" + "x" * 1_000_000


@pytest.fixture
def live_sim() -> Iterator[tuple[SimulatorState, str]]:
    state = SimulatorState()
    with running_simulator(state) as url:
        yield state, url


@asynccontextmanager
async def stdio_session(state: SimulatorState, url: str) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "gloo_mcp"], env=server_env(state, url))
    async with Client(params) as client:
        yield client


def text(result: Any) -> str:
    assert result.is_error and result.structured_content is None
    (block,) = result.content
    message: str = block.text
    assert "\n" not in message and "pydantic" not in message and "validation error" not in message
    return message


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"query": "hi", "character_limit": "2.5"}, 'character_limit is the text "2.5", but it must be a whole number'),
        ({"query": "hi", "character_limit": " 100"}, 'character_limit is the text " 100", but it must be a whole'),
        ({"query": "hi", "character_limit": "1e3"}, 'character_limit is the text "1e3", but it must be a whole number'),
        ({"query": "hi", "character_limit": "-5"}, 'character_limit is the text "-5", but it must be a whole number'),
        (
            {"query": "hi", "character_limit": "\u0661\u0660"},
            'character_limit is the text "\u0661\u0660", but it must be',
        ),  # Arabic-Indic 10
        ({"query": "hi", "character_limit": "true"}, 'character_limit is the text "true", but it must be a whole'),
        ({"query": "hi", "character_limit": True}, "character_limit is true, but it must be a whole number"),
        ({"query": "hi", "character_limit": 2.5}, "character_limit is the number 2.5, but it must be a whole number"),
        (
            {"query": "hi", "character_limit": "0"},
            "character_limit is the number 0, but it must be a whole number from",
        ),
        (
            {"query": "hi", "sources_limit": "99"},
            "sources_limit is the number 99, but it must be a whole number from 0",
        ),
        ({"query": "hi", "sources_limit": 99}, "sources_limit is the number 99, but it must be a whole number from 0"),
        ({"query": "hi", "enable_suggestions": "yes"}, 'enable_suggestions is the text "yes", but it must be true or'),
        ({"query": "hi", "enable_suggestions": "True"}, 'enable_suggestions is the text "True", but it must be true'),
        ({"query": "hi", "enable_suggestions": "1"}, 'enable_suggestions is the text "1", but it must be true or'),
        ({"query": "hi", "enable_suggestions": 1}, "enable_suggestions is the number 1, but it must be true or false"),
        ({"query": "hi", "auto_routing": " false"}, 'auto_routing is the text " false", but it must be true or'),
        ({"query": "   "}, "query is empty, but it must be text of 1 to 10,000 characters"),
        ({}, "query is missing"),
        ({"query": "hi", "publishers": ["A", 7]}, "publishers[1] is the number 7, but it must be text"),
        ({"query": "hi", "model_family": "acme"}, 'model_family is the text "acme", but it must be one of "openai"'),
    ],
)
async def test_a_bad_argument_is_one_sentence_naming_it_what_was_wrong_and_what_is_allowed(
    sim: SimulatorState, arguments: dict[str, Any], expected: str
) -> None:
    state = sim
    async with mcp_session(sim) as client:  # the same server code as over stdio, which the next tests drive
        result = await client.call_tool("send_message", arguments)
    message = text(result)
    assert message.startswith(f"send_message: {expected}"), message
    assert state.requests["message"] == 0


async def test_numbers_and_booleans_sent_as_text_are_read_as_written(sim: SimulatorState) -> None:
    # Inspector 0.15 and smolagents/mcpadapt send an optional (anyOf [type, null]) option as text.
    arguments = {
        "query": "Tell me about work",
        "character_limit": "80",
        "sources_limit": "2",
        "enable_suggestions": "false",
    }
    async with mcp_session(sim) as client:
        reply = (await client.call_tool("send_message", arguments)).structured_content
        assert reply is not None
        listed = await client.call_tool("list_chats", {"limit": "1"})
        again = await client.call_tool(
            "send_message", {"query": "hi", "enable_suggestions": "true", "sources_limit": "0"}
        )
    assert len(reply["answer"]) <= 80 and len(reply["sources"]) == 2 and reply["suggestions"] == []
    assert not listed.is_error and len(listed.structured_content["chats"]) == 1  # type: ignore[index]
    assert not again.is_error and again.structured_content["suggestions"]  # type: ignore[index]
    assert again.structured_content["sources"] == []  # type: ignore[index]


async def test_the_option_descriptions_say_that_text_is_accepted(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for tool, option, said in [
        ("send_message", "character_limit", 'digits as text, e.g. "500"'),
        ("send_message", "sources_limit", 'digits as text, e.g. "3"'),
        ("continue_chat", "enable_suggestions", '"true" or "false" as text'),
        ("send_message", "auto_routing", '"true" or "false" as text'),
        ("list_chats", "limit", 'digits as text, e.g. "50"'),
    ]:
        assert said in tools[tool].input_schema["properties"][option]["description"], (tool, option)


async def test_a_huge_value_is_shown_shortened_over_stdio(live_sim: tuple[SimulatorState, str]) -> None:
    state, url = live_sim
    async with stdio_session(state, url) as client:
        result = await client.call_tool("get_chat_history", {"chat_id": HUGE_ID})
    message = text(result)
    assert len(message) < 300 and "1,000,001 characters" in message
    assert state.requests["chat"] == 0


async def test_every_optional_parameter_accepts_an_explicit_null(live_sim: tuple[SimulatorState, str]) -> None:
    state, url = live_sim
    async with stdio_session(state, url) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        first = await client.call_tool("send_message", {"query": "hi"})
        chat_id = first.structured_content["chat_id"]  # type: ignore[index]
        required = {"query": "hello", "chat_id": chat_id}
        results = {}
        for name in ("send_message", "continue_chat", "get_chat_history", "list_chats"):
            schema = tools[name].input_schema
            arguments = {
                key: (required[key] if key in schema.get("required", []) else None) for key in schema["properties"]
            }
            results[name] = await client.call_tool(name, arguments)
    for name, result in results.items():
        assert not result.is_error, (name, result.content)
    assert state.requests["message"] == 3


async def test_prompts_resources_and_completion_apply_the_chat_id_rule_without_reaching_gloo(
    live_sim: tuple[SimulatorState, str],
) -> None:
    state, url = live_sim
    async with stdio_session(state, url) as client:
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt("summarize_gloo_chat", {"chat_id": HUGE_ID})
        with pytest.raises(MCPError) as resource:
            await client.read_resource("gloo://chats/c<script>")
        completion = await client.complete(
            ResourceTemplateReference(type="ref/resource", uri="gloo://chats/{chat_id}"),
            {"name": "chat_id", "value": HUGE_ID},
        )
        prompt_completion = await client.complete(
            PromptReference(type="ref/prompt", name="summarize_gloo_chat"), {"name": "chat_id", "value": "c/../x"}
        )
    assert prompt.value.error.message.startswith("chat_id is")
    assert "send_message returned" in prompt.value.error.message and len(prompt.value.error.message) < 300
    assert "must be 1 to 200" in resource.value.error.message
    assert completion.completion.values == [] and prompt_completion.completion.values == []
    assert state.requests["chat"] == 0
