"""A host that probes ``server/discover`` and then falls back to ``initialize`` on the same pipe.

@ai-sdk/mcp 2.x over stdio waits 1 s for the 2026-07-28 ``server/discover`` answer; when it
is late, it sends the ``initialize`` handshake instead, on the same stdin. The SDK's dual-era
loop locks a connection to the era of its first request and refuses that ``initialize``;
gloo-mcp's stdio transport accepts it and serves the rest of the pipe in the handshake era.
A real ``gloo-mcp`` subprocess, raw JSON-RPC, no credentials (listing tools needs none).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY

from tests.conftest import TOOL_NAMES
from tests.transports.test_stdio_framing import Wire

TIMEOUT = 30.0
CLIENT = {"name": "ai-sdk-like", "version": "2"}
ENVELOPE = {
    PROTOCOL_VERSION_META_KEY: "2026-07-28",
    CLIENT_INFO_META_KEY: CLIENT,
    CLIENT_CAPABILITIES_META_KEY: {},
}
INITIALIZE = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": CLIENT}


def line(request_id: int | None, method: str, params: dict[str, Any] | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if request_id is not None:
        message["id"] = request_id
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode()


async def answers(wire: Wire, count: int) -> dict[Any, dict[str, Any]]:
    """The next ``count`` answers, by id (their order is the server's business)."""
    received = [await wire.receive() for _ in range(count)]
    return {answer["id"]: answer for answer in received}


@asynccontextmanager
async def raw_server(tmp_path: Path) -> AsyncIterator[Wire]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    env["XDG_DATA_HOME"] = os.environ["XDG_DATA_HOME"]
    stderr_path = tmp_path / "stderr.txt"
    with anyio.fail_after(TIMEOUT), stderr_path.open("wb") as stderr:
        async with await anyio.open_process(
            [sys.executable, "-m", "gloo_mcp"], env=env, cwd=Path(__file__).parent, stderr=stderr
        ) as process:
            wire = Wire(process)
            yield wire
            await wire.close()
            assert await process.wait() == 0
    assert "Traceback" not in stderr_path.read_text(errors="replace")


async def handshake_then_list(wire: Wire, init_id: int) -> None:
    """After the initialize answer: the handshake era serves the rest of the pipe."""
    await wire.send_line(line(None, "notifications/initialized"))
    await wire.send_line(line(init_id + 1, "tools/list", {}))
    listed = await wire.receive()
    assert listed["id"] == init_id + 1, listed
    assert {tool["name"] for tool in listed["result"]["tools"]} == TOOL_NAMES


async def test_initialize_after_an_answered_discover_is_accepted(tmp_path: Path) -> None:
    async with raw_server(tmp_path) as wire:
        await wire.send_line(line(0, "server/discover", {"_meta": ENVELOPE}))
        discovered = await wire.receive()
        assert "2026-07-28" in discovered["result"]["supportedVersions"]
        await wire.send_line(line(1, "initialize", INITIALIZE))  # the host gave up waiting before that answer came
        init = await wire.receive()
        assert init["id"] == 1 and "error" not in init, init
        assert init["result"]["protocolVersion"] == "2025-11-25"
        await handshake_then_list(wire, 1)


async def test_initialize_sent_while_discover_is_still_unanswered_is_accepted(tmp_path: Path) -> None:
    async with raw_server(tmp_path) as wire:
        await wire.send_line(line(0, "server/discover", {"_meta": ENVELOPE}))
        await wire.send_line(line(1, "initialize", INITIALIZE))
        both = await answers(wire, 2)
        assert "result" in both[0] and "result" in both[1], both
        assert both[1]["result"]["protocolVersion"] == "2025-11-25"
        await handshake_then_list(wire, 1)


async def test_a_2026_07_28_session_keeps_serving_after_discover(tmp_path: Path) -> None:
    async with raw_server(tmp_path) as wire:
        await wire.send_line(line(0, "server/discover", {"_meta": ENVELOPE}))
        await wire.receive()
        await wire.send_line(line(1, "tools/list", {"_meta": ENVELOPE}))
        listed = await wire.receive()
        assert {tool["name"] for tool in listed["result"]["tools"]} == TOOL_NAMES
