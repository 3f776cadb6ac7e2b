"""``gloo-mcp demo``: the seed flow through a real MCP session to a real ``gloo-mcp`` subprocess.

Ask a question, continue with Gloo's first suggested follow-up, read the conversation
back. Against Gloo when credentials are configured; otherwise against the local
simulator, started here, and the output says so: then the server gets a temporary
conversation store (``GLOO_STORE_URL``), so simulated chats never join the user's own.
"""

from __future__ import annotations

import os
import sys
import tempfile
import textwrap
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult, TextContent

from gloo_mcp.config import load_settings
from gloo_mcp.errors import ConfigurationError

__all__ = ["SEED_QUESTION", "run_demo"]

SEED_QUESTION = "How can I find meaning and purpose when facing life's greatest challenges?"
_PASS_THROUGH = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "XDG_DATA_HOME",  # where the default conversation store lives
    "LOCALAPPDATA",
)
_WIDTH = 88


class DemoFailed(Exception):
    """A tool call in the demo returned an error result."""


def _say(text: str = "") -> None:
    print(text, flush=True)


def _wrap(text: str, indent: str = "  ") -> str:
    return "\n".join(
        textwrap.fill(p, _WIDTH, initial_indent=indent, subsequent_indent=indent)
        for p in text.splitlines()
        if p.strip()
    )


def _structured(result: CallToolResult, tool: str) -> dict[str, Any]:
    if result.is_error or result.structured_content is None:
        text = next((c.text for c in result.content if isinstance(c, TextContent)), "no details")
        raise DemoFailed(f"{tool} failed: {text}")
    return dict(result.structured_content)


def _show_reply(reply: dict[str, Any]) -> None:
    _say(_wrap(reply["answer"]))
    if reply["sources"]:
        _say("\n  Sources:")
        for number, source in enumerate(reply["sources"], start=1):
            title = source.get("title") or source.get("url") or "Untitled"
            publisher = f" — {source['publisher']}" if source.get("publisher") else ""
            _say(f"   [{number}] {title}{publisher}")
            if source.get("url"):
                _say(f"       {source['url']}")
    if reply["suggestions"]:
        _say("\n  Suggested follow-ups:")
        for suggestion in reply["suggestions"]:
            _say(f"   • {suggestion}")
    _say(f"\n  chat_id: {reply['chat_id']}")


async def _flow(params: StdioServerParameters) -> str | None:
    """Run the three steps; returns why a tool call failed, or None."""
    async with Client(params) as client:
        try:
            await _steps(client)
        except DemoFailed as failure:
            return str(failure)
    return None


async def _steps(client: Client) -> None:
    tools = sorted(t.name for t in (await client.list_tools()).tools)
    _say(f"Connected to gloo-mcp over stdio; tools: {', '.join(tools)}\n")

    _say(f"① send_message: {SEED_QUESTION}\n")
    first = _structured(await client.call_tool("send_message", {"query": SEED_QUESTION}), "send_message")
    _show_reply(first)

    if first["suggestions"]:
        follow_up = first["suggestions"][0]
        _say(f"\n② continue_chat with Gloo's first suggested follow-up: {follow_up}\n")
    else:  # suggestions are optional (GLOO_ENABLE_SUGGESTIONS=false, or none came back): say so, never pretend
        follow_up = "Can you say more about that?"
        _say(f"\n② continue_chat (Gloo suggested no follow-ups, so the demo asks its own): {follow_up}\n")
    second = _structured(
        await client.call_tool("continue_chat", {"chat_id": first["chat_id"], "query": follow_up}), "continue_chat"
    )
    _show_reply(second)

    _say("\n③ get_chat_history\n")
    history = _structured(await client.call_tool("get_chat_history", {"chat_id": first["chat_id"]}), "get_chat_history")
    _say(f"  {history.get('title') or 'Conversation'} ({len(history['messages'])} messages)")
    for message in history["messages"]:
        who = "You " if message["role"] == "user" else "Gloo"
        _say(f"\n  {who} · {message.get('timestamp') or ''}")
        _say(_wrap(message["content"], "    "))
        if message.get("sources"):
            _say(f"    ({len(message['sources'])} sources, {len(message.get('suggestions') or [])} follow-ups)")


def run_demo() -> int:
    """Run the demo; returns the process exit code."""
    try:
        settings = load_settings()
    except ConfigurationError as error:
        print(f"gloo-mcp demo: {error}", file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if k.startswith("GLOO_") or k in _PASS_THROUGH}
    with ExitStack() as stack:
        if settings.has_credentials:
            _say(f"Using Gloo AI at {settings.base_url} ({settings.auth_mode.replace('_', ' ')}).\n")
        else:
            from gloo_mcp.simulator import SimulatorState, running_simulator

            sim = SimulatorState()
            url = stack.enter_context(running_simulator(sim))
            _say("No Gloo credentials are set (GLOO_API_KEY, or GLOO_CLIENT_ID + GLOO_CLIENT_SECRET), so this demo")
            _say(f"runs OFFLINE against the local Gloo simulator at {url}. Its answers are simulated, not Gloo AI,")
            _say("and its conversations go to a temporary store that is deleted afterwards, never to yours.\n")
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="gloo-mcp-demo-"))
            env |= {
                "GLOO_STORE_URL": f"sqlite:///{Path(scratch) / 'chats.db'}",
                "GLOO_BASE_URL": url,
                "GLOO_CLIENT_ID": sim.client_id,
                "GLOO_CLIENT_SECRET": sim.client_secret,
            }
            env.pop("GLOO_API_KEY", None)
        params = StdioServerParameters(command=sys.executable, args=["-m", "gloo_mcp"], env=env)
        try:
            failure = anyio.run(_flow, params)
        except Exception as error:  # the session itself failed: say what, not a traceback
            print(f"\ngloo-mcp demo: could not run the MCP session ({type(error).__name__}: {error})", file=sys.stderr)
            return 1
        if failure is not None:
            print(f"\ngloo-mcp demo: {failure}", file=sys.stderr)
            return 1
    _say("\nDemo complete.")
    return 0
