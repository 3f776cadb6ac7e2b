"""The conversation resources, and completion of a ``chat_id`` argument.

The two resource templates reach the process's state through the lifespan context like
the tools. The SDK hands no request context to a static resource (``gloo://chats``) or to
the completion handler, so :func:`register` binds those two to the same
:class:`AppState` the lifespan yields; all of them pass the one gate
(:meth:`AppState.admitted_caller`).
"""

from __future__ import annotations

from functools import partial

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.mcpserver.resources import FunctionResource
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, Completion, CompletionArgument, PromptReference, ResourceTemplateReference

from gloo_mcp.errors import GlooError
from gloo_mcp.models import ChatHistory, ChatList
from gloo_mcp.server.arguments import checked_chat_id, could_be_chat_id
from gloo_mcp.server.render import CHAT_URI_TEMPLATE, history_markdown
from gloo_mcp.server.state import AppState, app_state

__all__ = [
    "CHATS_URI",
    "CHAT_JSON_URI_TEMPLATE",
    "chat_json",
    "chat_transcript",
    "chats_index",
    "complete_argument",
    "register",
]

CHAT_JSON_URI_TEMPLATE = "gloo://chats/{chat_id}/history.json"
CHATS_URI = "gloo://chats"


async def _read_chat(state: AppState, chat_id: str) -> ChatHistory:
    try:
        chat_id = checked_chat_id(chat_id)
        async with state.admitted_caller() as caller:
            return await (await state.backend()).history(chat_id, owner=caller)
    except GlooError as error:
        raise ResourceError(error.message) from None


async def chat_transcript(chat_id: str, ctx: Context) -> str:
    return history_markdown(await _read_chat(app_state(ctx), chat_id))


async def chat_json(chat_id: str, ctx: Context) -> str:
    return (await _read_chat(app_state(ctx), chat_id)).model_dump_json(indent=2)


async def chats_index(state: AppState) -> str:
    try:
        async with state.admitted_caller() as caller:
            chats, next_cursor = await (await state.store()).list_chats(owner=caller, text=None, limit=50, cursor=None)
    except GlooError as error:
        raise ResourceError(error.message) from None
    return ChatList(chats=chats, next_cursor=next_cursor).model_dump_json(indent=2)


async def complete_argument(
    state: AppState, ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument, context: object
) -> Completion | None:
    """Suggest known chat ids for a chat_id argument (resource templates and prompts).

    What was typed so far must itself obey the chat_id rule; anything else cannot
    complete to a chat and is not looked up.
    """
    if argument.name != "chat_id":
        return None
    typed = argument.value.strip()
    if typed and not could_be_chat_id(typed):
        return Completion(values=[], total=0, has_more=False)
    try:
        async with state.admitted_caller() as caller:
            chats, _ = await (await state.store()).list_chats(owner=caller, text=None, limit=200, cursor=None)
    except GlooError as error:  # completions have no error result: a JSON-RPC error carries the sentence
        raise MCPError(INTERNAL_ERROR, error.message) from None
    typed = typed.lower()
    values = [c.chat_id for c in chats if c.chat_id.lower().startswith(typed) or typed in c.title.lower()]
    return Completion(values=values[:100], total=len(values), has_more=len(values) > 100)


def register(server: MCPServer[AppState], state: AppState) -> None:
    """Add the resources and the chat_id completion to ``server``; ``state`` is the one its lifespan yields."""
    server.resource(
        CHAT_URI_TEMPLATE,
        name="gloo-chat",
        title="Gloo conversation",
        description="A Gloo conversation as Markdown, oldest turn first.",
        mime_type="text/markdown",
    )(chat_transcript)
    server.resource(
        CHAT_JSON_URI_TEMPLATE,
        name="gloo-chat-json",
        title="Gloo conversation (JSON)",
        description="A Gloo conversation as JSON: the same ChatHistory that get_chat_history returns.",
        mime_type="application/json",
    )(chat_json)
    server.add_resource(
        FunctionResource.from_function(
            partial(chats_index, state),
            CHATS_URI,
            name="gloo-chats",
            title="Gloo conversations",
            description="The 50 most recently active conversations gloo-mcp started, as JSON (see list_chats).",
            mime_type="application/json",
        )
    )
    server.completion()(partial(complete_argument, state))  # type: ignore[no-untyped-call]  # the SDK's decorator is untyped
