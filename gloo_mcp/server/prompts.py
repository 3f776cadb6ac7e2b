"""The prompts: plain async functions at module level that reach the process's state through the lifespan.

A prompt's failures are JSON-RPC errors carrying the sentence (a prompt has no error
result; its other exceptions reach the host as "Error rendering prompt").
"""

from __future__ import annotations

from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS
from pydantic import Field

from gloo_mcp.errors import ChatNotFoundError, GlooError, InvalidRequestError
from gloo_mcp.server.arguments import MAX_PUBLISHERS_TEXT, MAX_QUERY_LENGTH, checked_chat_id
from gloo_mcp.server.render import history_markdown
from gloo_mcp.server.state import AppState, app_state

__all__ = ["ask_gloo", "register", "summarize_gloo_chat"]


async def _check_caller(state: AppState) -> None:
    """The gate every entry point passes (configuration, caller, fair use), as a prompt reports it."""
    try:
        async with state.admitted_caller():
            pass
    except GlooError as error:
        raise MCPError(INTERNAL_ERROR, error.message) from None


async def ask_gloo(
    question: Annotated[str, Field(description="What to ask Gloo, in plain language.")],
    ctx: Context,
    publishers: Annotated[
        str, Field(description="Optional: comma-separated publisher names to draw sources from.")
    ] = "",
) -> str:
    """Ask Gloo AI a question and get a cited answer with follow-up suggestions."""
    await _check_caller(app_state(ctx))
    question = question.strip()
    if not 1 <= len(question) <= MAX_QUERY_LENGTH:
        raise MCPError(INVALID_PARAMS, f"question must be 1 to {MAX_QUERY_LENGTH:,} characters.")
    if len(publishers) > MAX_PUBLISHERS_TEXT:
        raise MCPError(INVALID_PARAMS, f"publishers must be at most {MAX_PUBLISHERS_TEXT:,} characters.")
    wanted = [name.strip() for name in publishers.split(",") if name.strip()]
    scope = f" Pass publishers={wanted!r} so the sources come from them." if wanted else ""
    return (
        f"Ask Gloo AI the question below with the send_message tool.{scope} Answer me from Gloo's reply: "
        "cite its sources by number with their links, never invent a URL, and offer its suggested follow-up "
        "questions. Keep the chat_id so we can continue the conversation with continue_chat.\n\n"
        f"Question: {question}"
    )


async def summarize_gloo_chat(
    chat_id: Annotated[str, Field(description="The chat_id of the conversation to summarize.")],
    ctx: Context,
) -> str:
    """Summarize an earlier Gloo conversation, with its transcript attached."""
    state = app_state(ctx)
    try:
        chat_id = checked_chat_id(chat_id)
        async with state.admitted_caller() as caller:
            history = await (await state.backend()).history(chat_id, owner=caller)
    except GlooError as error:  # a prompt's other exceptions reach the host as "Error rendering prompt"
        code = INVALID_PARAMS if isinstance(error, ChatNotFoundError | InvalidRequestError) else INTERNAL_ERROR
        raise MCPError(code, error.message) from None
    return (
        "Summarize this conversation with Gloo AI: the questions asked, the key points of each answer with "
        "their numbered sources, and the open follow-ups. To ask more, use continue_chat with its chat_id.\n\n"
        f"{history_markdown(history)}"
    )


def register(server: MCPServer[AppState]) -> None:
    """Add the prompts to ``server``."""
    server.prompt(name="ask_gloo", title="Ask Gloo AI")(ask_gloo)
    server.prompt(name="summarize_gloo_chat", title="Summarize a Gloo conversation")(summarize_gloo_chat)
