"""A host built on the Python SDK 1.x, for tests/test_old_clients.py: never imported by the suite.

The test runs it with the interpreter of a throwaway venv holding an old ``mcp``, as
``python old_client_flow.py '<json config>'``. It spawns the server over stdio, lists the
tools, asks with send_message, follows up with continue_chat on the chat_id read from the
text (what an old host shows its model: 1.x before 1.10 knows no ``structuredContent``),
and writes one JSON summary to stdout. A result the old SDK refuses to validate is recorded
as ``rejected``, since that is the finding, not a crash.
"""

from __future__ import annotations

import json
import re
import sys
from importlib.metadata import version
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

CHAT_ID = re.compile(r"chat_id: `([^`]+)`")


def _summarise(result: Any) -> dict[str, Any]:
    text = "\n".join(block.text for block in result.content if block.type == "text")
    found = CHAT_ID.search(text)
    return {
        "is_error": result.isError,
        "types": [block.type for block in result.content],
        "chat_id": found.group(1) if found else None,
        "text": text,
    }


async def _call(session: ClientSession, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    try:
        return _summarise(await session.call_tool(name, arguments))
    except Exception as error:  # the old SDK's own validation of the result, reported as found
        return {"rejected": f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"}


async def run(config: dict[str, Any]) -> dict[str, Any]:
    command, *args = config["command"]
    params = StdioServerParameters(command=command, args=args, env=config["env"], cwd=config["cwd"])
    summary: dict[str, Any] = {"mcp_version": version("mcp")}
    with anyio.fail_after(config["timeout"]):
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            summary["protocol_version"] = (await session.initialize()).protocolVersion
            summary["tools"] = sorted(tool.name for tool in (await session.list_tools()).tools)
            first = summary["send_message"] = await _call(session, "send_message", {"query": config["query"]})
            if first.get("chat_id"):
                follow_up = {"chat_id": first["chat_id"], "query": config["follow_up"]}
                summary["continue_chat"] = await _call(session, "continue_chat", follow_up)
    return summary


if __name__ == "__main__":
    sys.stdout.write(json.dumps(anyio.run(run, json.loads(sys.argv[1]))) + "\n")
