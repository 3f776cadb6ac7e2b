"""A minimal stdio MCP client speaking raw JSON-RPC lines, as a host written in another language does.

The SDK's Python client validates and re-parses every result (its own ~1 to 2 ms); this one
writes a line and hands each answer line to the request with its id, so what it times is
the server. Requests may be in flight concurrently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Self

import anyio
from anyio.abc import Process, TaskGroup

__all__ = ["RawStdioSession"]


class RawStdioSession:
    def __init__(self, command: Sequence[str], env: Mapping[str, str] | None = None, *, exit_wait: float = 5) -> None:
        self._command = list(command)
        self._exit_wait = exit_wait  # seconds to wait for the server to exit once stdin closes, then kill it
        self._env = dict(env) if env is not None else None
        self._process: Process | None = None
        self._group: TaskGroup | None = None
        self._waiting: dict[int, tuple[anyio.Event, list[dict[str, Any]]]] = {}
        self._next_id = 0

    async def __aenter__(self) -> Self:
        self._process = await anyio.open_process(self._command, env=self._env, stderr=None)
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._read_answers)
        await self.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
        )
        await self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._process is not None and self._process.stdin is not None and self._group is not None
        await self._process.stdin.aclose()
        with anyio.move_on_after(self._exit_wait):
            await self._process.wait()
        if self._process.returncode is None:
            self._process.kill()
        self._group.cancel_scope.cancel()
        await self._group.__aexit__(None, None, None)
        await self._process.aclose()

    @property
    def pid(self) -> int:
        """The server process's id (to read its CPU time)."""
        assert self._process is not None
        return self._process.pid

    async def call_tool(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("tools/call", {"name": name, "arguments": dict(arguments)})

    async def request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        request_id = self._next_id
        arrived, answer = anyio.Event(), []
        self._waiting[request_id] = (arrived, answer)
        await self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": dict(params)})
        await arrived.wait()
        message = answer[0]
        if "error" in message:
            raise RuntimeError(f"{method} failed: {message['error']}")
        result: dict[str, Any] = message["result"]
        return result

    async def _send(self, message: Mapping[str, Any]) -> None:
        assert self._process is not None and self._process.stdin is not None
        await self._process.stdin.send(json.dumps(message).encode() + b"\n")

    async def _read_answers(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        buffer = b""
        async for chunk in self._process.stdout:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                message = json.loads(line)
                waiter = self._waiting.pop(message.get("id"), None)  # notifications have no id
                if waiter is not None:
                    waiter[1].append(message)
                    waiter[0].set()
