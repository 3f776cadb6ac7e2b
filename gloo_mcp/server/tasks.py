"""Long answers as Tasks (SEP-2663, ``io.modelcontextprotocol/tasks``): send_message and continue_chat outlive calls.

A Gloo answer can take tens of seconds, and many clients give up on a call after five. A
client that declares the extension on a 2026-07-28 request (``_meta`` client capabilities)
gets a ``CreateTaskResult`` for send_message or continue_chat at once, and follows it with
``tasks/get`` (the status, the answer streamed so far as ``statusMessage``, and in the end
the very ``CallToolResult`` the synchronous call returns), ``tasks/update`` and
``tasks/cancel``. Every other client, and every other tool, gets the synchronous result,
unchanged.

- **Durable and shared.** A task is a row in the store (task_store.py) before its taskId is
  sent, and its result is written there when the call ends: any replica sharing
  GLOO_STORE_URL answers ``tasks/get``, and a restart loses no finished answer. Results are
  kept ``ttl`` (1 hour) from creation, then deleted.
- **Owned.** A task belongs to the principal who started it (AppState.caller()); another
  principal's taskId reads exactly like an unknown one (-32602, the same message).
- **Run where it was accepted**, in the background, in a task group of the server's lifespan
  (the HTTP server is stateless per request). The tool call runs unchanged, so it holds the
  caller's fair-use place while it runs. The server renews a lease on the row while it runs; a
  task whose server stopped is reported ``failed`` by whichever replica reads it next, never
  run again (a message Gloo may have recorded is never sent twice).
- **Cancel reaches Gloo.** ``tasks/cancel`` cancels the run's scope, which aborts the
  upstream HTTP request; a cancel sent to another replica is seen at the run's next lease
  renewal. Once Gloo's answer has arrived (task_context.py) a cancel no longer stops the call,
  so a turn is either recorded and returned, or neither: the task then ends ``completed``.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import decode_header_value
from mcp_types import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    CallToolRequestParams,
    CallToolResult,
    RequestParams,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import Field

from gloo_mcp.chats.task_context import running_as
from gloo_mcp.chats.task_store import TERMINAL, TaskRecord, TaskStatus, TaskStore
from gloo_mcp.errors import GlooError, StoreError

if TYPE_CHECKING:
    from gloo_mcp.server.state import AppState

__all__ = [
    "EXTENSION_ID",
    "NOT_FOUND",
    "TASK_TOOLS",
    "TaskTimings",
    "Tasks",
    "TasksExtension",
    "client_declared_tasks",
]

logger = logging.getLogger(__name__)

EXTENSION_ID = "io.modelcontextprotocol/tasks"
TASK_TOOLS = frozenset({"send_message", "continue_chat"})
"""The tools that may answer with a task: the ones that wait for Gloo's answer."""

NOT_FOUND = "Failed to retrieve task: Task not found"
"""For an unknown, expired or someone else's taskId alike (the spec's example wording)."""

WORKING = "Waiting for Gloo's answer."
CANCELLED = "Cancelled: gloo-mcp stopped the request to Gloo before its answer arrived, and recorded nothing."
LOST = (
    "The gloo-mcp server answering this task stopped before Gloo's answer arrived, so the answer is lost; the "
    "message may or may not have reached Gloo: check get_chat_history (or list_chats) before sending it again."
)
STOPPED = (
    "gloo-mcp shut down before Gloo's answer arrived and stopped this task; the message may or may not have reached "
    "Gloo: check get_chat_history (or list_chats) before sending it again."
)
UNEXPECTED = "gloo-mcp failed unexpectedly while running this task; try again, and report it with the server's log."
UNREADABLE = "gloo-mcp cannot read its tasks right now (its store is unavailable); try again in a few seconds."
STATUS_TEXT_LIMIT = 16_000
"""Characters of the streamed answer a ``statusMessage`` carries (the newest, when the answer is longer)."""
_SAVE_RETRIES = (0.25, 1.0, 2.0, 4.0)
"""Seconds between further attempts to save a finished task when the store fails."""


@dataclass(frozen=True)
class TaskTimings:
    """How long tasks live and how their servers keep in touch; tests shorten them and move the clock."""

    ttl: float = 3600.0
    """Seconds a task and its result are kept, from its creation (at least the call deadline plus 5 minutes)."""
    poll_interval: float = 1.0
    """The ``pollIntervalMs`` suggested to clients."""
    lease: float = 30.0
    """A working task whose server has not renewed it for this long is reported failed (its server stopped)."""
    watch_interval: float = 1.0
    """How often a run saves its progress text, renews its lease and looks for a cancel sent to another replica."""
    cancel_wait: float = 2.0
    """How long ``tasks/cancel`` waits for a run on this server to stop, so the next ``tasks/get`` says cancelled."""
    drain: float | None = None
    """At shutdown, how long running tasks may still finish (None: the call deadline, GLOO_TIMEOUT)."""
    max_running: int = 256
    """Tasks one server runs at once; beyond it, a call is answered synchronously."""
    clock: Callable[[], float] = time.time
    """Seconds since the epoch."""


class TaskIdParams(RequestParams):
    task_id: str


class UpdateParams(RequestParams):
    task_id: str
    input_responses: dict[str, Any] = Field(default_factory=dict)


def client_declared_tasks(ctx: ServerRequestContext[Any, Any]) -> bool:
    """This request opted in: a 2026-07-28 request whose client capabilities name the extension.

    Handshake-era declarations never count (SEP-2663: "MUST NOT treat this capability as enabling tasks").
    """
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return False
    capabilities = ctx.session.client_capabilities
    declared = capabilities.extensions if capabilities is not None else None
    return bool(declared) and EXTENSION_ID in (declared or {})


@dataclass(frozen=True)
class _Outcome:
    status: TaskStatus
    message: str | None
    body: dict[str, Any] | None  # the CallToolResult (completed) or the JSON-RPC error (failed)

    @classmethod
    def failure(cls, code: int, message: str) -> _Outcome:
        return cls("failed", message, {"code": code, "message": message})


class _Run:
    """A task running on this server: what tasks/get shows of it, and how to stop it (task_context.TaskProgress)."""

    def __init__(self, record: TaskRecord, group: TaskGroup, now_ms: Callable[[], int]) -> None:
        self.record = record
        self.group = group
        self.scope = anyio.CancelScope()
        self.finished = anyio.Event()  # terminal here (tasks/get on this server shows it)
        self.done = anyio.Event()  # and saved, or given up saving
        self.gloo_answered = False
        self.saved_message = record.status_message
        self._now_ms = now_ms
        self._text = ""

    # --- task_context.TaskProgress: called by the tool call ---

    def text(self, piece: str) -> None:
        self._text = (self._text + piece)[-STATUS_TEXT_LIMIT:]
        self._show(self._text)

    def waiting(self, seconds: int) -> None:
        if not self._text:
            self._show(f"Waiting for Gloo's answer ({seconds} s elapsed).")

    def answered(self) -> None:
        self.gloo_answered = True

    # ---

    def _show(self, message: str) -> None:
        if self.record.status == "working":
            self.record = replace(self.record, status_message=message, updated_ms=self._now_ms())

    def cancel(self) -> None:
        """Stop the call, unless Gloo has answered (then it records and returns the answer)."""
        if not self.gloo_answered:
            self.scope.cancel()

    def end(self, outcome: _Outcome, now_ms: int) -> None:
        self.record = replace(
            self.record,
            status=outcome.status,
            status_message=outcome.message,
            outcome=None if outcome.body is None else json.dumps(outcome.body),
            updated_ms=now_ms,
        )
        self.finished.set()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _task(record: TaskRecord) -> dict[str, Any]:
    """The wire ``Task``: integer milliseconds, ISO 8601 times."""
    body: dict[str, Any] = {
        "taskId": record.task_id,
        "status": record.status,
        "createdAt": _iso(record.created_ms),
        "lastUpdatedAt": _iso(record.updated_ms),
        "ttlMs": record.expires_ms - record.created_ms,
        "pollIntervalMs": record.poll_ms,
    }
    if record.status_message:
        body["statusMessage"] = record.status_message
    return body


def _detailed(record: TaskRecord) -> dict[str, Any]:
    """The wire ``DetailedTask`` of tasks/get: the result or the error inline once terminal."""
    body = _task(record)
    if record.outcome is not None and record.status == "completed":
        body["result"] = json.loads(record.outcome)
    elif record.outcome is not None and record.status == "failed":
        body["error"] = json.loads(record.outcome)
    return body


def _unknown() -> MCPError:
    return MCPError(code=INVALID_PARAMS, message=NOT_FOUND)


def _check_name_header(ctx: ServerRequestContext[Any, Any], task_id: str) -> None:
    """On HTTP, ``Mcp-Name`` must carry the taskId (SEP-2243 routing headers), as the SDK checks for tools/call."""
    headers = getattr(ctx.request, "headers", None)
    if headers is not None and decode_header_value(headers.get("mcp-name")) != task_id:
        raise MCPError(code=HEADER_MISMATCH, message="Mcp-Name header does not match params.taskId")


async def _call(call_next: CallNext, ctx: ServerRequestContext[Any, Any]) -> _Outcome:
    """The tool call, exactly as a synchronous call runs it; its result or JSON-RPC error as an outcome."""
    try:
        result = await call_next(ctx)
    except MCPError as error:
        message = error.error.message
        return _Outcome("failed", message, error.error.model_dump(by_alias=True, mode="json", exclude_none=True))
    except Exception:
        logger.exception("a task's tool call failed unexpectedly")
        return _Outcome.failure(INTERNAL_ERROR, UNEXPECTED)
    if not isinstance(result, CallToolResult):  # these tools never ask for input
        logger.error("a task's tool call returned %s, not a CallToolResult", type(result).__name__)
        return _Outcome.failure(INTERNAL_ERROR, UNEXPECTED)
    body = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    body["resultType"] = "complete"  # as the synchronous call's result carries it on 2026-07-28 (ext-tasks needs it)
    return _Outcome("completed", None, body)


class Tasks:
    """The tasks of one server: creation, background runs, and the three task methods."""

    def __init__(
        self,
        state: AppState,
        timings: TaskTimings | None = None,
        *,
        tools: frozenset[str] = TASK_TOOLS,
        required: frozenset[str] = frozenset(),
    ) -> None:
        """``tools`` may answer with a task; ``required`` (none of gloo-mcp's) only as one, so a request that did
        not declare the extension is refused with -32021 (the conformance suite's fixture servers use both)."""
        self._state = state
        self._tools = tools | required
        self._required = required
        self._timings = timings = timings or TaskTimings()
        self._ttl_ms = round(1000 * max(timings.ttl, state.settings.timeout + 300))
        self._lease_ms = round(1000 * timings.lease)
        self._poll_ms = round(1000 * timings.poll_interval)
        self._runs: dict[str, _Run] = {}
        self._groups: list[TaskGroup] = []

    def _now_ms(self) -> int:
        return int(self._timings.clock() * 1000)

    @property
    def running(self) -> int:
        """Tasks this server is running now."""
        return sum(1 for run in self._runs.values() if not run.finished.is_set())

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """The lifespan's part: a task group for the runs; at the end, running tasks may finish within the drain
        time, then are stopped (and say so). The task store is closed after the last lifespan."""
        async with anyio.create_task_group() as group:
            self._groups.append(group)
            try:
                yield
            finally:
                self._groups.remove(group)
                with anyio.CancelScope(shield=True):
                    await self._drain(group)
                group.cancel_scope.cancel()
        if not self._groups:
            with anyio.CancelScope(shield=True):
                await self._state.close_task_store()

    async def _drain(self, group: TaskGroup) -> None:
        waiting = [run for run in self._runs.values() if run.group is group]
        drain = self._timings.drain if self._timings.drain is not None else self._state.settings.timeout
        with anyio.move_on_after(drain):
            for run in waiting:
                await run.done.wait()

    # --- tools/call ---------------------------------------------------------------------------

    async def call_tool(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """A task for send_message/continue_chat when the request opted in; otherwise the call, as always.

        The call also runs synchronously when no task can be made: no caller (the call then says
        why), an unavailable task store, or a server already running ``max_running`` tasks.
        """
        if params.name in self._required and not client_declared_tasks(ctx):
            raise MCPError(
                code=MISSING_REQUIRED_CLIENT_CAPABILITY,
                message=f"{params.name} runs only as a task: declare the {EXTENSION_ID} extension",
                data={"requiredCapabilities": {"extensions": {EXTENSION_ID: {}}}},
            )
        if params.name not in self._tools or not client_declared_tasks(ctx) or not self._groups:
            return await call_next(ctx)
        self._forget_finished()
        if self.running >= self._timings.max_running:
            logger.warning("running %d tasks already: answering %s synchronously", self.running, params.name)
            return await call_next(ctx)
        place = AsyncExitStack()
        try:
            owner = self._state.caller()
            await place.enter_async_context(self._state.admitted(owner))  # a refused caller costs no row
            store = await self._state.task_store()
            now = self._now_ms()
            record = TaskRecord(
                task_id=secrets.token_urlsafe(24),
                owner=owner,
                tool=params.name,
                status="working",
                status_message=WORKING,
                outcome=None,
                created_ms=now,
                updated_ms=now,
                expires_ms=now + self._ttl_ms,
                lease_ms=now + self._lease_ms,
                poll_ms=self._poll_ms,
            )
            await store.create(record, now_ms=now)  # durable before the taskId is sent
        except StoreError as error:
            await place.aclose()
            logger.warning("no task store (%s): answering %s synchronously", error.message, params.name)
            return await call_next(ctx)
        except GlooError:  # configuration, identity or fair use: the call itself says what is wrong
            await place.aclose()
            return await call_next(ctx)
        group = self._groups[-1]
        run = self._runs[record.task_id] = _Run(record, group, self._now_ms)
        group.start_soon(self._run_holding, place, run, store, call_next, ctx, name=f"gloo-mcp task {params.name}")
        return {"resultType": "task", **_task(record)}

    async def _run_holding(
        self,
        place: AsyncExitStack,
        run: _Run,
        store: TaskStore,
        call_next: CallNext,
        ctx: ServerRequestContext[Any, Any],
    ) -> None:
        """The run, holding the caller's place taken at creation (given back however the run ends)."""
        try:
            with self._state.admitted_ahead(run.record.owner):
                await self._run(run, store, call_next, ctx)
        finally:
            with anyio.CancelScope(shield=True):
                await place.aclose()

    async def _run(self, run: _Run, store: TaskStore, call_next: CallNext, ctx: ServerRequestContext[Any, Any]) -> None:
        """The call in the background. Never raises but the server's own cancellation: one run's failure must
        not end the lifespan's task group, and with it every other run."""
        outcome: _Outcome | None = None
        try:
            with running_as(run), run.scope:
                async with anyio.create_task_group() as watch:
                    watch.start_soon(self._watch, run, store)
                    try:
                        outcome = await _call(call_next, ctx)
                    finally:
                        watch.cancel_scope.cancel()
        except anyio.get_cancelled_exc_class():  # the server is stopping
            with anyio.CancelScope(shield=True):
                await self._settle(run, store, _Outcome.failure(INTERNAL_ERROR, STOPPED), retries=())
            raise
        except Exception:  # _call and _watch catch what they expect; anything else is a bug, reported in the task
            logger.exception("task %s failed unexpectedly", run.record.task_id[:8])
            outcome = _Outcome.failure(INTERNAL_ERROR, UNEXPECTED)
        await self._settle(run, store, outcome or _Outcome("cancelled", CANCELLED, None))

    async def _watch(self, run: _Run, store: TaskStore) -> None:
        """Every watch interval: save new progress text, renew the lease, and stop on a cancel sent elsewhere."""
        while True:
            await anyio.sleep(self._timings.watch_interval)
            message = run.record.status_message
            changed = message if message != run.saved_message else None
            now = self._now_ms()
            try:
                cancel = await store.renew(
                    run.record.task_id, lease_ms=now + self._lease_ms, message=changed, now_ms=now
                )
            except StoreError as error:  # the next renewal may work; the lease outlasts several misses
                logger.warning("task %s: could not renew its lease: %s", run.record.task_id[:8], error.message)
                continue
            run.saved_message = message
            if cancel is None or cancel:  # cancelled on another replica, or no longer ours to finish
                run.cancel()

    async def _settle(
        self, run: _Run, store: TaskStore, outcome: _Outcome, *, retries: Sequence[float] = _SAVE_RETRIES
    ) -> None:
        """Make the task terminal here, then in the store (retrying a failing store for a few seconds)."""
        run.end(outcome, self._now_ms())
        record = run.record
        try:
            for delay in (0.0, *retries):
                await anyio.sleep(delay)
                try:
                    saved = await store.finish(
                        record.task_id,
                        status=record.status,
                        message=record.status_message,
                        outcome=record.outcome,
                        now_ms=record.updated_ms,
                    )
                except StoreError as error:
                    logger.warning("task %s: could not save its result: %s", record.task_id[:8], error.message)
                    continue
                if not saved:  # its lease lapsed (renewals failed) and a replica reported it lost: that stands
                    logger.warning("task %s ended %s after it was reported lost", record.task_id[:8], record.status)
                self._runs.pop(record.task_id, None)
                return
            logger.error("task %s: its result is kept in memory only, on this server", record.task_id[:8])
        finally:
            run.done.set()

    def _forget_finished(self) -> None:
        """Drop expired results that only this server's memory kept (their store was unavailable)."""
        now = self._now_ms()
        for task_id, run in list(self._runs.items()):
            if run.done.is_set() and run.record.expires_ms <= now:
                del self._runs[task_id]

    # --- tasks/get, tasks/update, tasks/cancel ----------------------------------------------

    def _owner(self, ctx: ServerRequestContext[Any, Any], task_id: str) -> str:
        """The gate of every task method: the extension declared (-32021), the routing header (-32020), the caller."""
        require_client_extension(ctx, EXTENSION_ID)
        _check_name_header(ctx, task_id)
        try:
            return self._state.caller()
        except GlooError as error:
            raise MCPError(code=INTERNAL_ERROR, message=error.message) from None

    async def _find(self, owner: str, task_id: str) -> TaskRecord:
        """``owner``'s task as it stands now; -32602 for an unknown, expired or someone else's taskId."""
        now = self._now_ms()
        run = self._runs.get(task_id)
        if run is not None and run.record.owner == owner:
            if run.record.expires_ms <= now:
                raise _unknown()
            return run.record
        try:
            store = await self._state.task_store()
            record = await store.get(task_id, owner=owner, now_ms=now)
            if record is not None and record.status == "working" and record.lease_ms < now:
                lost = _Outcome.failure(INTERNAL_ERROR, LOST)
                await store.abandon(task_id, message=LOST, outcome=json.dumps(lost.body), now_ms=now)
                record = await store.get(task_id, owner=owner, now_ms=now)  # failed, or finished meanwhile
        except StoreError as error:
            logger.warning("could not read task %s: %s", task_id[:8], error.message)
            raise MCPError(code=INTERNAL_ERROR, message=UNREADABLE) from None
        if record is None:
            raise _unknown()
        return record

    async def get(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        owner = self._owner(ctx, params.task_id)
        return _detailed(await self._find(owner, params.task_id))

    async def update(self, ctx: ServerRequestContext[Any, Any], params: UpdateParams) -> dict[str, Any]:
        """An empty acknowledgement: these tasks never ask for input, so there is nothing to update."""
        owner = self._owner(ctx, params.task_id)
        await self._find(owner, params.task_id)
        return {}

    async def cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        """Acknowledge, and stop the task if it still waits for Gloo: here at once (waiting briefly for it to
        stop), elsewhere at its server's next lease renewal. A terminal task stays as it is."""
        owner = self._owner(ctx, params.task_id)
        record = await self._find(owner, params.task_id)
        if record.status in TERMINAL:
            return {}
        run = self._runs.get(params.task_id)
        if run is not None:
            run.cancel()
            with anyio.move_on_after(self._timings.cancel_wait):
                await run.finished.wait()
            return {}
        try:
            await (await self._state.task_store()).request_cancel(params.task_id, owner=owner)
        except StoreError as error:
            logger.warning("could not cancel task %s: %s", params.task_id[:8], error.message)
            raise MCPError(code=INTERNAL_ERROR, message=UNREADABLE) from None
        return {}


async def refuse_undeclared_task_subscriptions(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """Server middleware: a ``subscriptions/listen`` asking for task notifications (``notifications.taskIds``)
    without the extension declared is refused with -32021, as SEP-2663 requires. A declaring client's stream is
    served as usual; gloo-mcp pushes no task notifications (they are optional), so its acknowledgement does not
    list the taskIds, and the client polls ``tasks/get``."""
    if ctx.method == "subscriptions/listen" and ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        notifications = (ctx.params or {}).get("notifications")
        if isinstance(notifications, dict) and notifications.get("taskIds") is not None:
            require_client_extension(ctx, EXTENSION_ID)
    return await call_next(ctx)


class TasksExtension(Extension):
    """The SDK extension: advertises ``io.modelcontextprotocol/tasks`` (settings ``{}``), serves the three
    methods on 2026-07-28 (other versions: -32601, as for tasks/result and tasks/list everywhere), and
    intercepts tools/call."""

    identifier = EXTENSION_ID

    def __init__(self, tasks: Tasks) -> None:
        self._tasks = tasks

    def methods(self) -> Sequence[MethodBinding]:
        versions = frozenset(MODERN_PROTOCOL_VERSIONS)
        return [
            MethodBinding("tasks/get", TaskIdParams, self._tasks.get, versions),
            MethodBinding("tasks/update", UpdateParams, self._tasks.update, versions),
            MethodBinding("tasks/cancel", TaskIdParams, self._tasks.cancel, versions),
        ]

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        return await self._tasks.call_tool(params, ctx, call_next)
