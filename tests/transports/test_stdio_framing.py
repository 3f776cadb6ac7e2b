"""Stdio framing faults: a real ``gloo-mcp`` subprocess fed lines no host should send.

Each test speaks raw JSON-RPC through pipes, as a handshake-era host does, without
credentials (listing tools needs none). The server must answer every unreadable line it
can, never go quiet, never die, and keep serving the next request.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from gloo_mcp.transports.stdio import _MAX_LINE, _Lines
from tests.conftest import TOOL_NAMES

TIMEOUT = 30.0


class Wire:
    """The host's end of the server's stdin and stdout."""

    def __init__(self, process: Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self._stdin = process.stdin
        self._stdout = BufferedByteReceiveStream(process.stdout)
        self._next_id = 0

    async def send_line(self, line: bytes) -> None:
        await self._stdin.send(line + b"\n")

    async def close(self) -> None:
        await self._stdin.aclose()

    async def receive(self) -> dict[str, Any]:
        """The next message the server writes; every line it writes must be one JSON-RPC message."""
        message: dict[str, Any] = json.loads(await self._stdout.receive_until(b"\n", 1024 * 1024))
        assert message["jsonrpc"] == "2.0"
        return message

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        await self.send_line(
            json.dumps({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}).encode()
        )
        answer = await self.receive()
        assert answer["id"] == self._next_id
        return answer

    async def tool_names(self) -> set[str]:
        return {tool["name"] for tool in (await self.request("tools/list", {}))["result"]["tools"]}


@asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[Wire]:
    """An initialized stdio session with a fresh server; on exit, stdin closes and the server must exit cleanly."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    env["XDG_DATA_HOME"] = os.environ["XDG_DATA_HOME"]  # the test's data directory, not the user's
    stderr_path = tmp_path / "stderr.txt"
    with anyio.fail_after(TIMEOUT), stderr_path.open("wb") as stderr:
        async with await anyio.open_process(
            [sys.executable, "-m", "gloo_mcp"], env=env, cwd=Path(__file__).parent, stderr=stderr
        ) as process:
            wire = Wire(process)
            init = await wire.request(
                "initialize",
                {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
            )
            assert "result" in init
            await wire.send_line(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
            yield wire
            await wire.close()
            assert await process.wait() == 0
    assert "Traceback" not in stderr_path.read_text(errors="replace")


async def test_a_line_over_the_cap_is_answered_with_a_parse_error_and_the_server_keeps_serving(
    tmp_path: Path,
) -> None:
    padding = b"x" * _MAX_LINE
    async with serving(tmp_path) as wire:
        await wire.send_line(b'{"jsonrpc":"2.0","id":99,"method":"tools/list","params":{"pad":"' + padding + b'"}}')
        answer = await wire.receive()
        assert answer["id"] is None
        assert answer["error"]["code"] == -32700
        assert "exceeded 4 MiB and was discarded" in answer["error"]["message"]
        assert await wire.tool_names() == TOOL_NAMES


async def test_a_request_with_a_lone_surrogate_is_answered_with_its_id_and_the_server_keeps_serving(
    tmp_path: Path,
) -> None:
    line = (
        b'{"jsonrpc":"2.0","id":"call-7","method":"tools/call",'
        rb'"params":{"name":"send_message","arguments":{"query":"hi \ud800"}}}'  # a high surrogate, no low one
    )
    async with serving(tmp_path) as wire:
        await wire.send_line(line)
        answer = await wire.receive()
        assert answer["id"] == "call-7"
        assert answer["error"]["code"] == -32600
        assert "unpaired UTF-16 surrogate" in answer["error"]["message"]
        assert await wire.tool_names() == TOOL_NAMES


async def test_invalid_json_is_answered_with_a_parse_error_and_id_null_and_the_server_keeps_serving(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path) as wire:
        await wire.send_line(b'{"jsonrpc":"2.0","id":5,"method":"tools/list",')
        answer = await wire.receive()
        assert (answer["id"], answer["error"]["code"]) == (None, -32700)
        assert answer["error"]["message"].startswith("Parse error: the message is not valid JSON")
        assert await wire.tool_names() == TOOL_NAMES


async def test_each_unreadable_line_gets_one_answer_in_order_and_a_blank_line_gets_none(tmp_path: Path) -> None:
    async with serving(tmp_path) as wire:
        await wire.send_line(b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"q":"\xff"}}')  # not UTF-8
        await wire.send_line(b'{"jsonrpc":"2.0","id":2,"method":5}')  # JSON, not a request
        await wire.send_line(b'{"jsonrpc":"2.0","id":3,"result":"\\udc00"}')  # a response: its id is not ours
        await wire.send_line(b"[" * 100_000)  # nests beyond both parsers
        await wire.send_line(b"   ")
        answers = [await wire.receive() for _ in range(4)]
        assert [(a["id"], a["error"]["code"]) for a in answers] == [
            (None, -32700),
            (2, -32600),
            (None, -32600),
            (None, -32700),
        ]
        assert "not valid UTF-8" in answers[0]["error"]["message"]
        assert await wire.tool_names() == TOOL_NAMES  # the blank line was skipped: this is the next answer


async def test_an_over_long_line_is_drained_without_being_buffered_whole() -> None:
    reader = asyncio.StreamReader(limit=64)
    lines = _Lines(reader)

    async def feed() -> None:
        reader.feed_data(b"short\n" + b"y" * 100)
        for _ in range(50):  # the rest of the long line arrives in pieces, each read before the next
            await anyio.wait_all_tasks_blocked()
            reader.feed_data(b"y" * 100)
            assert len(reader._buffer) <= 2 * 64 + 100  # asyncio's private buffer: what the line costs in memory
        reader.feed_data(b"\nafter\n" + b"z" * 200)  # and the pipe ends inside another long line
        reader.feed_eof()

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(feed)
            received = [line async for line in lines]
    assert received == [b"short\n", None, b"after\n", None]
