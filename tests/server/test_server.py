"""The three tools through real MCP sessions (both protocol eras) against the simulator."""

from __future__ import annotations

import pytest
from mcp_types import TextContent

from gloo_mcp.config import Settings
from gloo_mcp.errors import ConfigurationError
from gloo_mcp.server import build_server
from gloo_mcp.server.state import AppState
from gloo_mcp.simulator import SimulatorState
from gloo_mcp.simulator.content import SIMULATOR_NOTICE
from tests.conftest import TOOL_NAMES, mcp_session, sim_settings, sim_transport

ERAS = pytest.mark.parametrize("mode", ["auto", "legacy"])


def text_of(result: object) -> str:
    blocks = [c.text for c in result.content if isinstance(c, TextContent)]  # type: ignore[attr-defined]
    assert len(blocks) == 1
    return blocks[0]


@ERAS
async def test_tools_are_listed_with_schemas_annotations_and_bounds(sim: SimulatorState, mode: str) -> None:
    async with mcp_session(sim, mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOL_NAMES
    send, cont, history = tools["send_message"], tools["continue_chat"], tools["get_chat_history"]
    assert send.output_schema is not None and send.output_schema["title"] == "ChatReply"
    assert cont.output_schema is not None and cont.output_schema["title"] == "ChatReply"
    assert history.output_schema is not None and history.output_schema["title"] == "ChatHistory"
    assert send.input_schema["required"] == ["query"]
    assert cont.input_schema["required"] == ["chat_id", "query"]
    assert send.input_schema["properties"]["query"]["minLength"] == 1
    for tool in tools.values():  # descriptions are shown to models and people: no code indentation
        assert tool.description and tool.description.strip() == tool.description and "\n " not in tool.description
    for tool in (send, cont):
        a = tool.annotations
        assert a is not None
        assert (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint) == (
            False,
            False,
            False,
            True,
        )
    h = history.annotations
    assert h is not None and h.read_only_hint and h.idempotent_hint and h.open_world_hint


@ERAS
async def test_server_instructions_teach_the_agent_to_keep_the_chat_id(sim: SimulatorState, mode: str) -> None:
    async with mcp_session(sim, mode=mode) as client:
        instructions = client.instructions
    assert instructions is not None
    assert "keep that chat_id" in instructions.lower() and "continue_chat" in instructions


@ERAS
async def test_send_continue_and_history_form_one_conversation(sim: SimulatorState, mode: str) -> None:
    async with mcp_session(sim, mode=mode) as client:
        first = await client.call_tool("send_message", {"query": "How do I find meaning?"})
        assert not first.is_error
        reply = first.structured_content
        assert reply is not None
        assert reply["answer"].startswith(SIMULATOR_NOTICE)
        assert reply["chat_id"].startswith("c") and reply["query_id"].startswith("q")
        assert len(reply["sources"]) == 5 and len(reply["suggestions"]) == 3
        assert reply["timestamp"].endswith("Z") or reply["timestamp"].endswith("+00:00")

        second = await client.call_tool(
            "continue_chat", {"chat_id": reply["chat_id"], "query": reply["suggestions"][0]}
        )
        assert not second.is_error and second.structured_content is not None
        assert second.structured_content["chat_id"] == reply["chat_id"]

        history = await client.call_tool("get_chat_history", {"chat_id": reply["chat_id"]})
    assert not history.is_error and history.structured_content is not None
    messages = history.structured_content["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "How do I find meaning?"
    assert messages[2]["content"] == reply["suggestions"][0]
    assert messages[1]["sources"] and messages[1]["suggestions"]
    assert messages[0]["query_id"] == messages[1]["query_id"]


async def test_text_block_carries_answer_sources_follow_ups_and_chat_id(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        result = await client.call_tool("send_message", {"query": "Where is hope?"})
    reply = result.structured_content
    assert reply is not None
    text = text_of(result)
    assert reply["answer"] in text
    for number, source in enumerate(reply["sources"], start=1):
        assert f"{number}. [{source['title']}]({source['url']})" in text
    for suggestion in reply["suggestions"]:
        assert f"- {suggestion}" in text
    assert f"`{reply['chat_id']}`" in text
    assert f"`gloo://chats/{reply['chat_id']}`" in text


async def test_request_options_reach_gloo(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        result = await client.call_tool(
            "send_message",
            {
                "query": "Tell me about work",
                "character_limit": 80,
                "sources_limit": 2,
                "publishers": ["Example Press"],
                "enable_suggestions": False,
            },
        )
    reply = result.structured_content
    assert reply is not None
    assert len(reply["answer"]) <= 80
    assert len(reply["sources"]) == 2
    assert {s["publisher"] for s in reply["sources"]} == {"Example Press"}
    assert reply["suggestions"] == []


async def test_settings_supply_the_defaults_for_omitted_options(sim: SimulatorState) -> None:
    async with mcp_session(sim, sources_limit=1, enable_suggestions=False) as client:
        result = await client.call_tool("send_message", {"query": "Where is hope?"})
    assert result.structured_content is not None
    assert len(result.structured_content["sources"]) == 1
    assert result.structured_content["suggestions"] == []


@ERAS
async def test_unknown_chat_is_an_error_telling_the_agent_to_start_a_new_one(sim: SimulatorState, mode: str) -> None:
    async with mcp_session(sim, mode=mode) as client:
        result = await client.call_tool("continue_chat", {"chat_id": "cdoes-not-exist", "query": "hi"})
    assert result.is_error
    assert result.structured_content is None
    assert text_of(result) == (
        "Gloo has no chat with id 'cdoes-not-exist'; check the id, or call send_message to start a new conversation."
    )


async def test_history_of_unknown_chat_is_an_error(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        result = await client.call_tool("get_chat_history", {"chat_id": "cnope"})
    assert result.is_error and "send_message" in text_of(result)


@pytest.mark.parametrize(
    "arguments",
    [
        {"query": ""},
        {"query": "   "},
        {"query": "x" * 10_001},
        {"query": "ok", "character_limit": 0},
        {"query": "ok", "sources_limit": 51},
        {"query": "ok", "publishers": [""]},
        {},
    ],
)
async def test_invalid_input_is_rejected_before_any_request(sim: SimulatorState, arguments: dict[str, object]) -> None:
    async with mcp_session(sim) as client:
        result = await client.call_tool("send_message", arguments)
    assert result.is_error and result.structured_content is None
    assert "send_message" in text_of(result)
    assert sum(sim.requests.values()) == 0


async def test_chat_id_with_unsafe_characters_is_rejected(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        result = await client.call_tool("get_chat_history", {"chat_id": "c1&chat_id=c2"})
    assert result.is_error
    assert sum(sim.requests.values()) == 0


async def test_without_credentials_tools_are_listed_and_calls_say_what_to_set(sim: SimulatorState) -> None:
    async with mcp_session(sim, client_id=None, client_secret=None) as client:
        assert {t.name for t in (await client.list_tools()).tools} == TOOL_NAMES
        result = await client.call_tool("send_message", {"query": "hi"})
    assert result.is_error
    text = text_of(result)
    assert "GLOO_API_KEY" in text and "GLOO_CLIENT_ID" in text and "GLOO_CLIENT_SECRET" in text


async def test_a_configuration_error_at_start_up_is_reported_by_every_call() -> None:
    from mcp import Client

    error = ConfigurationError("GLOO_TIMEOUT is invalid: Input should be a valid number.")
    server = build_server(Settings(), startup_error=error)
    async with Client(server) as client:
        result = await client.call_tool("get_chat_history", {"chat_id": "c1"})
    assert result.is_error and text_of(result) == error.message


async def test_api_key_is_sent_as_the_bearer_without_a_token_exchange(sim: SimulatorState) -> None:
    from pydantic import SecretStr

    async with mcp_session(sim, client_id=None, client_secret=None, api_key=SecretStr(sim.api_key)) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
    assert not result.is_error
    assert sim.requests["token"] == 0


async def test_wrong_api_key_is_an_error_naming_the_variables(sim: SimulatorState) -> None:
    from pydantic import SecretStr

    async with mcp_session(sim, client_id=None, client_secret=None, api_key=SecretStr("wrong")) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
    assert result.is_error
    assert "HTTP 401" in text_of(result) and "GLOO_API_KEY" in text_of(result)


async def test_the_http_client_is_built_in_the_background_once_start_up_is_over(sim: SimulatorState) -> None:
    state = AppState(sim_settings(sim), transport=sim_transport(sim))
    assert state._client is None  # start-up does not pay for the HTTP stack
    await state.warm_up(0)
    assert state._client is not None and state.ready_client() is state._client
    await state.aclose()


async def test_warming_up_with_a_configuration_error_is_silent() -> None:
    state = AppState(Settings(), startup_error=ConfigurationError("GLOO_TIMEOUT is invalid."))
    await state.warm_up(0)
    assert state._client is None


async def test_two_connections_to_one_server_share_it_and_one_closing_leaves_the_other_working(
    sim: SimulatorState,
) -> None:
    from mcp import Client

    server = build_server(sim_settings(sim), transport=sim_transport(sim))
    async with Client(server) as staying:
        first = await staying.call_tool("send_message", {"query": "before"})
        async with Client(server) as leaving:
            assert not (await leaving.call_tool("send_message", {"query": "other"})).is_error
        after = await staying.call_tool("send_message", {"query": "after"})
    assert not first.is_error and not after.is_error
    assert sim.requests["token"] == 1  # one client, one token, for both connections
