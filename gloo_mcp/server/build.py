"""The MCP face assembled: :func:`build_server` constructs the state and the server, registers the tools,
resources and prompts (``tools.py``, ``resources.py``, ``prompts.py``) and returns it.

:class:`GlooMCPServer` keeps every tool-call failure to one sentence and audits calls on HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mcp import MCPError
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import INVALID_PARAMS, CallToolResult, GetPromptResult, InputRequiredResult
from pydantic import ValidationError

from gloo_mcp import __version__
from gloo_mcp.access.audit import AuditLog, note_failure
from gloo_mcp.access.principals import current_caller
from gloo_mcp.config import Settings
from gloo_mcp.errors import GlooError
from gloo_mcp.server import prompts, resources, tools
from gloo_mcp.server.answer_card import answer_card_extension
from gloo_mcp.server.arguments import argument_error
from gloo_mcp.server.capabilities import advertise_only_what_is_sent
from gloo_mcp.server.instructions import INSTRUCTIONS
from gloo_mcp.server.results import sentence_result
from gloo_mcp.server.state import DEFAULT_HEARTBEAT_INTERVAL, AppState
from gloo_mcp.server.tasks import Tasks, TasksExtension, TaskTimings, refuse_undeclared_task_subscriptions
from gloo_mcp.telemetry import instrument_server

if TYPE_CHECKING:  # the HTTP stack loads on the first call, not at start-up (hosts spawn servers often)
    import httpx2

    from gloo_mcp.access.fair_use import Admission
    from gloo_mcp.access.oauth import JwtTokenVerifier
    from gloo_mcp.gloo.retry import RetryPolicy

__all__ = ["DEFAULT_HEARTBEAT_INTERVAL", "INSTRUCTIONS", "GlooMCPServer", "build_server"]

logger = logging.getLogger(__name__)

WARM_UP_DELAY = 0.5
"""Seconds after start-up before the HTTP client is built in the background."""


class GlooMCPServer(MCPServer[AppState]):
    """MCPServer whose tool-call failures are always one sentence, and whose calls can be audited.

    The SDK reports invalid arguments as a multi-line pydantic dump and hides every other
    unexpected exception behind "Error executing tool X"; here both become a sentence the
    model can act on (what was wrong and what to do), through the public ``call_tool``.
    """

    audit: AuditLog | None = None
    """Set on HTTP: one line per tool call (audit.py)."""
    state: AppState
    """What every call shares (state.py), set by :func:`build_server`: the lifespan yields this same value."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        if self.audit is None:
            return await self._call_tool(name, arguments, context)
        started = self.audit.start()
        result = await self._call_tool(name, arguments, context)
        try:
            who = current_caller(per_user=self.state.tenancy.per_user)
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
            return sentence_result(
                f"gloo-mcp failed unexpectedly while running {name} ({type(error.__cause__).__name__}); try again, "
                "and report it with the server's log if it persists."
            )
        except ToolError as error:
            if not isinstance(error.__cause__, ValidationError):
                raise
            note_failure("invalid_arguments")
            return sentence_result(argument_error(name, error.__cause__, await self._input_schema(name)))

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context[AppState, Any] | None = None
    ) -> GetPromptResult | InputRequiredResult:
        """An unknown prompt or a missing argument is the caller's mistake: -32602 with the SDK's sentence.

        On 2026-07-28 the SDK turns both into "Internal server error" and logs a traceback;
        the prompts' own refusals (MCPError) pass through unchanged.
        """
        try:
            return await super().get_prompt(name, arguments, context)
        except MCPError:
            raise
        except ValueError as error:
            known = ", ".join(sorted(prompt.name for prompt in await self.list_prompts()))
            raise MCPError(INVALID_PARAMS, f"{error} (this server's prompts: {known}).") from None

    async def _input_schema(self, name: str) -> dict[str, Any] | None:
        return next((tool.input_schema for tool in await self.list_tools() if tool.name == name), None)


@asynccontextmanager
async def _serving(state: AppState, tasks: Tasks, oauth: JwtTokenVerifier | None) -> AsyncIterator[AppState]:
    """The server's lifespan: the state (warm-up, closing after the last connection) and the Tasks it runs."""
    async with state.serving(WARM_UP_DELAY, closing=oauth), tasks.serving():
        yield state


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
    state = AppState(
        settings,
        transport=transport,
        retry=retry,
        startup_error=startup_error,
        per_user=oauth is not None,
        fair_use=fair_use,
        heartbeat_interval=heartbeat_interval,
    )
    tasks = Tasks(state, task_timings)  # long answers as Tasks, for clients that opt in (tasks.py)
    server = GlooMCPServer(
        "gloo-mcp",
        title="Gloo AI",
        version=__version__,
        instructions=INSTRUCTIONS,
        website_url="https://docs.gloo.com",
        lifespan=lambda _server: _serving(state, tasks, oauth),
        log_level=settings.log_level,
        auth=oauth.auth_settings(required_scopes=settings.oauth_scopes) if oauth is not None else None,
        token_verifier=oauth,
        extensions=[answer_card_extension(), TasksExtension(tasks)],  # MCP Apps (answer_card.py); Tasks (tasks.py)
    )
    server.audit, server.state = audit, state
    server.middleware.append(refuse_undeclared_task_subscriptions)  # SEP-2663 on subscriptions/listen (tasks.py)
    server.middleware.append(advertise_only_what_is_sent)  # no listChanged/subscribe on 2026-07-28 (capabilities.py)
    tools.register(server)
    resources.register(server, state)
    prompts.register(server)
    instrument_server(server)  # mcp.server.operation.duration, requests in flight, GET /metrics (telemetry.py)
    return server
