"""A raw 2026-07-28 JSON-RPC client for gloo-mcp's HTTP app, as a Tasks client written in another language speaks it.

Each request carries the stateless envelope (``_meta`` protocol version, client info and
capabilities, with or without the Tasks extension) and the SEP-2243 routing headers
(``Mcp-Method``; ``Mcp-Name`` = the tool name or the taskId; ``Mcp-Param-ChatId`` = a call's
chat_id). In process through ``httpx2.ASGITransport`` (:func:`in_process_app`), or over a socket.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
from mcp.server import MCPServer
from mcp.shared.inbound import encode_header_value

from gloo_mcp.config import Settings
from gloo_mcp.server.state import AppState
from gloo_mcp.transports.http_app import HttpOptions, build_http_app

__all__ = ["PROTOCOL", "TASKS", "RawMcp", "in_process_app"]

PROTOCOL = "2026-07-28"
TASKS = "io.modelcontextprotocol/tasks"
TERMINAL = ("completed", "failed", "cancelled")


class RawMcp:
    def __init__(self, http: httpx2.AsyncClient, path: str = "/mcp") -> None:
        self._http = http
        self._path = path
        self._next_id = 0

    async def message(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        declare: bool = True,
        headers: Mapping[str, str] | None = None,
        protocol: str = PROTOCOL,
    ) -> dict[str, Any]:
        """The JSON-RPC response message (with ``result`` or ``error``)."""
        self._next_id += 1
        body_params = dict(params or {})
        sent_headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        sent_headers["MCP-Protocol-Version"] = protocol
        if protocol == PROTOCOL:
            capabilities: dict[str, Any] = {"extensions": {TASKS: {}}} if declare else {}
            body_params["_meta"] = {
                "io.modelcontextprotocol/protocolVersion": protocol,
                "io.modelcontextprotocol/clientInfo": {"name": "tasks-test", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": capabilities,
                **body_params.get("_meta", {}),
            }
            sent_headers["Mcp-Method"] = method
            name = body_params.get("name") if method == "tools/call" else body_params.get("taskId")
            if name is not None:
                sent_headers["Mcp-Name"] = str(name)
            arguments = body_params.get("arguments") if method == "tools/call" else None
            if isinstance(arguments, Mapping) and arguments.get("chat_id") is not None:
                # continue_chat and get_chat_history declare chat_id as x-mcp-header "ChatId" (server/tools.py)
                sent_headers["Mcp-Param-ChatId"] = encode_header_value(str(arguments["chat_id"]))
        sent_headers.update(headers or {})
        request = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": body_params}
        response = await self._http.post(self._path, json=request, headers=sent_headers)
        for message in _messages(response):
            if message.get("id") == self._next_id:
                return message
        raise AssertionError(f"no response to {method}: HTTP {response.status_code} {response.text[:300]}")

    async def result(self, method: str, params: Mapping[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        message = await self.message(method, params, **options)
        assert "result" in message, message
        result: dict[str, Any] = message["result"]
        return result

    async def error(self, method: str, params: Mapping[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        message = await self.message(method, params, **options)
        assert "error" in message, message
        error: dict[str, Any] = message["error"]
        return error

    async def call(self, tool: str, arguments: Mapping[str, Any], **options: Any) -> dict[str, Any]:
        return await self.result("tools/call", {"name": tool, "arguments": dict(arguments)}, **options)

    async def get(self, task_id: str) -> dict[str, Any]:
        return await self.result("tasks/get", {"taskId": task_id})

    async def settle(self, task_id: str, *, within: float = 10.0) -> dict[str, Any]:
        """Poll tasks/get (every 20 ms, not the suggested interval) until the task is terminal."""
        return await self.wait_for(task_id, lambda task: task["status"] in TERMINAL, within=within)

    async def wait_for(
        self, task_id: str, done: Callable[[dict[str, Any]], bool], *, within: float = 10.0
    ) -> dict[str, Any]:
        """Poll tasks/get until ``done`` holds for the task (failing after ``within`` seconds)."""
        with anyio.fail_after(within):
            while not done(task := await self.get(task_id)):  # noqa: ASYNC110 - polling is the protocol
                await anyio.sleep(0.02)
            return task


def _messages(response: httpx2.Response) -> list[dict[str, Any]]:
    if response.headers.get("content-type", "").startswith("application/json"):
        return [response.json()]
    data = [line.removeprefix("data:") for line in response.text.splitlines() if line.startswith("data:")]
    return [json.loads(item) for item in data if item.strip()]


@asynccontextmanager
async def in_process_app(server: MCPServer[AppState], settings: Settings) -> AsyncIterator[RawMcp]:
    """The HTTP app in process: its lifespan entered (the Tasks' task group), requests through ASGITransport."""
    app = build_http_app(server, settings, HttpOptions())
    async with (
        server.session_manager.run(),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http,
    ):
        yield RawMcp(http)
