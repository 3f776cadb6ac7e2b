"""The MCP face of gloo-mcp: three tools, a conversation resource, and their product copy.

Tools receive the process's one :class:`~gloo_mcp.client.GlooClient` through the
lifespan. Expected failures are :class:`~gloo_mcp.errors.GlooError`s and become
``isError`` results carrying the error's sentence (the SDK would hide their text if
they escaped), with no ``structuredContent``.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, TypeVar

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult, ResourceLink, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, StringConstraints

from gloo_mcp import __version__
from gloo_mcp.config import CHARACTER_LIMIT_RANGE, SOURCES_LIMIT_RANGE, Settings
from gloo_mcp.errors import ChatNotFoundError, GlooError, InvalidRequestError
from gloo_mcp.models import ChatHistory, ChatReply, MessageOptions
from gloo_mcp.render import history_markdown, reply_markdown
from gloo_mcp.retry import RetryPolicy

if TYPE_CHECKING:  # the HTTP stack loads on the first call, not at start-up (hosts spawn servers often)
    import httpx2

    from gloo_mcp.client import GlooClient

__all__ = ["DEFAULT_HEARTBEAT_INTERVAL", "INSTRUCTIONS", "build_server"]

logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
Gloo AI answers questions about faith, values, flourishing and everyday life with grounded, \
cited answers. Use these tools to hold a multi-turn conversation with it:

1. send_message starts a NEW conversation and returns an answer, numbered sources, suggested \
follow-up questions, and a chat_id.
2. Keep that chat_id. For every follow-up in the same conversation call continue_chat with it; \
Gloo remembers the earlier turns, so do not repeat them. A suggested follow-up can be sent as is.
3. get_chat_history reads a whole conversation back (read-only), e.g. after losing context.

Cite Gloo's sources by their numbers and links; never invent URLs. If a chat_id is unknown \
or expired, start a new conversation with send_message. If a send fails with "may or may not \
have been recorded", check get_chat_history before sending again."""

QueryText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000),
    Field(description="The question or message for Gloo, in plain language (1 to 10,000 characters)."),
]
ChatId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$"),
    Field(description="The chat_id returned by send_message (or an earlier continue_chat)."),
]
CharacterLimit = Annotated[
    int | None,
    Field(
        ge=CHARACTER_LIMIT_RANGE[0],
        le=CHARACTER_LIMIT_RANGE[1],
        description="Longest answer, in characters. Omit for the server default (GLOO_CHARACTER_LIMIT).",
    ),
]
SourcesLimit = Annotated[
    int | None,
    Field(
        ge=SOURCES_LIMIT_RANGE[0],
        le=SOURCES_LIMIT_RANGE[1],
        description="Most sources to cite; 0 for none. Omit for the server default (GLOO_SOURCES_LIMIT).",
    ),
]
Publishers = Annotated[
    list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] | None,
    Field(
        max_length=50,
        description="Only draw sources from these publishers (by name). Omit for the server default; [] for any.",
    ),
]
EnableSuggestions = Annotated[
    bool | None,
    Field(description="Whether Gloo should suggest follow-up questions. Omit for the server default."),
]

DEFAULT_HEARTBEAT_INTERVAL = 5.0
"""Seconds between progress notifications while Gloo is answering: well inside the
silence after which hosts give up on a call."""

WARM_UP_DELAY = 0.5
"""Seconds after start-up before the HTTP client is built in the background."""

_SEND = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
_READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)


class AppState:
    """What the lifespan gives every tool call: the one GlooClient, or why there is none.

    The client (and with it httpx2's transport and the TLS trust store, ~60 ms) is not
    built at start-up, so a host gets its tools list as fast as from a bare MCP server.
    :meth:`warm_up` builds it once the start-up exchange is over; a call that comes
    first builds it itself.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        startup_error: GlooError | None = None,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._retry = retry
        self.startup_error = startup_error
        self._client: GlooClient | None = None

    def ready_client(self) -> GlooClient:
        """The client, or the configuration error that every call must report instead."""
        if self.startup_error is not None:
            raise self.startup_error
        if self._client is None:  # no await between the check and the assignment: one client, ever
            from gloo_mcp.client import GlooClient

            self._client = GlooClient.open(self._settings, self._transport, retry=self._retry)
        return self._client

    async def warm_up(self, delay: float) -> None:
        """After ``delay`` s (hosts list tools right after spawning), build the client while idle."""
        await anyio.sleep(delay)
        if self.startup_error is None:
            self.ready_client()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _state(ctx: Context) -> AppState:
    state = ctx.request_context.lifespan_context
    assert isinstance(state, AppState)
    return state


CHAT_URI_TEMPLATE = "gloo://chats/{chat_id}"
CHAT_JSON_URI_TEMPLATE = "gloo://chats/{chat_id}/history.json"


def _chat_uri(chat_id: str) -> str:
    return CHAT_URI_TEMPLATE.format(chat_id=chat_id)


def _error_result(error: GlooError) -> CallToolResult:
    logger.info("tool call failed: %s: %s", type(error).__name__, error.message)
    return CallToolResult(content=[TextContent(type="text", text=error.message)], is_error=True)


def _success(text: str, model: BaseModel, chat_id: str) -> CallToolResult:
    return CallToolResult(
        content=[
            TextContent(type="text", text=text),
            ResourceLink(
                type="resource_link", uri=_chat_uri(chat_id), name=f"Gloo chat {chat_id}", mime_type="text/markdown"
            ),
        ],
        structured_content=model.model_dump(mode="json"),
    )


_Result = TypeVar("_Result", ChatReply, ChatHistory)
_Function = TypeVar("_Function", bound=Callable[..., object])


def _clean_doc(function: _Function) -> _Function:
    """Dedent a docstring that becomes a tool description, so hosts show it without code indentation."""
    function.__doc__ = inspect.cleandoc(function.__doc__ or "")
    return function


async def _heartbeat(ctx: Context, interval: float) -> None:
    """Tell the host the call is alive: elapsed seconds as progress, every ``interval``.

    ``report_progress`` does nothing unless the caller asked for progress, so calls
    without a progress token cost one sleeping task.
    """
    started = anyio.current_time()
    while True:
        await anyio.sleep(interval)
        elapsed = anyio.current_time() - started
        await ctx.report_progress(elapsed, None, f"Waiting for Gloo's answer ({math.floor(elapsed)} s elapsed)")


async def _answer(
    ctx: Context,
    call: Callable[[GlooClient], Awaitable[_Result]],
    render: Callable[[_Result], str],
    heartbeat_interval: float,
) -> CallToolResult:
    """Run one Gloo call for a tool: structured result and Markdown, or an ``isError`` sentence.

    The heartbeat is cancelled, and the task group left, before the result is returned,
    so no progress notification can follow the result.
    """
    async with anyio.create_task_group() as beats:
        beats.start_soon(_heartbeat, ctx, heartbeat_interval)
        try:
            result = await call(_state(ctx).ready_client())
        except GlooError as error:
            return _error_result(error)
        finally:
            beats.cancel_scope.cancel()
    return _success(render(result), result, result.chat_id)


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


def build_server(
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    startup_error: GlooError | None = None,
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
) -> MCPServer[AppState]:
    """The gloo-mcp server.

    ``transport`` and ``retry`` let tests route HTTP into an in-process simulator and
    skip real waiting; ``startup_error`` is reported by every call when settings failed.
    """

    async def answer(
        ctx: Context, call: Callable[[GlooClient], Awaitable[_Result]], render: Callable[[_Result], str]
    ) -> CallToolResult:
        return await _answer(ctx, call, render, heartbeat_interval)

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        state = AppState(settings, transport=transport, retry=retry, startup_error=startup_error)
        try:
            async with anyio.create_task_group() as background:
                background.start_soon(state.warm_up, WARM_UP_DELAY)
                yield state
                background.cancel_scope.cancel()
        finally:
            await state.aclose()

    server: MCPServer[AppState] = MCPServer(
        "gloo-mcp",
        title="Gloo AI",
        version=__version__,
        instructions=INSTRUCTIONS,
        website_url="https://docs.gloo.com",
        lifespan=lifespan,
        log_level=settings.log_level,
    )

    @server.tool(title="Ask Gloo (new conversation)", annotations=_SEND)
    @_clean_doc
    async def send_message(
        query: QueryText,
        ctx: Context,
        character_limit: CharacterLimit = None,
        sources_limit: SourcesLimit = None,
        publishers: Publishers = None,
        enable_suggestions: EnableSuggestions = None,
    ) -> Annotated[CallToolResult, ChatReply]:
        """Start a NEW conversation with Gloo AI and get a grounded answer.

        Returns the answer, numbered sources (title, url, publisher, snippet), suggested
        follow-up questions, and a chat_id. Keep the chat_id: pass it to continue_chat for
        every follow-up in this conversation, so Gloo keeps the context. Each call creates
        a new conversation on Gloo; it is not idempotent.
        """
        options = _options(character_limit, sources_limit, publishers, enable_suggestions)
        return await answer(ctx, lambda client: client.send_message(query, options=options), reply_markdown)

    @server.tool(title="Continue a Gloo conversation", annotations=_SEND)
    @_clean_doc
    async def continue_chat(
        chat_id: ChatId,
        query: QueryText,
        ctx: Context,
        character_limit: CharacterLimit = None,
        sources_limit: SourcesLimit = None,
        publishers: Publishers = None,
        enable_suggestions: EnableSuggestions = None,
    ) -> Annotated[CallToolResult, ChatReply]:
        """Ask a follow-up in an existing Gloo conversation, identified by chat_id.

        Gloo remembers the earlier turns, so send only the new message (a suggested
        follow-up from the previous answer works as is). Returns the same shape as
        send_message. If Gloo does not know the chat_id, start over with send_message.
        """
        options = _options(character_limit, sources_limit, publishers, enable_suggestions)
        return await answer(
            ctx, lambda client: client.send_message(query, chat_id=chat_id, options=options), reply_markdown
        )

    @server.tool(title="Read a Gloo conversation", annotations=_READ)
    @_clean_doc
    async def get_chat_history(chat_id: ChatId, ctx: Context) -> Annotated[CallToolResult, ChatHistory]:
        """Read back a whole Gloo conversation, oldest turn first (read-only).

        Each assistant turn keeps its sources and suggested follow-ups. Use it to recover
        context, to quote earlier answers, or to check whether a message whose send failed
        was recorded after all.
        """
        return await answer(ctx, lambda client: client.get_chat(chat_id), history_markdown)

    async def read_chat(chat_id: str, ctx: Context) -> ChatHistory:
        try:
            return await _state(ctx).ready_client().get_chat(chat_id)
        except GlooError as error:
            raise ResourceError(error.message) from None

    @server.resource(
        CHAT_URI_TEMPLATE,
        name="gloo-chat",
        title="Gloo conversation",
        description="A Gloo conversation as Markdown, oldest turn first.",
        mime_type="text/markdown",
    )
    async def chat_transcript(chat_id: str, ctx: Context) -> str:
        return history_markdown(await read_chat(chat_id, ctx))

    @server.resource(
        CHAT_JSON_URI_TEMPLATE,
        name="gloo-chat-json",
        title="Gloo conversation (JSON)",
        description="A Gloo conversation as JSON: the same ChatHistory that get_chat_history returns.",
        mime_type="application/json",
    )
    async def chat_json(chat_id: str, ctx: Context) -> str:
        return (await read_chat(chat_id, ctx)).model_dump_json(indent=2)

    @server.prompt(name="ask_gloo", title="Ask Gloo AI")
    def ask_gloo(
        question: Annotated[str, Field(description="What to ask Gloo, in plain language.")],
        publishers: Annotated[
            str, Field(description="Optional: comma-separated publisher names to draw sources from.")
        ] = "",
    ) -> str:
        """Ask Gloo AI a question and get a cited answer with follow-up suggestions."""
        wanted = [name.strip() for name in publishers.split(",") if name.strip()]
        scope = f" Pass publishers={wanted!r} so the sources come from them." if wanted else ""
        return (
            f"Ask Gloo AI the question below with the send_message tool.{scope} Answer me from Gloo's reply: "
            "cite its sources by number with their links, never invent a URL, and offer its suggested follow-up "
            "questions. Keep the chat_id so we can continue the conversation with continue_chat.\n\n"
            f"Question: {question.strip()}"
        )

    @server.prompt(name="summarize_gloo_chat", title="Summarize a Gloo conversation")
    async def summarize_gloo_chat(
        chat_id: Annotated[str, Field(description="The chat_id of the conversation to summarize.")],
        ctx: Context,
    ) -> str:
        """Summarize an earlier Gloo conversation, with its transcript attached."""
        try:
            history = await _state(ctx).ready_client().get_chat(chat_id.strip())
        except GlooError as error:  # a prompt's other exceptions reach the host as "Error rendering prompt"
            code = INVALID_PARAMS if isinstance(error, ChatNotFoundError | InvalidRequestError) else INTERNAL_ERROR
            raise MCPError(code, error.message) from None
        transcript = history_markdown(history)
        return (
            "Summarize this conversation with Gloo AI: the questions asked, the key points of each answer with "
            "their numbered sources, and the open follow-ups. To ask more, use continue_chat with its chat_id.\n\n"
            f"{transcript}"
        )

    return server
