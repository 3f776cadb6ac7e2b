"""Every tool's inputSchema and outputSchema, against a checked-in snapshot.

Tool names and their fields are a contract with hosts and agents (design.md): a change
to a schema fails here with a readable diff. If the change is intended, regenerate the
snapshot with ``GLOO_MCP_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest tests/server/test_tool_schemas.py``
and review the diff of ``tool_schemas.json`` like any contract change.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

from mcp import Client

from gloo_mcp.config import Settings
from gloo_mcp.server import build_server

SNAPSHOT = Path(__file__).with_name("tool_schemas.json")


async def _schemas() -> dict[str, dict[str, Any]]:
    async with Client(build_server(Settings())) as client:
        tools = (await client.list_tools()).tools
    return {tool.name: {"inputSchema": tool.input_schema, "outputSchema": tool.output_schema} for tool in tools}


def _text(schemas: object) -> str:
    return json.dumps(schemas, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


async def test_every_tools_input_and_output_schema_matches_the_checked_in_snapshot() -> None:
    actual = _text(await _schemas())
    if os.environ.get("GLOO_MCP_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(actual, encoding="utf-8")
    expected = SNAPSHOT.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True), actual.splitlines(keepends=True), "tool_schemas.json", "the server now"
        )
    )
    assert actual == expected, f"a tool schema changed (a contract); the diff:\n{diff}"


async def test_the_snapshot_names_the_five_tools_and_each_has_both_schemas() -> None:
    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert sorted(snapshot) == ["continue_chat", "get_chat_history", "list_chats", "list_models", "send_message"]
    assert all(entry["inputSchema"] and entry["outputSchema"] for entry in snapshot.values())
