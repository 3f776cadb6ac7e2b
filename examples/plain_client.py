"""A plain MCP client script: ask Gloo through gloo-mcp, follow up, read the conversation back.

From the repository root, after ``python3 -m venv .venv && .venv/bin/pip install -e ".[dev]"``
(this one needs only the package itself, ``pip install -e .``; the other example needs the dev extra):

    .venv/bin/python examples/plain_client.py "What helps people recover hope?"

No agent framework: the official MCP SDK's ``Client`` launches gloo-mcp over stdio and
uses the structured results directly (``structuredContent``), the way a program would.
With GLOO_* credentials in the environment it asks Gloo AI; otherwise the local Gloo
simulator, and every answer says so.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

# What the server needs from ours: GLOO_* settings, and where the user's data directory is
# (its conversation store); MCP stdio clients pass a child nothing else.
PASSED_ON = ("HOME", "XDG_DATA_HOME", "LOCALAPPDATA")


async def on_progress(progress: float, total: float | None, message: str | None) -> None:
    print(f"   … {message}", file=sys.stderr)


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments, progress_callback=on_progress)
    if result.is_error:  # one actionable sentence, e.g. which variable to set
        raise SystemExit(f"{tool} failed: {result.content[0].text}")  # type: ignore[union-attr]
    structured: dict[str, Any] | None = result.structured_content
    assert structured is not None
    return structured


async def converse(question: str, env: dict[str, str]) -> None:
    server = StdioServerParameters(command=sys.executable, args=["-m", "gloo_mcp"], env=env)
    async with Client(server) as client:
        reply = await call(client, "send_message", {"query": question, "sources_limit": 3})
        print(f"Q: {question}\nA: {reply['answer']}")
        for number, source in enumerate(reply["sources"], start=1):
            print(f"   [{number}] {source['title']} — {source['url']}")

        follow_up = reply["suggestions"][0]
        more = await call(client, "continue_chat", {"chat_id": reply["chat_id"], "query": follow_up})
        print(f"\nQ: {follow_up}\nA: {more['answer']}")

        history = await call(client, "get_chat_history", {"chat_id": reply["chat_id"]})
        print(f"\nchat {history['chat_id']}: {len(history['messages'])} messages")


def main() -> None:
    question = " ".join(sys.argv[1:]) or "What helps people recover hope after a loss?"
    env = {
        name: value for name, value in os.environ.items() if value and (name.startswith("GLOO_") or name in PASSED_ON)
    }
    if "GLOO_API_KEY" in env or "GLOO_CLIENT_ID" in env:
        anyio.run(converse, question, env)
        return
    from gloo_mcp.simulator import SimulatorState, running_simulator

    sim = SimulatorState()
    # Simulated chats get a throwaway store, so they never join your real conversations.
    with running_simulator(sim) as url, tempfile.TemporaryDirectory(prefix="gloo-mcp-example-") as scratch:
        print(f"(no Gloo credentials set: using the local Gloo simulator at {url}, not Gloo AI)\n")
        store = f"sqlite:///{os.path.join(scratch, 'chats.db')}"
        anyio.run(
            converse, question, {**env, "GLOO_API_KEY": sim.api_key, "GLOO_BASE_URL": url, "GLOO_STORE_URL": store}
        )


if __name__ == "__main__":
    main()
