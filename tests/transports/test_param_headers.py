"""chat_id as an x-mcp-header (SEP-2243): Mcp-Param-ChatId on 2026-07-28 HTTP, nothing asked of older clients.

continue_chat and get_chat_history declare ``"x-mcp-header": "ChatId"`` on chat_id, so a
gateway can route a conversation by header. On 2026-07-28 a client MUST mirror the argument
(base64 in ``=?base64?…?=`` when it is not a plain header value), and the server MUST reject
a call whose header is missing or disagrees with the body: HTTP 400, JSON-RPC -32020. A
handshake-era (2025-11-25) client sends no such header, and keeps working.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from gloo_mcp.transports.http_app import HttpOptions, build_http_app
from gloo_mcp.transports.serving import running_in_thread
from tests.conftest import sim_settings, sim_transport

HEADER_MISMATCH = -32020
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@contextmanager
def serving(sim: SimulatorState) -> Iterator[str]:
    settings = sim_settings(sim)
    server = build_server(settings, transport=sim_transport(sim))
    with running_in_thread(build_http_app(server, settings, HttpOptions())) as base_url:
        yield f"{base_url}/mcp"


def modern_call(tool: str, arguments: dict[str, Any], headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """A raw 2026-07-28 tools/call body and its standard headers (Mcp-Param-* are the caller's)."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    body["params"]["_meta"] = meta
    standard = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": tool}
    return body, {**ACCEPT, **standard, **headers}


def message(response: httpx2.Response) -> dict[str, Any]:
    if response.headers["content-type"].startswith("application/json"):
        answer: dict[str, Any] = response.json()
        return answer
    [data] = [line.removeprefix("data:") for line in response.text.splitlines() if line.startswith("data:")]
    decoded: dict[str, Any] = json.loads(data)
    return decoded


async def a_chat(url: str) -> str:
    async with httpx2.AsyncClient(timeout=30) as http, Client(streamable_http_client(url, http_client=http)) as client:
        result = await client.call_tool("send_message", {"query": "What is hope?"})
    assert result.structured_content is not None
    chat_id: str = result.structured_content["chat_id"]
    return chat_id


async def test_a_2026_client_mirrors_chat_id_into_the_header_and_holds_the_conversation(sim: SimulatorState) -> None:
    sent: list[httpx2.Headers] = []

    async def record(request: httpx2.Request) -> None:
        sent.append(request.headers)

    with serving(sim) as url:
        async with (
            httpx2.AsyncClient(timeout=30, event_hooks={"request": [record]}) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            first = await client.call_tool("send_message", {"query": "What is hope?"})
            assert first.structured_content is not None
            chat_id = first.structured_content["chat_id"]
            follow_up = await client.call_tool("continue_chat", {"chat_id": chat_id, "query": "And faith?"})
            history = await client.call_tool("get_chat_history", {"chat_id": chat_id})
    assert not follow_up.is_error and not history.is_error
    mirrored = [headers["mcp-param-chatid"] for headers in sent if "mcp-param-chatid" in headers]
    assert mirrored == [chat_id, chat_id]  # continue_chat, get_chat_history; send_message has no chat_id


@pytest.mark.parametrize(
    "header",
    [None, "chat-of-someone-else", "=?base64?not-base64!?="],
    ids=["missing", "disagrees", "malformed-base64"],
)
async def test_a_2026_call_whose_header_is_missing_or_disagrees_is_refused_400_header_mismatch(
    sim: SimulatorState, header: str | None
) -> None:
    with serving(sim) as url:
        chat_id = await a_chat(url)
        before = sim.requests.total()
        body, headers = modern_call(
            "continue_chat",
            {"chat_id": chat_id, "query": "And faith?"},
            {} if header is None else {"Mcp-Param-ChatId": header},
        )
        async with httpx2.AsyncClient(timeout=30) as http:
            response = await http.post(url, json=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == HEADER_MISMATCH
    assert sim.requests.total() == before  # refused before Gloo heard of it


async def test_a_base64_encoded_header_that_decodes_to_the_argument_is_accepted(sim: SimulatorState) -> None:
    with serving(sim) as url:
        chat_id = await a_chat(url)
        encoded = "=?base64?" + base64.b64encode(chat_id.encode()).decode() + "?="
        body, headers = modern_call("get_chat_history", {"chat_id": chat_id}, {"Mcp-Param-ChatId": encoded})
        async with httpx2.AsyncClient(timeout=30) as http:
            response = await http.post(url, json=body, headers=headers)
    assert response.status_code == 200
    result = message(response)["result"]
    assert result.get("isError") is not True and result["structuredContent"]["chat_id"] == chat_id


async def test_a_2025_11_25_client_without_the_header_is_served(sim: SimulatorState) -> None:
    with serving(sim) as url:
        chat_id = await a_chat(url)
        body = {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "get_chat_history", "arguments": {"chat_id": chat_id}},
        }
        async with httpx2.AsyncClient(timeout=30) as http:
            response = await http.post(url, json=body, headers={**ACCEPT, "MCP-Protocol-Version": "2025-11-25"})
    assert response.status_code == 200
    result = message(response)["result"]
    assert result.get("isError") is not True and result["structuredContent"]["chat_id"] == chat_id
