"""Fair use covers every entry point: tools, resource reads, prompts and completion count against one limit.

Over a real HTTP session (uvicorn on loopback), once with the team's shared token and once
with OAuth users signed in by a real authorization server (oidc-provider).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp_types import PromptReference, ResourceTemplateReference
from pydantic import SecretStr

from gloo_mcp.access.fair_use import FairUse
from gloo_mcp.chats.store import LOCAL_OWNER
from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from gloo_mcp.transports.http_app import HttpOptions, build_http_app
from gloo_mcp.transports.serving import running_in_thread
from tests.conftest import sim_settings, sim_transport
from tests.oidc_provider import AuthorizationServer
from tests.test_http import http_client
from tests.test_team import SCOPE, team_server

TOKEN = "s3cret-shared-team-token-for-tests"
LIMITED = "You have made 3 calls to Gloo in the last minute"


@contextmanager
def shared_token_server(sim: SimulatorState, fair_use: FairUse) -> Iterator[str]:
    settings = sim_settings(sim, mcp_auth_token=SecretStr(TOKEN))
    server = build_server(settings, transport=sim_transport(sim), fair_use=fair_use)
    with running_in_thread(build_http_app(server, settings, HttpOptions())) as base:
        yield f"{base}/mcp"


@asynccontextmanager
async def limited_session(
    sim: SimulatorState, mode: str, authorization_server: AuthorizationServer
) -> AsyncIterator[Client]:
    """A session whose caller may make 3 calls a minute, on a shared-token or a per-user (OAuth) server."""
    limits = FairUse(per_minute=3, in_flight=0)
    if mode == "shared token":
        with shared_token_server(sim, limits) as url:
            async with http_client(url, TOKEN) as client:
                yield client
    else:
        token = await authorization_server.token("alice", scopes=[SCOPE])
        with team_server(sim, authorization_server.issuer, fair_use=limits) as base:
            async with http_client(f"{base}/mcp", token) as client:
                yield client


async def _refusal(call: Awaitable[Any]) -> str:
    with pytest.raises(MCPError) as refused:
        await call
    return refused.value.error.message


MODES = ["shared token", "oauth"]


@pytest.mark.parametrize("mode", MODES)
async def test_a_limited_caller_cannot_read_history_through_resources(
    sim: SimulatorState, authorization_server: AuthorizationServer, mode: str
) -> None:
    async with limited_session(sim, mode, authorization_server) as client:
        chat_id = (await client.call_tool("send_message", {"query": "hello"})).structured_content["chat_id"]  # type: ignore[index]
        await client.read_resource(f"gloo://chats/{chat_id}")
        await client.read_resource(f"gloo://chats/{chat_id}/history.json")
        reads_before = sim.requests["chat"]
        refusals = [await _refusal(client.read_resource(f"gloo://chats/{chat_id}")) for _ in range(10)]
        listing = await _refusal(client.read_resource("gloo://chats"))
    assert all(text.startswith(LIMITED) and "try again in about" in text for text in [*refusals, listing])
    assert sim.requests["chat"] == reads_before  # none of the ten reads reached Gloo


@pytest.mark.parametrize("mode", MODES)
async def test_a_limited_caller_cannot_read_history_through_prompts(
    sim: SimulatorState, authorization_server: AuthorizationServer, mode: str
) -> None:
    async with limited_session(sim, mode, authorization_server) as client:
        chat_id = (await client.call_tool("send_message", {"query": "hello"})).structured_content["chat_id"]  # type: ignore[index]
        await client.get_prompt("summarize_gloo_chat", {"chat_id": chat_id})
        await client.get_prompt("ask_gloo", {"question": "What is hope?"})
        reads_before = sim.requests["chat"]
        refusals = [await _refusal(client.get_prompt("summarize_gloo_chat", {"chat_id": chat_id})) for _ in range(10)]
        asked = await _refusal(client.get_prompt("ask_gloo", {"question": "What is hope?"}))
    assert all(text.startswith(LIMITED) for text in [*refusals, asked])
    assert sim.requests["chat"] == reads_before


@pytest.mark.parametrize("mode", MODES)
async def test_resource_reads_prompts_and_completions_use_up_the_same_limit_as_tools(
    sim: SimulatorState, authorization_server: AuthorizationServer, mode: str
) -> None:
    async with limited_session(sim, mode, authorization_server) as client:
        chat_id = (await client.call_tool("send_message", {"query": "hello"})).structured_content["chat_id"]  # type: ignore[index]
        await client.read_resource(f"gloo://chats/{chat_id}")
        await client.complete(
            ResourceTemplateReference(type="ref/resource", uri="gloo://chats/{chat_id}"),
            {"name": "chat_id", "value": ""},
        )
        sent_before = sim.requests["message"]
        tool = await client.call_tool("send_message", {"query": "one more"})
        completion = await _refusal(
            client.complete(
                PromptReference(type="ref/prompt", name="summarize_gloo_chat"), {"name": "chat_id", "value": ""}
            )
        )
    assert tool.is_error and tool.content[0].text.startswith(LIMITED)  # type: ignore[union-attr]
    assert completion.startswith(LIMITED)
    assert sim.requests["message"] == sent_before


async def test_every_entry_point_is_refused_alike_beyond_the_in_flight_cap(sim: SimulatorState) -> None:
    limits = FairUse(per_minute=0, in_flight=1)
    with shared_token_server(sim, limits) as url:
        async with http_client(url, TOKEN) as client:
            chat_id = (await client.call_tool("send_message", {"query": "hello"})).structured_content["chat_id"]  # type: ignore[index]
            entry_points: list[Callable[[], Awaitable[Any]]] = [
                lambda: client.read_resource(f"gloo://chats/{chat_id}"),
                lambda: client.get_prompt("summarize_gloo_chat", {"chat_id": chat_id}),
            ]
            async with limits.admit(LOCAL_OWNER):  # the shared token's one principal has a call under way
                refusals = [await _refusal(entry()) for entry in entry_points]
            after = [await entry() for entry in entry_points]
    assert all("1 calls to Gloo under way" in text for text in refusals)
    assert len(after) == 2
