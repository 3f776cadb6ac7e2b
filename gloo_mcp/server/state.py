"""What every tool call shares: the one GlooClient, the conversation store and the chosen backend.

Tools, resource templates and prompts reach it through the lifespan context
(:func:`app_state`); the server's lifespan (:meth:`AppState.serving`) yields it.

Nothing here is built at start-up: the client (httpx2's transport and the TLS trust
store, ~60 ms) and the store are made on first use or by :meth:`AppState.warm_up` once
the host's start-up exchange is over, so a host gets its tools list as fast as from a
bare MCP server (docs/performance.md).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol, Self

import anyio

from gloo_mcp.access.fair_use import Admission
from gloo_mcp.access.principals import current_caller
from gloo_mcp.chats.tenancy import Tenancy
from gloo_mcp.config import Settings
from gloo_mcp.errors import GlooError, StoreError

if TYPE_CHECKING:
    import httpx2
    from mcp.server.mcpserver import Context

    from gloo_mcp.chats.backends import ChatBackend
    from gloo_mcp.chats.store import ConversationStore
    from gloo_mcp.chats.task_store import TaskStore
    from gloo_mcp.gloo.client import GlooClient
    from gloo_mcp.gloo.retry import RetryPolicy
    from gloo_mcp.models import ModelInfo

__all__ = ["MODELS_TTL", "AppState"]

logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_INTERVAL = 5.0
"""Seconds between progress notifications while Gloo is answering: well inside the
silence after which hosts give up on a call."""

MODELS_TTL = 300.0
"""Seconds the model catalogue is reused before it is fetched again."""
STORE_RETRY_FIRST = 0.25
STORE_RETRY_MOST = 2.0
"""Seconds between attempts to open a store that failed: doubling from the first to the most, so a store
that comes back is in use again within about two seconds, and one that stays down costs an attempt at most
every two seconds (calls in between get the last failure at once)."""


_ADMITTED_AHEAD: ContextVar[str | None] = ContextVar("gloo_mcp_admitted_ahead", default=None)
"""The caller whose place a Task took when it was created, for the run that uses it (server/tasks.py)."""


class _Closable(Protocol):
    async def aclose(self) -> None: ...


class AppState:
    """One per server, shared by its connections (an in-process server has a lifespan per client).

    What it opened is closed when the last connection ends, and reopened on the next use.
    """

    _task_store: TaskStore | None = None
    _task_store_opening: anyio.Lock | None = None

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        startup_error: GlooError | None = None,
        per_user: bool = False,
        fair_use: Admission | None = None,
        heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
    ) -> None:
        self.settings = settings
        self.heartbeat_interval = heartbeat_interval
        self.tenancy = Tenancy(per_user=per_user)
        """Whether callers each sign in: the one value the backends and the caller check use."""
        self.fair_use = fair_use
        self._transport = transport
        self._retry = retry
        self.startup_error = startup_error
        self._client: GlooClient | None = None
        self._store: ConversationStore | None = None
        self._backend: ChatBackend | None = None
        self._models: tuple[float, list[ModelInfo]] | None = None
        self._store_failure: StoreError | None = None
        self._store_retry_at = 0.0
        self._store_backoff = 0.0
        self._opening = anyio.Lock()
        self._connections = 0

    @asynccontextmanager
    async def serving(self, warm_up_delay: float, *, closing: _Closable | None = None) -> AsyncIterator[Self]:
        """The server's lifespan: warm up in the background; close everything (and ``closing``) after the last
        connection."""
        self._connections += 1
        try:
            async with anyio.create_task_group() as background:
                background.start_soon(self.warm_up, warm_up_delay)
                yield self
                background.cancel_scope.cancel()
        finally:
            self._connections -= 1
            if self._connections == 0:
                await self.aclose()
                if closing is not None:
                    await closing.aclose()

    def caller(self) -> str:
        """Who is calling (principals.py), after the configuration check every entry point makes."""
        self.require_configured()
        return current_caller(per_user=self.tenancy.per_user)

    @asynccontextmanager
    async def admitted(self, caller: str) -> AsyncIterator[None]:
        """Hold one of ``caller``'s places under the fair-use limits (HTTP servers), or just run (stdio).

        A Task enters it when it is created (so a refused caller costs no row) and leaves it when its
        run ends, within :meth:`admitted_ahead`."""
        if self.fair_use is None:
            yield
            return
        async with self.fair_use.admit(caller):
            yield

    @asynccontextmanager
    async def admitted_caller(self) -> AsyncIterator[str]:
        """The gate of every entry point (tools, resource reads, prompts, completion): the configuration check,
        who is calling, and one of their places under the fair-use limits, held for the block."""
        caller = self.caller()
        if _ADMITTED_AHEAD.get() == caller:  # a Task's run: its place was taken when the task was created
            yield caller
            return
        async with self.admitted(caller):
            yield caller

    @staticmethod
    @contextmanager
    def admitted_ahead(caller: str) -> Iterator[None]:
        """Within the block, ``caller``'s entry points pass the gate without taking another place."""
        token = _ADMITTED_AHEAD.set(caller)
        try:
            yield
        finally:
            _ADMITTED_AHEAD.reset(token)

    def require_configured(self) -> None:
        """Raise the configuration error that every call must report, local-store reads included.

        Fail closed: with settings that did not load, no tool, resource, prompt or completion
        reaches Gloo or the store, whatever it would have read.
        """
        if self.startup_error is not None:
            raise self.startup_error

    def ready_client(self) -> GlooClient:
        """The client, or the configuration error that every call must report instead."""
        self.require_configured()
        if self._client is None:  # no await between the check and the assignment: one client, ever
            from gloo_mcp.gloo.client import GlooClient

            self._client = GlooClient.open(self.settings, self._transport, retry=self._retry)
        return self._client

    async def store(self) -> ConversationStore:
        """The conversation store, opened once; raises the StoreError that prevented it.

        A store that could not be opened is tried again, backing off (STORE_RETRY_*), so the
        server recovers by itself once the store is back; an opened store reconnects itself.
        """
        self.require_configured()
        async with self._opening:
            if self._store is None:
                now = anyio.current_time()
                if self._store_failure is not None and now < self._store_retry_at:
                    raise self._store_failure
                from gloo_mcp.chats.store import open_store

                try:
                    self._store = await open_store(self.settings.resolved_store_url)
                except StoreError as error:
                    self._store_backoff = min(max(2 * self._store_backoff, STORE_RETRY_FIRST), STORE_RETRY_MOST)
                    self._store_failure, self._store_retry_at = error, now + self._store_backoff
                    raise
                self._store_failure, self._store_backoff = None, 0.0
            return self._store

    async def task_store(self) -> TaskStore:
        """The task store (tasks.py), in the conversation store's database, opened on first use; raises the
        StoreError that prevented it (the next call tries again)."""
        self.require_configured()
        if self._task_store_opening is None:
            self._task_store_opening = anyio.Lock()
        async with self._task_store_opening:
            if self._task_store is None:
                from gloo_mcp.chats.task_store import open_task_store

                self._task_store = await open_task_store(self.settings.resolved_store_url)
            return self._task_store

    async def close_task_store(self) -> None:
        store, self._task_store = self._task_store, None
        if store is not None:
            await store.aclose()

    async def backend(self) -> ChatBackend:
        """The backend GLOO_BACKEND names. The Message API works without a store; Completions V2 needs one."""
        client = self.ready_client()
        if self._backend is not None:
            return self._backend
        from gloo_mcp.chats.backends import CompletionsBackend, MessageBackend

        if self.settings.backend == "completions":
            try:
                store = await self.store()
            except StoreError as error:
                from gloo_mcp.chats.backends import CANNOT_RECORD

                raise self.tenancy.store_unavailable(error, sentence=CANNOT_RECORD, doing="V2 has no store") from None
            self._backend = CompletionsBackend(
                client, store, models=self.models, settings=self.settings, tenancy=self.tenancy
            )
        else:
            self._backend = MessageBackend(client, self.store, tenancy=self.tenancy)
        return self._backend

    async def models(self) -> list[ModelInfo]:
        """Gloo's model catalogue, fetched at most every MODELS_TTL seconds."""
        self.require_configured()
        now = anyio.current_time()
        if self._models is not None and now - self._models[0] < MODELS_TTL:
            return self._models[1]
        from gloo_mcp.gloo.completions import list_models

        models = await list_models(self.ready_client())
        self._models = (now, models)
        return models

    async def warm_up(self, delay: float) -> None:
        """After ``delay`` s (hosts list tools right after spawning), build the client and open the store while idle."""
        await anyio.sleep(delay)
        if self.startup_error is None:
            self.ready_client()
            try:
                await self.store()
            except StoreError as error:  # the first call that needs the store reports it
                logger.warning("the conversation store could not be opened: %s", error.message)

    async def aclose(self) -> None:
        client, store = self._client, self._store
        self._client = self._store = self._backend = None
        if client is not None:
            await client.aclose()
        if store is not None:
            await store.aclose()


def app_state(ctx: Context) -> AppState:
    """The state a tool, resource template or prompt runs with: what the server's lifespan yielded
    (``ctx`` is the SDK's ``Context``)."""
    state = ctx.request_context.lifespan_context
    if not isinstance(state, AppState):
        raise TypeError(f"the lifespan yielded {type(state).__name__}, not AppState")
    return state
