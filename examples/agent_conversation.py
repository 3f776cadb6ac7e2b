"""A pydantic-ai agent holds a multi-turn conversation with Gloo AI through gloo-mcp over MCP.

From the repository root, after ``python3 -m venv .venv && .venv/bin/pip install -e ".[dev]"``
(the dev extra brings pydantic-ai):

    .venv/bin/python examples/agent_conversation.py                        # offline: simulator + scripted model
    .venv/bin/pip install -q "pydantic-ai-slim[openai]"                    # once, for an OpenAI model
    .venv/bin/python examples/agent_conversation.py --model openai:gpt-5   # a real LLM (set its API key first)

A real model needs pydantic-ai's extra for its provider (``openai`` for ``--model openai:…``,
``anthropic`` for ``anthropic:…``); without it the example says which to install.

The agent talks to gloo-mcp the way any host does: it launches ``gloo-mcp`` over stdio
and sees the three tools and the server's instructions. With GLOO_* credentials in the
environment gloo-mcp asks Gloo AI; without them it asks the local Gloo simulator, and
every answer says so. Offline, a small scripted model stands in for the LLM so the run
is deterministic: it asks, follows up on Gloo's first suggestion, and cites sources.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastmcp.client.transports import StdioTransport
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models import Model, infer_model
from pydantic_ai.models.function import AgentInfo, FunctionModel

QUESTION = "How can I build a habit of gratitude with my family?"
FOLLOW_UP = "Follow up on that: ask Gloo the first question it suggested."
# What the server needs from ours: GLOO_* settings, and where the user's data directory is
# (its conversation store); MCP stdio clients pass a child nothing else.
PASSED_ON = ("HOME", "XDG_DATA_HOME", "LOCALAPPDATA")


@dataclass
class Reply:
    """What the scripted model reads in a gloo-mcp tool result: its structured ChatReply."""

    data: dict[str, Any]

    @property
    def chat_id(self) -> str:
        return str(self.data["chat_id"])

    @property
    def suggestions(self) -> list[str]:
        return [str(s) for s in self.data["suggestions"]]

    @property
    def sources(self) -> list[tuple[str, str]]:
        return [(str(s.get("title")), str(s.get("url"))) for s in self.data["sources"]]

    @property
    def answer(self) -> str:
        return str(self.data["answer"])


def _replies(messages: list[ModelMessage]) -> list[Reply]:
    """Every reply gloo-mcp has given in this conversation, oldest first.

    gloo-mcp's results carry only a text block (no resource_link by default), so pydantic-ai
    hands the model their structuredContent: the ChatReply itself.
    """
    replies = []
    for message in messages:
        for part in message.parts if isinstance(message, ModelRequest) else []:
            content: object = part.content if isinstance(part, ToolReturnPart) else None
            if isinstance(content, dict) and "chat_id" in content:
                replies.append(Reply(content))
    return replies


def scripted_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """What a good LLM does with gloo-mcp, as a deterministic script.

    New question and no conversation yet: send_message. A follow-up: continue_chat with
    the kept chat_id and Gloo's first suggestion. After a tool result: answer from it,
    citing its sources by number.
    """
    latest = messages[-1]
    assert isinstance(latest, ModelRequest)
    replies = _replies(messages)
    if isinstance(latest.parts[-1], ToolReturnPart):
        reply = replies[-1]
        sources = "\n".join(f"  [{i}] {title} <{url}>" for i, (title, url) in enumerate(reply.sources, 1))
        return ModelResponse(
            parts=[TextPart(f"{reply.answer[:240]}…\nSources:\n{sources}\n(Gloo chat {reply.chat_id})")]
        )
    prompt = str(latest.parts[-1].content)  # type: ignore[union-attr]
    if not replies:
        return ModelResponse(parts=[ToolCallPart("send_message", {"query": prompt})])
    last = replies[-1]
    query = last.suggestions[0] if last.suggestions else prompt
    return ModelResponse(parts=[ToolCallPart("continue_chat", {"chat_id": last.chat_id, "query": query})])


@contextmanager
def gloo_environment() -> Iterator[dict[str, str]]:
    """The variables gloo-mcp needs: yours if set, else a local simulator's."""
    env = {
        name: value for name, value in os.environ.items() if value and (name.startswith("GLOO_") or name in PASSED_ON)
    }
    if "GLOO_API_KEY" in env or "GLOO_CLIENT_ID" in env:
        yield env
        return
    from gloo_mcp.simulator import SimulatorState, running_simulator

    sim = SimulatorState()
    # Simulated chats get a throwaway store, so they never join your real conversations.
    with running_simulator(sim) as url, tempfile.TemporaryDirectory(prefix="gloo-mcp-example-") as scratch:
        print(f"(no Gloo credentials set: using the local Gloo simulator at {url}, not Gloo AI)\n")
        store = f"sqlite:///{os.path.join(scratch, 'chats.db')}"
        yield {**env, "GLOO_API_KEY": sim.api_key, "GLOO_BASE_URL": url, "GLOO_STORE_URL": store}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", help="a pydantic-ai model name, e.g. openai:gpt-5 (default: the scripted model)")
    args = parser.parse_args(argv)
    model: Model | str = FunctionModel(scripted_model)
    if args.model:
        try:
            model = infer_model(args.model)  # before anything starts: a missing provider package is one sentence
        except ImportError:
            provider = args.model.partition(":")[0]
            install = f'pip install "pydantic-ai-slim[{provider}]"'
            print(f"--model {args.model} needs pydantic-ai's {provider} extra: {install}", file=sys.stderr)
            return 2

    with gloo_environment() as env:
        gloo = MCPToolset(
            StdioTransport(command=sys.executable, args=["-m", "gloo_mcp"], env=env),
            include_instructions=True,  # gloo-mcp's instructions teach the model to keep chat_id
        )
        agent = Agent(model, toolsets=[gloo], instructions="Answer with Gloo AI's help and cite its sources.")
        history: list[ModelMessage] = []
        for turn, prompt in enumerate([QUESTION, FOLLOW_UP], start=1):
            result = agent.run_sync(prompt, message_history=history)
            history = result.all_messages()
            calls = [p.tool_name for m in result.new_messages() if isinstance(m, ModelResponse) for p in m.tool_calls]
            print(f"── turn {turn} ─ you: {prompt}\n   agent used: {', '.join(calls) or 'no tool'}\n{result.output}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
