"""Serve MCP over stdio through asyncio pipes instead of worker threads.

The SDK's stdio transport reads and writes through ``anyio.wrap_file``: a worker-thread
hop per line read and two per message written, about half of a trivial call's round
trip here (docs/performance.md). This module does that transport's job over non-blocking
pipes instead: it frames lines, validates each once with the SDK's own message type
(``mcp_types.jsonrpc_message_adapter``), and hands the server the same message streams.
It keeps the SDK's guarantee: while serving, fd 1 points at stderr and fd 0 at
/dev/null, so a stray ``print`` or a child process cannot corrupt the JSON-RPC stream;
both are restored on exit.

It also answers what the SDK's transport leaves unanswered. A line over ``_MAX_LINE``
bytes is drained without being held whole and answered with a parse error (id null). A
line the message type refuses is answered too, through the same writer as every other
message: -32700 when it is not UTF-8 JSON (id null), -32600 when it is JSON but not a
valid message, for instance a string holding an unpaired UTF-16 surrogate escape such as
``"\\ud800"`` (with the request's id when it has one). Blank lines are skipped.

A stop never loses an answer: when the host closes stdin, or sends SIGTERM, the requests
already read are answered before the server exits (each within the stop limit
``serve_stdio`` is given: GLOO_TIMEOUT and a margin, drain.py), and the answers written to
stdout. After SIGTERM, stdin is still read: notifications (a cancellation) pass, and a new
request is answered at once with one sentence saying the server is stopping. A second
SIGTERM ends the process at once (exit 143, stop_signals.py). Ctrl-C (SIGINT) stops at
once, as before.

A host may open with the 2026-07-28 ``server/discover`` probe and, when the answer is slow,
fall back to the ``initialize`` handshake on the same pipe (@ai-sdk/mcp 2.x gives discovery
1 s). The SDK's loop locks a connection to the era of its first request and would refuse
that ``initialize``; here it starts a handshake-era session that serves the rest of the pipe
(:func:`_serve_eras`), while the discovery already read is still answered.

Where asyncio cannot watch the descriptors (Windows, stdin redirected from a regular
file) or the SDK's internals are not where this module expects them, it serves with the
SDK's transport instead, with the SDK's behaviour: no line cap, a line that fails to
parse is logged and dropped without an answer, and no drain on SIGTERM or stdin's end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import IO, Any, Self

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server import MCPServer
from mcp.server.lowlevel import Server
from mcp.server.runner import serve_dual_era_loop
from mcp.shared._stream_protocols import ReadStream, WriteStream  # the types serve_dual_era_loop takes
from mcp.shared.message import SessionMessage
from mcp_types import (
    INVALID_REQUEST,
    PARSE_ERROR,
    PROTOCOL_VERSION_META_KEY,
    ErrorData,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    RequestId,
    jsonrpc_message_adapter,
)

from gloo_mcp.transports.drain import DRAIN_MARGIN
from gloo_mcp.transports.stop_signals import StopSignals

__all__ = ["serve_stdio"]

logger = logging.getLogger(__name__)

# One JSON-RPC message. Every tool argument is capped (a query at 10,000 characters, lists
# at 50 ids), so a real request is tens of KiB even fully \u-escaped; 4 MiB leaves ample room
# while keeping the reader's buffer, which may reach twice the limit before the pipe is
# paused, small.
_MAX_LINE = 4 * 1024 * 1024

_SHUTTING_DOWN = -32000  # JSON-RPC's range for implementation-defined server errors
_DEFAULT_STOP_LIMIT = 60.0 + DRAIN_MARGIN


class _Lines:
    """Async iterator of the newline-framed lines arriving on a pipe.

    Yields ``None`` in place of a line longer than the reader's limit: that line is drained
    a buffer at a time and dropped, so memory stays bounded by the limit.
    """

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes | None:
        try:
            return await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:  # EOF: the host closed stdin
            if not end.partial.strip():
                raise StopAsyncIteration from None
            return end.partial
        except asyncio.LimitOverrunError as overrun:
            await self._discard_line(overrun)
            return None

    async def _discard_line(self, overrun: asyncio.LimitOverrunError) -> None:
        # The reader leaves an overrun's bytes buffered (at most about twice its limit):
        # drop them, then look for the line's end again in what arrives next.
        while True:
            await self._reader.readexactly(overrun.consumed)
            try:
                await self._reader.readuntil(b"\n")  # the line's tail, short enough now
            except asyncio.IncompleteReadError:  # the pipe ended inside the line
                return
            except asyncio.LimitOverrunError as more:
                overrun = more
            else:
                return


def _error(request_id: RequestId | None, code: int, message: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=message))


def _is_text(value: Any) -> bool:
    """Whether ``value`` (parsed JSON) is valid Unicode throughout, i.e. holds no unpaired surrogate."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    except (ValueError, RecursionError):
        return True  # whatever is wrong, it is not a surrogate: the generic answer fits
    return True


def _request_id(message: Any) -> RequestId | None:
    """The id of a message that is a request (it names a method); None for anything else."""
    if not isinstance(message, dict) or "method" not in message:
        return None  # a response's id is one of the client's requests: answering it would confuse the client
    request_id = message.get("id")
    if isinstance(request_id, int) and not isinstance(request_id, bool):
        return request_id
    if isinstance(request_id, str) and _is_text(request_id):
        return request_id
    return None


def _rejection(line: bytes) -> JSONRPCError | None:
    """The answer to a line the SDK's message type refused; None for a blank line, which needs none.

    Called only once validation has failed, so the hot path parses each line once.
    """
    if not line.strip():
        return None
    try:
        message = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return _error(None, PARSE_ERROR, "Parse error: the message is not valid UTF-8, so it was not processed.")
    except json.JSONDecodeError as exc:
        return _error(
            None, PARSE_ERROR, f"Parse error: the message is not valid JSON ({exc.msg} at column {exc.colno})."
        )
    except RecursionError:
        return _error(None, PARSE_ERROR, "Parse error: the message nests too deeply, so it was not processed.")
    if not _is_text(message):
        text = (
            "Invalid request: the message contains an unpaired UTF-16 surrogate escape (such as \\ud800), "
            "which is not valid Unicode, so it was not processed."
        )
    else:
        text = "Invalid request: the message is not a valid JSON-RPC 2.0 request, notification or response."
    return _error(_request_id(message), INVALID_REQUEST, text)


_OVERSIZED = _error(
    None, PARSE_ERROR, f"Parse error: the message exceeded {_MAX_LINE // (1024 * 1024)} MiB and was discarded."
)


class _Calls:
    """The host's requests that the server has read and not yet answered, and whether it is stopping."""

    def __init__(self, stop_limit: float) -> None:
        self.stop_limit = stop_limit
        self.stopping = anyio.Event()
        self._pending: set[RequestId] = set()
        self._idle = anyio.Event()
        self._idle.set()

    def stop(self) -> None:
        """Take no new requests; the server exits once those read are answered (or the stop limit passes)."""
        self.stopping.set()

    def read(self, message: JSONRPCMessage) -> None:
        if isinstance(message, JSONRPCRequest):
            if not self._pending:
                self._idle = anyio.Event()
            self._pending.add(message.id)
        elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
            request_id = (message.params or {}).get("requestId")  # a cancelled request gets no answer
            if isinstance(request_id, int | str):
                self._settle(request_id)

    def written(self, message: JSONRPCMessage) -> None:
        if isinstance(message, JSONRPCResponse | JSONRPCError) and message.id is not None:
            self._settle(message.id)

    def _settle(self, request_id: RequestId) -> None:
        self._pending.discard(request_id)
        if not self._pending:
            self._idle.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def answered(self) -> None:
        """Return once every request read has been answered."""
        await self._idle.wait()


def _refusal(request: JSONRPCRequest) -> JSONRPCError:
    return _error(
        request.id,
        _SHUTTING_DOWN,
        "gloo-mcp is shutting down and takes no new requests; start it again to continue.",
    )


async def _read_lines(
    lines: _Lines,
    inbound: MemoryObjectSendStream[SessionMessage],
    outbound: MemoryObjectSendStream[SessionMessage],
    calls: _Calls,
) -> None:
    """Validate each line once and pass it to the server; answer those that fail through the one writer.

    At the end of stdin the server is asked to stop. Once it is stopping, a request is
    answered with a refusal instead of reaching the server.
    """
    async for line in lines:
        if line is None:
            answer: JSONRPCError | None = _OVERSIZED
        else:
            try:
                message = jsonrpc_message_adapter.validate_json(line, by_name=False)
            except ValueError:  # pydantic's ValidationError, for bad JSON and bad shape alike
                answer = _rejection(line)
            else:
                if isinstance(message, JSONRPCRequest) and calls.stopping.is_set():
                    await outbound.send(SessionMessage(_refusal(message)))
                    continue
                calls.read(message)
                await inbound.send(SessionMessage(message))
                continue
        if answer is not None:
            logger.debug("answered an unreadable message: %s", answer.error.message)
            await outbound.send(SessionMessage(answer))
    calls.stop()


async def _read_messages(
    lines: _Lines,
    inbound: MemoryObjectSendStream[SessionMessage],
    outbound: MemoryObjectSendStream[SessionMessage],
    calls: _Calls,
) -> None:
    """Read until asked to stop (stdin's end, or SIGTERM), then end the server's input once every request is answered.

    Closing ``inbound`` is what ends the server; its requests still running then are
    cancelled, so that waits for their answers, at most ``calls.stop_limit`` seconds.
    """
    async with inbound, outbound, anyio.create_task_group() as reading:
        reading.start_soon(_read_lines, lines, inbound, outbound, calls)
        await calls.stopping.wait()
        if calls.pending:
            logger.info("stopping: answering %d request(s) in flight first", calls.pending)
            with anyio.move_on_after(calls.stop_limit):
                await calls.answered()
            if calls.pending:
                logger.warning(
                    "stopping: %d request(s) still running after %g s are cut", calls.pending, calls.stop_limit
                )
        reading.cancel_scope.cancel()


async def _write_messages(
    outbound: MemoryObjectReceiveStream[SessionMessage], writer: asyncio.StreamWriter, calls: _Calls
) -> None:
    """The pipe's only writer: one ``write`` of one whole line per message, in the order they were sent."""
    async with outbound:
        async for session_message in outbound:
            line = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
            writer.write((line + "\n").encode("utf-8"))
            await writer.drain()
            calls.written(session_message.message)


def _watchable(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


@contextmanager
def _claimed_std_streams() -> Iterator[tuple[IO[bytes], IO[bytes]]]:
    """Private duplicates of fds 0 and 1 for the wire; the numbered fds point elsewhere meanwhile."""
    wire_in = os.fdopen(os.dup(0), "rb", buffering=0)
    wire_out = os.fdopen(os.dup(1), "wb", buffering=0)
    saved_in, saved_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
        os.dup2(2, 1)
        yield wire_in, wire_out
    finally:
        sys.stdout.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_in, 0)
        for fd in (null, saved_in, saved_out):
            os.close(fd)


@asynccontextmanager
async def _pipes(wire_in: IO[bytes], wire_out: IO[bytes]) -> AsyncIterator[tuple[_Lines, asyncio.StreamWriter]]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_MAX_LINE)
    read_transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), wire_in)
    write_transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, wire_out)
    writer = asyncio.StreamWriter(write_transport, protocol, None, loop)
    try:
        yield _Lines(reader), writer
    finally:
        read_transport.close()
        write_transport.close()


@asynccontextmanager
async def _message_streams(
    lines: _Lines, writer: asyncio.StreamWriter, calls: _Calls
) -> AsyncIterator[tuple[MemoryObjectReceiveStream[SessionMessage], MemoryObjectSendStream[SessionMessage]]]:
    """The server's two message streams over the pipes, shaped as the SDK's ``stdio_server`` yields them.

    Plain memory streams: the SDK's dispatcher reads a sender's contextvars only where the
    stream carries them (HTTP middleware), and the stdin reader sets none.
    """
    inbound_send, inbound = anyio.create_memory_object_stream[SessionMessage](0)
    outbound, outbound_receive = anyio.create_memory_object_stream[SessionMessage](0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_read_messages, lines, inbound_send, outbound.clone(), calls)
        tg.start_soon(_write_messages, outbound_receive, writer, calls)
        yield inbound, outbound


def _opens_modern(request: JSONRPCRequest) -> bool:
    """Whether ``request`` opens a 2026-07-28 connection: it carries the envelope's protocol version."""
    meta = (request.params or {}).get("_meta")
    return request.method != "initialize" and isinstance(meta, dict) and PROTOCOL_VERSION_META_KEY in meta


class _SharedWriter:
    """One session's handle on the connection's writer: it sends through it, and its close leaves it open."""

    def __init__(self, stream: WriteStream[SessionMessage]) -> None:
        self._stream = stream

    async def send(self, item: SessionMessage, /) -> None:
        await self._stream.send(item)

    async def aclose(self) -> None:
        """The connection closes the writer once every session has ended."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


async def _serve_eras(
    lowlevel: Server[Any],
    read_stream: ReadStream[SessionMessage | Exception],
    write_stream: WriteStream[SessionMessage],
) -> None:
    """Serve one stdio connection like ``Server.run``, and accept ``initialize`` after a 2026-07-28 opening.

    Each session is the SDK's dual-era loop on its own inbound stream, over one lifespan.
    An ``initialize`` on a 2026-07-28 session starts a handshake-era session that takes the
    rest of the pipe; the earlier session keeps its requests already read and answers them,
    and ends when the pipe does.
    """
    options = lowlevel.create_initialization_options()
    sessions: list[MemoryObjectSendStream[SessionMessage | Exception]] = []
    modern: bool | None = None  # the current session's era, once its first request decides it
    async with write_stream, lowlevel.lifespan(lowlevel) as state, anyio.create_task_group() as tg:

        def open_session() -> MemoryObjectSendStream[SessionMessage | Exception]:
            send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            tg.start_soon(
                partial(
                    serve_dual_era_loop,
                    lowlevel,
                    receive,
                    _SharedWriter(write_stream),
                    lifespan_state=state,
                    init_options=options,
                )
            )
            sessions.append(send)
            return send

        try:
            current = open_session()
            async with read_stream:
                async for item in read_stream:
                    message = item.message if isinstance(item, SessionMessage) else None
                    if isinstance(message, JSONRPCRequest):
                        if modern and message.method == "initialize":
                            logger.info("initialize after server/discover: serving the handshake era from here on")
                            current, modern = open_session(), None
                        if modern is None:
                            modern = _opens_modern(message)
                    await current.send(item)
        finally:
            for send in sessions:
                send.close()


def _fast_path_available(server: MCPServer[Any]) -> bool:
    return (
        sys.platform != "win32"
        and hasattr(server, "_lowlevel_server")
        and sys.stdin is not None
        and sys.stdout is not None
        and _watchable(0)
        and _watchable(1)
    )


async def _serve(server: MCPServer[Any], stop_limit: float) -> None:
    if not _fast_path_available(server):
        logger.debug("serving stdio with the SDK's threaded transport")
        if not hasattr(server, "_lowlevel_server"):
            await server.run_stdio_async()
            return
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (sdk_read, sdk_write):
            await _serve_eras(server._lowlevel_server, sdk_read, sdk_write)
        return
    lowlevel = server._lowlevel_server
    calls = _Calls(stop_limit)
    signals = StopSignals(lambda _: calls.stop(), signals=(signal.SIGTERM,))
    with _claimed_std_streams() as (wire_in, wire_out), signals.installed():
        async with (
            _pipes(wire_in, wire_out) as (lines, writer),
            _message_streams(lines, writer, calls) as (read_stream, write_stream),
        ):
            await _serve_eras(lowlevel, read_stream, write_stream)


def serve_stdio(server: MCPServer[Any], *, stop_limit: float = _DEFAULT_STOP_LIMIT) -> None:
    """Serve ``server`` over this process's stdin/stdout until the host closes stdin or sends SIGTERM.

    Either way the requests already read are answered first, waiting at most ``stop_limit``
    seconds (``drain.drain_timeout(GLOO_TIMEOUT)``); then it returns.
    """
    anyio.run(_serve, server, stop_limit)
