"""The tools: plain async functions at module level that reach the process's state through the lifespan.

Each tool passes the gate every entry point passes (:meth:`AppState.admitted_caller`:
configuration, who is calling, fair use), asks a backend or the store, and answers with
both channels or one sentence (``results.py``). :func:`register` adds them to a server,
in the order hosts list them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from gloo_mcp.chats.paging import decode_history_cursor
from gloo_mcp.errors import GlooError
from gloo_mcp.gloo.routing import Routing
from gloo_mcp.models import ChatHistory, ChatList, ChatReply, MessageOptions, ModelList
from gloo_mcp.server.answer_card import answer_card_tool_meta
from gloo_mcp.server.arguments import (
    DEFAULT_PAGE_SIZE,
    AutoRouting,
    CharacterLimit,
    ChatId,
    Cursor,
    EnableSuggestions,
    FamilyFilter,
    HistoryCursor,
    ModelFamilyInput,
    ModelId,
    PageSize,
    Publishers,
    QueryText,
    SearchText,
    SourcesLimit,
    TraditionInput,
)
from gloo_mcp.server.progress import CallProgress, reporting_progress
from gloo_mcp.server.render import chat_list_markdown, history_markdown, models_markdown, reply_markdown
from gloo_mcp.server.results import defines_resource_links, error_result, success
from gloo_mcp.server.state import AppState, app_state

if TYPE_CHECKING:
    from gloo_mcp.chats.backends import ChatBackend

__all__ = ["continue_chat", "get_chat_history", "list_chats", "list_models", "register", "send_message"]

_SEND = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
_READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
_LOCAL_READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

# SEP-2243: on 2026-07-28 Streamable HTTP a client mirrors chat_id into an ``Mcp-Param-ChatId`` header, so a
# gateway can route a conversation by header; the SDK rejects a call whose header disagrees with the argument
# (400, -32020). Handshake-era clients send no such header and are not asked for one.
RoutedChatId = Annotated[ChatId, Field(json_schema_extra={"x-mcp-header": "ChatId"})]

_Result = TypeVar("_Result", ChatReply, ChatHistory)
_Function = TypeVar("_Function", bound=Callable[..., object])


def _clean_doc(function: _Function) -> _Function:
    """Dedent a docstring that becomes a tool description, so hosts show it without code indentation."""
    function.__doc__ = inspect.cleandoc(function.__doc__ or "")
    return function


def _options(
    character_limit: int | None,
    sources_limit: int | None,
    publishers: list[str] | None,
    enable_suggestions: bool | None,
) -> MessageOptions:
    return MessageOptions(
        character_limit=character_limit,
        sources_limit=sources_limit,
        publishers=None if publishers is None else tuple(publishers),
        enable_suggestions=enable_suggestions,
    )


async def _answer(
    ctx: Context,
    call: Callable[[ChatBackend, str, CallProgress], Awaitable[_Result]],
    render: Callable[[_Result], str],
) -> CallToolResult:
    """Run one Gloo call for a tool: structured result and Markdown, or an ``isError`` sentence.

    Progress notifications stop before the result is built, so none can follow it.
    """
    state = app_state(ctx)
    async with reporting_progress(ctx, state.heartbeat_interval) as progress:
        try:
            async with state.admitted_caller() as caller:
                result = await call(await state.backend(), caller, progress)
        except GlooError as error:
            return error_result(error)
    linked = state.settings.resource_links and defines_resource_links(ctx.protocol_version)
    return success(render(result), result, link_to=result.chat_id if linked else None)


async def _ask(
    ctx: Context, query: str, chat_id: str | None, options: MessageOptions, routing: Routing
) -> CallToolResult:
    async def call(backend: ChatBackend, caller: str, progress: CallProgress) -> ChatReply:
        return await backend.send(
            query, owner=caller, chat_id=chat_id, options=options, routing=routing, on_text=progress.text
        )

    return await _answer(ctx, call, reply_markdown)


@_clean_doc
async def send_message(
    query: QueryText,
    ctx: Context,
    character_limit: CharacterLimit = None,
    sources_limit: SourcesLimit = None,
    publishers: Publishers = None,
    enable_suggestions: EnableSuggestions = None,
    model: ModelId = None,
    model_family: ModelFamilyInput = None,
    auto_routing: AutoRouting = None,
    tradition: TraditionInput = None,
) -> Annotated[CallToolResult, ChatReply]:
    """Start a NEW conversation with Gloo AI and get a grounded answer.

    Returns the answer, numbered sources (title, url, publisher, snippet), suggested
    follow-up questions, and a chat_id. Keep the chat_id: pass it to continue_chat for
    every follow-up in this conversation, so Gloo keeps the context. Each call creates
    a new conversation; it is not idempotent. model, model_family, auto_routing and
    tradition apply when the server runs Completions V2 (see list_models).
    """
    options = _options(character_limit, sources_limit, publishers, enable_suggestions)
    routing = Routing(model=model, model_family=model_family, auto_routing=auto_routing, tradition=tradition)
    return await _ask(ctx, query, None, options, routing)


@_clean_doc
async def continue_chat(
    chat_id: RoutedChatId,
    query: QueryText,
    ctx: Context,
    character_limit: CharacterLimit = None,
    sources_limit: SourcesLimit = None,
    publishers: Publishers = None,
    enable_suggestions: EnableSuggestions = None,
    model: ModelId = None,
    model_family: ModelFamilyInput = None,
    auto_routing: AutoRouting = None,
    tradition: TraditionInput = None,
) -> Annotated[CallToolResult, ChatReply]:
    """Ask a follow-up in an existing Gloo conversation, identified by chat_id.

    Gloo remembers the earlier turns, so send only the new message (a suggested
    follow-up from the previous answer works as is). Returns the same shape as
    send_message. If the chat_id is unknown, find it with list_chats or start over
    with send_message.
    """
    options = _options(character_limit, sources_limit, publishers, enable_suggestions)
    routing = Routing(model=model, model_family=model_family, auto_routing=auto_routing, tradition=tradition)
    return await _ask(ctx, query, chat_id, options, routing)


@_clean_doc
async def get_chat_history(
    chat_id: RoutedChatId, ctx: Context, cursor: HistoryCursor = None
) -> Annotated[CallToolResult, ChatHistory]:
    """Read back a Gloo conversation (read-only): its newest messages that fit one page, oldest first.

    Each assistant turn keeps its sources and suggested follow-ups. has_more says that
    older messages exist: pass next_cursor back as cursor to read them, page by page.
    Use it to recover context, to quote earlier answers, or to check whether a message
    whose send failed was recorded after all (the newest page shows it).
    """
    try:
        before = decode_history_cursor(cursor)
    except GlooError as error:
        return error_result(error)
    return await _answer(
        ctx, lambda backend, caller, _: backend.history(chat_id, owner=caller, before=before), history_markdown
    )


@_clean_doc
async def list_chats(
    ctx: Context,
    query: SearchText = None,
    limit: PageSize = None,
    cursor: Cursor = None,
) -> Annotated[CallToolResult, ChatList]:
    """List the conversations gloo-mcp has started, most recently active first (read-only).

    Use it to find a chat_id again in a later session. query filters by words in the
    title (the first question) or an exact chat_id; pass next_cursor back as cursor for
    the next page.
    """
    state = app_state(ctx)
    try:
        async with state.admitted_caller() as caller:
            chats, next_cursor = await (await state.store()).list_chats(
                owner=caller, text=query, limit=limit or DEFAULT_PAGE_SIZE, cursor=cursor
            )
    except GlooError as error:
        return error_result(error)
    page = ChatList(chats=chats, next_cursor=next_cursor)
    return success(chat_list_markdown(page), page)


@_clean_doc
async def list_models(ctx: Context, family: FamilyFilter = None) -> Annotated[CallToolResult, ModelList]:
    """List the models Gloo's Completions V2 can route to (read-only, cached for 5 minutes).

    Pass a model's id as model, or its family as model_family, to send_message or
    continue_chat when the server runs Completions V2.
    """
    state = app_state(ctx)
    try:
        async with state.admitted_caller():  # a per-user server answers only callers it can name
            models = await state.models()
    except GlooError as error:
        return error_result(error)
    if family:
        models = [m for m in models if (m.family or "").lower() == family.lower()]
    listing = ModelList(models=models)
    return success(models_markdown(listing), listing)


def register(server: MCPServer[AppState]) -> None:
    """Add the tools to ``server``, with their titles, annotations and the answer card's ``_meta``."""
    tools: list[tuple[Callable[..., Any], str, ToolAnnotations, bool]] = [
        (send_message, "Ask Gloo (new conversation)", _SEND, True),
        (continue_chat, "Continue a Gloo conversation", _SEND, True),
        (get_chat_history, "Read a Gloo conversation", _READ, True),
        (list_chats, "List Gloo conversations", _LOCAL_READ, False),
        (list_models, "List Gloo models", _READ, False),
    ]
    for function, title, hints, card in tools:
        server.add_tool(function, title=title, annotations=hints, meta=answer_card_tool_meta() if card else None)
