"""GLOO_MCP_RESOURCE_LINKS reaches only sessions whose protocol version defines ``resource_link``.

``resource_link`` content blocks arrived in protocol 2025-06-18; clients that negotiated an
older version (Python SDK ≤ 1.9, TypeScript SDK ≤ 1.12) reject the whole result that carries
one. These tests speak raw JSON-RPC through the SDK's in-memory transport, so the session can
negotiate any handshake version, as an old host would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp.client._memory import InMemoryTransport
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCNotification, JSONRPCRequest, JSONRPCResponse

from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from tests.conftest import mcp_session, sim_settings, sim_transport

TIMEOUT = 10.0


class RawSession:
    """A handshake-era host's end of an in-memory session: JSON-RPC requests, their results."""

    def __init__(self, read: Any, write: Any) -> None:
        self._read, self._write, self._next_id = read, write, 0

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        await self._write.send(
            SessionMessage(JSONRPCRequest(jsonrpc="2.0", id=self._next_id, method=method, params=params))
        )
        while True:
            message = (await self._read.receive()).message
            if isinstance(message, JSONRPCResponse) and message.id == self._next_id:
                result: dict[str, Any] = message.result
                return result

    async def notify(self, method: str) -> None:
        await self._write.send(SessionMessage(JSONRPCNotification(jsonrpc="2.0", method=method)))


@asynccontextmanager
async def handshake_session(sim: SimulatorState, protocol_version: str, **overrides: Any) -> AsyncIterator[RawSession]:
    server = build_server(sim_settings(sim, **overrides), transport=sim_transport(sim))
    with anyio.fail_after(TIMEOUT):
        async with InMemoryTransport(server) as (read, write):
            session = RawSession(read, write)
            init = await session.request(
                "initialize",
                {
                    "protocolVersion": protocol_version,
                    "capabilities": {},
                    "clientInfo": {"name": "old", "version": "1"},
                },
            )
            assert init["protocolVersion"] == protocol_version
            await session.notify("notifications/initialized")
            yield session


def block_types(result: dict[str, Any]) -> list[str]:
    return [block["type"] for block in result["content"]]


@pytest.mark.parametrize("protocol_version", ["2024-11-05", "2025-03-26"])
async def test_sessions_older_than_2025_06_18_get_text_alone_even_with_links_opted_in(
    sim: SimulatorState, protocol_version: str
) -> None:
    async with handshake_session(sim, protocol_version, resource_links=True) as session:
        first = await session.request("tools/call", {"name": "send_message", "arguments": {"query": "a"}})
        chat_id = first["structuredContent"]["chat_id"]
        history = await session.request("tools/call", {"name": "get_chat_history", "arguments": {"chat_id": chat_id}})
    for result in (first, history):
        assert result.get("isError") is not True
        assert block_types(result) == ["text"]
        assert f"`gloo://chats/{chat_id}`" in result["content"][0]["text"]  # the text still names the resource


@pytest.mark.parametrize("protocol_version", ["2025-06-18", "2025-11-25"])
async def test_sessions_on_2025_06_18_or_later_get_the_opted_in_link(
    sim: SimulatorState, protocol_version: str
) -> None:
    async with handshake_session(sim, protocol_version, resource_links=True) as session:
        first = await session.request("tools/call", {"name": "send_message", "arguments": {"query": "a"}})
    chat_id = first["structuredContent"]["chat_id"]
    assert block_types(first) == ["text", "resource_link"]
    assert first["content"][1]["uri"] == f"gloo://chats/{chat_id}"


async def test_a_2026_07_28_session_gets_the_opted_in_link(sim: SimulatorState) -> None:
    async with mcp_session(sim, resource_links=True) as client:
        first = await client.call_tool("send_message", {"query": "a"})
    assert [block.type for block in first.content] == ["text", "resource_link"]


@pytest.mark.parametrize("protocol_version", ["2024-11-05", "2025-11-25"])
async def test_without_the_opt_in_no_session_gets_a_link(sim: SimulatorState, protocol_version: str) -> None:
    async with handshake_session(sim, protocol_version) as session:
        first = await session.request("tools/call", {"name": "send_message", "arguments": {"query": "a"}})
    assert block_types(first) == ["text"]
