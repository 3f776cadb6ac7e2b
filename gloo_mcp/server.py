"""The MCP face of gloo-mcp: three tools, a conversation resource, and their product copy.

Tools receive the process's one :class:`~gloo_mcp.client.GlooClient` through the
lifespan. Expected failures are :class:`~gloo_mcp.errors.GlooError`s and become
``isError`` results carrying the error's sentence (the SDK would hide their text if
they escaped), with no ``structuredContent``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CallToolResult,
    Completion,
    CompletionArgument,
    ContentBlock,
    InputRequiredResult,
    PromptReference,
    ResourceLink,
    ResourceTemplateReference,
    TextContent,
    ToolAnnotations,
)
from pydantic import BaseModel, Field, StringConstraints, ValidationError

from gloo_mcp import __version__
from gloo_mcp.answer_card import answer_card_extension, answer_card_tool_meta
from gloo_mcp.arguments import (
    CHAT_ID_MAX_LENGTH,
    CHAT_ID_PATTERN,
    argument_error,
    checked_chat_id,
    could_be_chat_id,
)
from gloo_mcp.audit import AuditLog, note_failure
from gloo_mcp.config import CHARACTER_LIMIT_RANGE, SOURCES_LIMIT_RANGE, Settings
from gloo_mcp.errors import ChatNotFoundError, GlooError, InvalidRequestError
from gloo_mcp.history_pages import decode_history_cursor
from gloo_mcp.models import ChatHistory, ChatList, ChatReply, MessageOptions, ModelList
from gloo_mcp.principals import current_caller
from gloo_mcp.progress import CallProgress, reporting_progress
from gloo_mcp.render import (
    CHAT_URI_TEMPLATE,
    chat_list_markdown,
    chat_uri,
    history_markdown,
    models_markdown,
    reply_markdown,
)
from gloo_mcp.routing import ModelFamily, Routing, Tradition
from gloo_mcp.state import AppState
from gloo_mcp.tasks import Tasks, TasksExtension, TaskTimings, refuse_undeclared_task_subscriptions
from gloo_mcp.telemetry import instrument_server

if TYPE_CHECKING:  # the HTTP stack loads on the first call, not at start-up (hosts spawn servers often)
    import httpx2

    from gloo_mcp.backends import ChatBackend
    from gloo_mcp.fair_use import Admission
    from gloo_mcp.oauth import JwtTokenVerifier
    from gloo_mcp.retry import RetryPolicy

__all__ = ["DEFAULT_HEARTBEAT_INTERVAL", "INSTRUCTIONS", "build_server"]

logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
Gloo AI answers questions about faith, values, flourishing and everyday life with grounded, \
cited answers. Use these tools to hold a multi-turn conversation with it:

1. send_message starts a NEW conversation and returns an answer, numbered sources, suggested \
follow-up questions, and a chat_id.
2. Keep that chat_id. For every follow-up in the same conversation call continue_chat with it; \
Gloo remembers the earlier turns, so do not repeat them. A suggested follow-up can be sent as is.
3. get_chat_history reads a conversation back (read-only), its newest messages first; pass its \
next_cursor as cursor for older pages. Use it e.g. after losing context.

Cite Gloo's sources by their numbers and links; never invent URLs. If a chat_id is unknown \
or expired, start a new conversation with send_message. If a send fails with "may or may not \
have been recorded", check get_chat_history before sending again."""

MAX_QUERY_LENGTH = 10_000
MAX_PUBLISHERS_TEXT = 50 * 200
QueryText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_LENGTH),
    Field(description="The question or message for Gloo, in plain language (1 to 10,000 characters)."),
]
ChatId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=CHAT_ID_MAX_LENGTH, pattern=CHAT_ID_PATTERN),
    Field(description="The chat_id returned by send_message (or an earlier continue_chat)."),
]
# strict: "100" or true is a mistake to report, not a number to guess (true once became a 1-character limit)
CharacterLimit = Annotated[
    int | None,
    Field(
        strict=True,
        ge=CHARACTER_LIMIT_RANGE[0],
        le=CHARACTER_LIMIT_RANGE[1],
        description="Longest answer, in characters. Omit for the server default (GLOO_CHARACTER_LIMIT).",
    ),
]
SourcesLimit = Annotated[
    int | None,
    Field(
        strict=True,
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
    Field(
        strict=True,
        description="Whether Gloo should suggest follow-up questions. Omit for the server default.",
    ),
]

DEFAULT_HEARTBEAT_INTERVAL = 5.0
"""Seconds between progress notifications while Gloo is answering: well inside the
silence after which hosts give up on a call."""

WARM_UP_DELAY = 0.5
"""Seconds after start-up before the HTTP client is built in the background."""

ModelId = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=200,
        description="Completions V2 only: a model id from list_models. Give at most one of model, model_family, "
        "auto_routing; with none, Gloo routes automatically.",
    ),
]
ModelFamilyInput = Annotated[
    ModelFamily | None, Field(description="Completions V2 only: let Gloo pick the best model of this family.")
]
AutoRouting = Annotated[
    bool | None, Field(strict=True, description="Completions V2 only: true lets Gloo pick the model (the default).")
]
TraditionInput = Annotated[
    Tradition | None,
    Field(
        description="Completions V2 only: answer from this Christian tradition; not_faith_specific needs publishers. "
        "Omit for a general Christian view."
    ),
]
SearchText = Annotated[
    str | None,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Field(description="Only conversations whose title contains this text (any case), or with this exact chat_id."),
]
PageSize = Annotated[
    int | None, Field(strict=True, ge=1, le=100, description="Most conversations to return (1 to 100; default 20).")
]
DEFAULT_PAGE_SIZE = 20
Cursor = Annotated[
    str | None, Field(max_length=500, description="next_cursor from the previous page; omit for the newest.")
]
HistoryCursor = Annotated[
    str | None,
    Field(max_length=500, description="next_cursor from the previous page, for older messages; omit for the newest."),
]
FamilyFilter = Annotated[
    str | None, Field(max_length=50, description="Only models of this family, e.g. Anthropic or OpenAI.")
]

_SEND = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
_READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
_LOCAL_READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


CHAT_JSON_URI_TEMPLATE = "gloo://chats/{chat_id}/history.json"
CHATS_URI = "gloo://chats"


def _error_result(error: GlooError) -> CallToolResult:
    logger.info("tool call failed: %s: %s", type(error).__name__, error.message)
    note_failure(type(error).__name__)
    return _sentence_result(error.message)


def _sentence_result(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def _success(text: str, model: BaseModel, *, link_to: str | None = None) -> CallToolResult:
    """Both channels, each complete on its own (the text names the chat's resource URI).

    ``link_to``: a chat whose resource is also linked as a ``resource_link`` block, for hosts
    that opted in (GLOO_MCP_RESOURCE_LINKS): clients before protocol 2025-06-18 reject a
    whole result that carries one, and some agent frameworks mangle it.
    """
    content: list[ContentBlock] = [TextContent(type="text", text=text)]
    if link_to is not None:
        uri, name = chat_uri(link_to), f"Gloo chat {link_to}"
        content.append(ResourceLink(type="resource_link", uri=uri, name=name, mime_type="text/markdown"))
    return CallToolResult(content=content, structured_content=model.model_dump(mode="json"))


class GlooMCPServer(MCPServer[AppState]):
    """MCPServer whose tool-call failures are always one sentence, and whose calls can be audited.

    The SDK reports invalid arguments as a multi-line pydantic dump and hides every other
    unexpected exception behind "Error executing tool X"; here both become a sentence the
    model can act on (what was wrong and what to do), through the public ``call_tool``.
    """

    audit: AuditLog | None = None
    """Set on HTTP: one line per tool call (audit.py)."""
    per_user: bool = False

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        if self.audit is None:
            return await self._call_tool(name, arguments, context)
        started = self.audit.start()
        result = await self._call_tool(name, arguments, context)
        try:
            who = current_caller(per_user=self.per_user)
        except GlooError:
            who = "unknown"
        structured = result.structured_content if isinstance(result, CallToolResult) else None
        is_error = isinstance(result, CallToolResult) and bool(result.is_error)
        self.audit.record(
            started=started, principal=who, tool=name, arguments=arguments, structured=structured, is_error=is_error
        )
        return result

    async def _call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as error:
            logger.error("tool %s failed unexpectedly", name, exc_info=error.__cause__)
            note_failure("unexpected")
            return _sentence_result(
                f"gloo-mcp failed unexpectedly while running {name} ({type(error.__cause__).__name__}); try again, "
                "and report it with the server's log if it persists."
            )
        except ToolError as error:
            if not isinstance(error.__cause__, ValidationError):
                raise
            note_failure("invalid_arguments")
            return _sentence_result(argument_error(name, error.__cause__, await self._input_schema(name)))

    async def _input_schema(self, name: str) -> dict[str, Any] | None:
        return next((tool.input_schema for tool in await self.list_tools() if tool.name == name), None)


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


def build_server(
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    startup_error: GlooError | None = None,
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
    oauth: JwtTokenVerifier | None = None,
    audit: AuditLog | None = None,
    fair_use: Admission | None = None,
    task_timings: TaskTimings | None = None,
) -> MCPServer[AppState]:
    """The gloo-mcp server.

    ``transport`` and ``retry`` let tests route HTTP into an in-process simulator and
    skip real waiting; ``startup_error`` is reported by every call when settings failed.
    ``oauth``: sign each HTTP caller in with its bearer token (a per-user server: each
    principal sees only its own conversations); ``audit``: a line per tool call; ``fair_use``:
    per-principal limits on calls to Gloo (HTTP servers share one Gloo account); ``task_timings``:
    how long Tasks live (tasks.py).
    """
    per_user = oauth is not None
    state = AppState(
        settings,
        transport=transport,
        retry=retry,
        startup_error=startup_error,
        per_user=per_user,
        fair_use=fair_use,
    )
    tasks = Tasks(state, task_timings)  # long answers as Tasks, for clients that opt in (tasks.py)

    async def answer(
        ctx: Context,
        call: Callable[[ChatBackend, str, CallProgress], Awaitable[_Result]],
        render: Callable[[_Result], str],
    ) -> CallToolResult:
        """Run one Gloo call for a tool: structured result and Markdown, or an ``isError`` sentence.

        Progress notifications stop before the result is built, so none can follow it.
        """
        async with reporting_progress(ctx, heartbeat_interval) as progress:
            try:
                async with state.admitted_caller() as caller:
                    result = await call(await state.backend(), caller, progress)
            except GlooError as error:
                return _error_result(error)
        return _success(render(result), result, link_to=result.chat_id if settings.resource_links else None)

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        async with state.serving(WARM_UP_DELAY, closing=oauth), tasks.serving():
            yield state

    server = GlooMCPServer(
        "gloo-mcp",
        title="Gloo AI",
        version=__version__,
        instructions=INSTRUCTIONS,
        website_url="https://docs.gloo.com",
        lifespan=lifespan,
        log_level=settings.log_level,
        auth=oauth.auth_settings(required_scopes=settings.oauth_scopes) if oauth is not None else None,
        token_verifier=oauth,
        extensions=[answer_card_extension(), TasksExtension(tasks)],  # MCP Apps (answer_card.py); Tasks (tasks.py)
    )
    server.audit, server.per_user = audit, per_user
    server.middleware.append(refuse_undeclared_task_subscriptions)  # SEP-2663 on subscriptions/listen (tasks.py)

    async def ask(
        ctx: Context, query: str, chat_id: str | None, options: MessageOptions, routing: Routing
    ) -> CallToolResult:
        async def call(backend: ChatBackend, caller: str, progress: CallProgress) -> ChatReply:
            return await backend.send(
                query, owner=caller, chat_id=chat_id, options=options, routing=routing, on_text=progress.text
            )

        return await answer(ctx, call, reply_markdown)

    @server.tool(title="Ask Gloo (new conversation)", annotations=_SEND, meta=answer_card_tool_meta())
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
        return await ask(ctx, query, None, options, routing)

    @server.tool(title="Continue a Gloo conversation", annotations=_SEND, meta=answer_card_tool_meta())
    @_clean_doc
    async def continue_chat(
        chat_id: ChatId,
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
        return await ask(ctx, query, chat_id, options, routing)

    @server.tool(title="Read a Gloo conversation", annotations=_READ, meta=answer_card_tool_meta())
    @_clean_doc
    async def get_chat_history(
        chat_id: ChatId, ctx: Context, cursor: HistoryCursor = None
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
            return _error_result(error)
        return await answer(
            ctx, lambda backend, caller, _: backend.history(chat_id, owner=caller, before=before), history_markdown
        )

    @server.tool(title="List Gloo conversations", annotations=_LOCAL_READ)
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
        try:
            async with state.admitted_caller() as caller:
                chats, next_cursor = await (await state.store()).list_chats(
                    owner=caller, text=query, limit=limit or DEFAULT_PAGE_SIZE, cursor=cursor
                )
        except GlooError as error:
            return _error_result(error)
        page = ChatList(chats=chats, next_cursor=next_cursor)
        return _success(chat_list_markdown(page), page)

    @server.tool(title="List Gloo models", annotations=_READ)
    @_clean_doc
    async def list_models(ctx: Context, family: FamilyFilter = None) -> Annotated[CallToolResult, ModelList]:
        """List the models Gloo's Completions V2 can route to (read-only, cached for 5 minutes).

        Pass a model's id as model, or its family as model_family, to send_message or
        continue_chat when the server runs Completions V2.
        """
        try:
            async with state.admitted_caller():  # a per-user server answers only callers it can name
                models = await state.models()
        except GlooError as error:
            return _error_result(error)
        if family:
            models = [m for m in models if (m.family or "").lower() == family.lower()]
        listing = ModelList(models=models)
        return _success(models_markdown(listing), listing)

    async def read_chat(chat_id: str) -> ChatHistory:
        try:
            chat_id = checked_chat_id(chat_id)
            async with state.admitted_caller() as caller:
                return await (await state.backend()).history(chat_id, owner=caller)
        except GlooError as error:
            raise ResourceError(error.message) from None

    @server.resource(
        CHAT_URI_TEMPLATE,
        name="gloo-chat",
        title="Gloo conversation",
        description="A Gloo conversation as Markdown, oldest turn first.",
        mime_type="text/markdown",
    )
    async def chat_transcript(chat_id: str) -> str:
        return history_markdown(await read_chat(chat_id))

    @server.resource(
        CHAT_JSON_URI_TEMPLATE,
        name="gloo-chat-json",
        title="Gloo conversation (JSON)",
        description="A Gloo conversation as JSON: the same ChatHistory that get_chat_history returns.",
        mime_type="application/json",
    )
    async def chat_json(chat_id: str) -> str:
        return (await read_chat(chat_id)).model_dump_json(indent=2)

    @server.resource(
        CHATS_URI,
        name="gloo-chats",
        title="Gloo conversations",
        description="The 50 most recently active conversations gloo-mcp started, as JSON (see list_chats).",
        mime_type="application/json",
    )
    async def chats_index() -> str:
        try:
            async with state.admitted_caller() as caller:
                chats, next_cursor = await (await state.store()).list_chats(
                    owner=caller, text=None, limit=50, cursor=None
                )
        except GlooError as error:
            raise ResourceError(error.message) from None
        return ChatList(chats=chats, next_cursor=next_cursor).model_dump_json(indent=2)

    async def complete_argument(
        ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument, context: object
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

    async def _check_caller() -> None:
        """The gate every entry point passes (configuration, caller, fair use), as a prompt reports it."""
        try:
            async with state.admitted_caller():
                pass
        except GlooError as error:
            raise MCPError(INTERNAL_ERROR, error.message) from None

    server.completion()(complete_argument)  # type: ignore[no-untyped-call]  # the SDK's decorator is untyped

    @server.prompt(name="ask_gloo", title="Ask Gloo AI")
    async def ask_gloo(
        question: Annotated[str, Field(description="What to ask Gloo, in plain language.")],
        publishers: Annotated[
            str, Field(description="Optional: comma-separated publisher names to draw sources from.")
        ] = "",
    ) -> str:
        """Ask Gloo AI a question and get a cited answer with follow-up suggestions."""
        await _check_caller()
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

    @server.prompt(name="summarize_gloo_chat", title="Summarize a Gloo conversation")
    async def summarize_gloo_chat(
        chat_id: Annotated[str, Field(description="The chat_id of the conversation to summarize.")],
    ) -> str:
        """Summarize an earlier Gloo conversation, with its transcript attached."""
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

    instrument_server(server)  # mcp.server.operation.duration, requests in flight, GET /metrics (telemetry.py)
    return server
