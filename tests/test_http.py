"""gloo-mcp over Streamable HTTP on a real socket: flow, progress, DNS-rebinding guards, bearer token, health."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from gloo_mcp.config import Settings
from gloo_mcp.errors import ConfigurationError
from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from gloo_mcp.simulator.state import Fault
from gloo_mcp.transports.http_app import HttpOptions, build_http_app
from gloo_mcp.transports.serving import running_in_thread
from tests.conftest import TOOL_NAMES, sim_settings, sim_transport

TOKEN = "s3cret-bearer-token-for-tests"
LEGACY_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


@contextmanager
def running_http(
    sim: SimulatorState,
    options: HttpOptions | None = None,
    *,
    settings: Settings | None = None,
    startup_error: ConfigurationError | None = None,
    heartbeat_interval: float = 5.0,
) -> Iterator[str]:
    """gloo-mcp's HTTP app under uvicorn on a loopback port; yields the MCP endpoint URL."""
    settings = settings if settings is not None else sim_settings(sim)
    server = build_server(
        settings, transport=sim_transport(sim), startup_error=startup_error, heartbeat_interval=heartbeat_interval
    )
    app = build_http_app(server, settings, options or HttpOptions(), startup_error=startup_error)
    with running_in_thread(app) as base_url:
        yield f"{base_url}/mcp"


@asynccontextmanager
async def http_client(url: str, token: str | None = None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def events(response: httpx2.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages in an SSE (or JSON) response body."""
    if response.headers["content-type"].startswith("application/json"):
        return [response.json()]
    data = [line.removeprefix("data:") for line in response.text.splitlines() if line.startswith("data:")]
    return [json.loads(item) for item in data if item.strip()]


async def test_http_transport_serves_the_whole_conversation_to_an_mcp_client(sim: SimulatorState) -> None:
    with running_http(sim) as url:
        async with http_client(url) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            first = await client.call_tool("send_message", {"query": "What is rest?"})
            chat_id = first.structured_content["chat_id"]  # type: ignore[index]
            second = await client.call_tool("continue_chat", {"chat_id": chat_id, "query": "And sabbath?"})
            history = await client.call_tool("get_chat_history", {"chat_id": chat_id})
    assert tools == TOOL_NAMES
    assert not first.is_error and not second.is_error and not history.is_error
    assert len(history.structured_content["messages"]) == 4  # type: ignore[index]


async def test_progress_heartbeats_reach_an_http_client_before_the_result(sim: SimulatorState) -> None:
    sim.inject("message", Fault(delay=0.5))
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    with running_http(sim, heartbeat_interval=0.1) as url:
        async with http_client(url) as client:
            result = await client.call_tool("send_message", {"query": "slow"}, progress_callback=on_progress)
    assert not result.is_error and len(seen) >= 3 and seen == sorted(seen)


async def test_any_replica_serves_any_request_without_a_session(sim: SimulatorState) -> None:
    with running_http(sim) as replica_a, running_http(sim) as replica_b:
        async with http_client(replica_a) as client:
            chat_id = (await client.call_tool("send_message", {"query": "hi"})).structured_content["chat_id"]  # type: ignore[index]
        async with httpx2.AsyncClient() as http:
            call = {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {"name": "continue_chat", "arguments": {"chat_id": chat_id, "query": "more"}},
            }
            response = await http.post(replica_b, json=call, headers=LEGACY_HEADERS)
    assert response.status_code == 200 and "mcp-session-id" not in response.headers
    assert response.headers["content-type"].startswith("text/event-stream")  # can carry progress, not JSON-only
    (message,) = [m for m in events(response) if m.get("id") == 7]
    assert message["result"]["structuredContent"]["chat_id"] == chat_id


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "evil.example"}, 421),
        ({"Host": "evil.example:8000"}, 421),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "http://localhost:6274"}, 200),  # the Inspector's own origin on this machine
    ],
)
async def test_foreign_host_or_origin_is_rejected(sim: SimulatorState, headers: dict[str, str], status: int) -> None:
    with running_http(sim) as url:
        async with httpx2.AsyncClient() as http:
            response = await http.post(url, json=TOOLS_LIST, headers={**LEGACY_HEADERS, **headers})
    assert response.status_code == status


async def test_named_hosts_and_origins_can_be_allowed(sim: SimulatorState) -> None:
    options = HttpOptions(allowed_hosts=["mcp.example.com"], allowed_origins=["https://app.example.com"])
    with running_http(sim, options) as url:
        async with httpx2.AsyncClient() as http:
            allowed = await http.post(
                url,
                json=TOOLS_LIST,
                headers={**LEGACY_HEADERS, "Host": "mcp.example.com", "Origin": "https://app.example.com"},
            )
            still_foreign = await http.post(url, json=TOOLS_LIST, headers={**LEGACY_HEADERS, "Host": "evil.example"})
    assert allowed.status_code == 200 and still_foreign.status_code == 421


async def test_dns_rebinding_protection_stays_on_for_a_wildcard_bind(sim: SimulatorState) -> None:
    with running_http(sim, HttpOptions(host="0.0.0.0")) as url:  # socket stays on loopback
        async with httpx2.AsyncClient() as http:
            response = await http.post(url, json=TOOLS_LIST, headers={**LEGACY_HEADERS, "Host": "evil.example"})
    assert response.status_code == 421


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-wrong-token", f"Basic {TOKEN}", "Bearer"])
async def test_with_an_auth_token_requests_without_it_get_401(sim: SimulatorState, authorization: str | None) -> None:
    settings = sim_settings(sim, mcp_auth_token=SecretStr(TOKEN))
    headers = {**LEGACY_HEADERS, **({"Authorization": authorization} if authorization else {})}
    with running_http(sim, settings=settings) as url:
        async with httpx2.AsyncClient() as http:
            response = await http.post(url, json=TOOLS_LIST, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert TOKEN not in response.text and sim.requests.total() == 0


async def test_with_the_auth_token_an_mcp_client_is_served(sim: SimulatorState) -> None:
    settings = sim_settings(sim, mcp_auth_token=SecretStr(TOKEN))
    with running_http(sim, settings=settings) as url:
        async with http_client(url, token=TOKEN) as client:
            result = await client.call_tool("send_message", {"query": "hello"})
    assert not result.is_error


async def test_health_is_open_and_reports_ready(sim: SimulatorState) -> None:
    settings = sim_settings(sim, mcp_auth_token=SecretStr(TOKEN))
    with running_http(sim, settings=settings) as url:
        async with httpx2.AsyncClient() as http:
            response = await http.get(url.removesuffix("/mcp") + "/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


async def test_health_reports_a_replica_that_cannot_serve(sim: SimulatorState) -> None:
    error = ConfigurationError("GLOO_TIMEOUT is invalid: Input should be greater than 0.")
    with running_http(sim, settings=Settings(), startup_error=error) as url:
        async with httpx2.AsyncClient() as http:
            response = await http.get(url.removesuffix("/mcp") + "/health")
    assert response.status_code == 503
    assert response.json() == {"status": "unconfigured", "version": response.json()["version"], "detail": error.message}


async def test_a_cancelled_http_call_aborts_upstream(sim: SimulatorState) -> None:
    sim.inject("message", Fault(delay=30))
    with running_http(sim) as url:
        async with http_client(url) as client:
            with anyio.move_on_after(0.5):
                await client.call_tool("send_message", {"query": "slow"})
            with anyio.fail_after(5):
                while not sim.aborted["message"]:  # noqa: ASYNC110 - set on the server's thread
                    await anyio.sleep(0.05)
    assert sim.aborted["message"] == 1
