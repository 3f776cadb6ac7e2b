"""Serve MCP over stdio through asyncio pipes instead of worker threads.

The SDK's stdio transport reads and writes through ``anyio.wrap_file``: a worker-thread
hop per line read and two per message written, about half of a trivial call's round
trip here (docs/performance.md). This module feeds the SDK's own stdio plumbing (JSON
parsing, message streams) from non-blocking pipes instead, and keeps its guarantee:
while serving, fd 1 points at stderr and fd 0 at /dev/null, so a stray ``print`` or a
child process cannot corrupt the JSON-RPC stream; both are restored on exit.

Where asyncio cannot watch the descriptors (Windows, stdin redirected from a regular
file) or the SDK's internals are not where this module expects them, it serves with the
SDK's transport instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import IO, Any, Self

import anyio
from mcp.server import MCPServer
from mcp.server.stdio import stdio_server

__all__ = ["serve_stdio"]

logger = logging.getLogger(__name__)

_MAX_LINE = 64 * 1024 * 1024  # one JSON-RPC message; the SDK's reader has no limit either


class _Lines:
    """Async iterator of the text lines arriving on a pipe (what the SDK's reader loop consumes)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:  # EOF: the host closed stdin
            if not end.partial.strip():
                raise StopAsyncIteration from None
            line = end.partial
        return line.decode("utf-8", errors="replace")


class _Writer:
    """The ``write``/``flush`` pair the SDK's writer loop calls, over a pipe."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._writer.drain()


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
async def _pipes(wire_in: IO[bytes], wire_out: IO[bytes]) -> AsyncIterator[tuple[_Lines, _Writer]]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_MAX_LINE)
    read_transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), wire_in)
    write_transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, wire_out)
    writer = asyncio.StreamWriter(write_transport, protocol, None, loop)
    try:
        yield _Lines(reader), _Writer(writer)
    finally:
        read_transport.close()
        write_transport.close()


def _fast_path_available(server: MCPServer[Any]) -> bool:
    return (
        sys.platform != "win32"
        and hasattr(server, "_lowlevel_server")
        and sys.stdin is not None
        and sys.stdout is not None
        and _watchable(0)
        and _watchable(1)
    )


async def _serve(server: MCPServer[Any]) -> None:
    if not _fast_path_available(server):
        logger.debug("serving stdio with the SDK's threaded transport")
        await server.run_stdio_async()
        return
    lowlevel = server._lowlevel_server
    with _claimed_std_streams() as (wire_in, wire_out):
        async with (
            _pipes(wire_in, wire_out) as (lines, writer),
            stdio_server(lines, writer) as (read_stream, write_stream),  # type: ignore[arg-type]
        ):
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


def serve_stdio(server: MCPServer[Any]) -> None:
    """Serve ``server`` over this process's stdin/stdout until the host closes stdin."""
    anyio.run(_serve, server)
