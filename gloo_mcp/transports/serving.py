"""Run an ASGI app under uvicorn: in the foreground (commands) or on a thread (tests, demo, benchmarks).

Both the simulator and the Streamable HTTP server go through here, so both get the same
socket options, the same quiet, stderr-only logging and the same limits on clients
(:class:`ConnectionLimits`):

- a request's head, then its body, must arrive within a deadline; a client that sends
  nothing, trickles or stalls is disconnected (plain uvicorn waits for it forever);
- a request head (request line and headers) longer than 16 KiB is answered ``431`` with
  ``Connection: close`` and never reaches the app, whether it is complete or not and
  however it arrives: whole in one read, trickled, or pipelined behind another request
  (h11's own limit covers only a head still missing its end);
- an idle kept-alive connection is closed;
- beyond a number of open connections, a new one is answered ``503`` with ``Retry-After``
  at once and closed, so a flood is refused cheaply instead of queued.

The deadlines cover receiving a request only: a response, such as a tool call's progress
stream lasting a minute, is never cut by them. Nor by a stop: given a
:class:`~gloo_mcp.transports.drain.Drain`, SIGTERM and SIGINT let the calls in flight finish first
(draining_uvicorn.py).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, TypeAlias

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    from gloo_mcp.transports.drain import Drain

__all__ = [
    "DEFAULT_LIMITS",
    "LOOPBACK",
    "ConnectionLimits",
    "PortInUseError",
    "running_in_thread",
    "serve_in_foreground",
]

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"

Lifespan = Literal["on", "off"]


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take to send a request, and how many may be connected at once.

    The defaults are what we would run a public server with:

    ``header_timeout`` (10 s) to send a request head, counted from connecting, or from the
    first byte of a follow-up request on a kept-alive connection. A head is a few hundred
    bytes that a phone on a poor link sends in well under a second, so only a client that
    stalls on purpose is cut, and each one costs a socket for 10 s at most.

    ``body_timeout`` (30 s) to send the body once the head is in. Messages here are a few
    kilobytes (a query is at most 10,000 characters) and the largest accepted is 1 MiB,
    which even a 0.5 Mbit/s uplink delivers in under 20 s.

    ``idle_timeout`` (15 s, whole seconds: it is uvicorn's keep-alive timer) a kept-alive
    connection may sit idle. Longer than the 5 s after which httpx-style client pools drop
    an idle connection, so the client ends reuse and no request races the server's close;
    behind a load balancer, set it above the balancer's idle timeout (60 s on AWS ALB) for
    the same reason.

    ``max_connections`` (128) open at once. A tool call holds its connection for up to a
    minute and the calls share 64 upstream connections, so beyond twice that, calls would
    only queue longer; 128 sockets stay well inside a 1,024 file-descriptor limit. Past it,
    a new connection gets ``503`` with ``Retry-After`` and is closed, without reading it.

    A per-address limit is a reverse proxy's job: one host can still take every slot,
    though each for no longer than the deadlines above.
    """

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: int = 15
    max_connections: int = 128

    def __post_init__(self) -> None:
        if min(self.header_timeout, self.body_timeout, self.idle_timeout) <= 0 or self.max_connections < 1:
            raise ValueError(f"connection limits must be positive: {self}")


DEFAULT_LIMITS = ConnectionLimits()

_MAX_HEAD_BYTES = 16 * 1024  # h11's own default, pinned: a longer request head is answered 431
_HEAD_END = re.compile(b"\n\r?\n")  # where h11 ends a head: the first blank line, CRLF or bare LF
_RETRY_AFTER_S = 5
_SHUTDOWN_AFTER_DRAIN_S = 2  # whole seconds, as uvicorn takes it
_REFUSAL_LINGER_S = 1.0  # how long a refused client gets to read its answer before the socket is closed


def _plain_response(status: bytes, body: bytes, *headers: bytes) -> bytes:
    """A whole HTTP/1.1 response with a text body, asking the client to close."""
    return b"".join(
        [
            b"HTTP/1.1 %s\r\n" % status,
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            *(header + b"\r\n" for header in headers),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


_REFUSAL = _plain_response(
    b"503 Service Unavailable",
    b"The server has as many connections as it accepts; retry in a few seconds.\n",
    b"retry-after: %d" % _RETRY_AFTER_S,
)
_HEAD_REFUSAL = _plain_response(
    b"431 Request Header Fields Too Large",
    b"The request line and headers came to more than %d KiB; send them shorter.\n" % (_MAX_HEAD_BYTES // 1024),
)

_Phase = Literal["head", "body", "refused"]
_Event: TypeAlias = h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]


class _HeadBoundedConnection(h11.Connection):
    """h11's server side of one connection, refusing a request head over ``max_head_bytes``, complete or not.

    h11's ``max_incomplete_event_size`` bounds a head only while it is still missing its
    end: a head that arrives whole in one read is parsed whatever its size. Here the bytes
    of the head being awaited are counted as they arrive, from the request's first byte to
    its blank line; once a head is over the limit, :meth:`next_event` parses nothing more
    (it answers ``NEED_DATA``, so uvicorn builds no request) and :attr:`head_too_large`
    tells the protocol to answer 431. Every head goes through :meth:`next_event`, so this
    holds for pipelined heads too, which were already buffered when their turn came.

    Only h11's public interface is used: at most ``max_head_bytes + 1`` bytes of the
    awaited head are kept alongside h11's buffer, and searched once each.
    """

    head_too_large = False

    def __init__(self, max_head_bytes: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_head_bytes)
        self._max_head_bytes = max_head_bytes
        # The start of the head being awaited (None: a head was just parsed, or a new cycle
        # starts with whatever h11 has buffered, read when it is next needed).
        self._head: bytearray | None = bytearray()
        self._searched = 0  # bytes of _head already searched for the blank line, without finding it

    def receive_data(self, data: bytes) -> None:
        super().receive_data(data)
        if self._head is not None:
            self._head += data[: self._max_head_bytes + 1 - len(self._head)]

    def start_next_cycle(self) -> None:
        super().start_next_cycle()
        self._head = None

    def next_event(self) -> _Event:
        if self.head_too_large:
            return h11.NEED_DATA
        if self.their_state is h11.IDLE and not self._head_fits():
            self.head_too_large = True
            return h11.NEED_DATA
        event = super().next_event()
        if self.their_state is not h11.IDLE:
            self._head = None
        return event

    def _head_fits(self) -> bool:
        """False once the awaited head is over the limit: no blank line ends it within the bytes allowed."""
        head = self._head
        if head is None:
            head = self._head = bytearray(self.trailing_data[0][: self._max_head_bytes + 1])
            self._searched = 0
        # A blank line is at most 3 bytes: one that straddles what was searched starts in its last 2.
        if _HEAD_END.search(head, max(0, self._searched - 2), self._max_head_bytes):
            return True
        self._searched = len(head)
        return len(head) <= self._max_head_bytes


class _Gate:
    """Bookkeeping one server's connections share (uvicorn runs them all on one event loop)."""

    def __init__(self) -> None:
        self.refused = 0  # refused connections still open while their 503 drains; not counted as served
        self.refusing = False  # so a flood logs one warning, not one per connection


class _GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with request deadlines, a bound on request heads and a bound on connections.

    A subclass of a dependency's internals, because uvicorn 0.54 offers neither: it arms
    no timer when a connection opens and cancels its keep-alive timer on the first byte of
    a request, so a client that sends a partial head, or nothing, holds its socket forever;
    and ``limit_concurrency`` refuses only once a full head has arrived, without
    ``Retry-After``, so stalled clients beyond the limit are still held; and h11's limit on
    a request head holds only while the head is incomplete (see :class:`_HeadBoundedConnection`).

    Kept small: which phase a connection is in is read from h11's public connection state,
    and from uvicorn we rely only on the ``conn``, ``transport`` and ``connections``
    attributes (``conn`` is swapped for a :class:`_HeadBoundedConnection` before any byte
    arrives) and the ``on_response_complete`` hook. :func:`_http_protocol` checks the
    hook and falls back to plain uvicorn (with a warning) if it is gone; a connection
    missing the attributes is served unguarded, with a warning.
    """

    limits: ClassVar[ConnectionLimits] = DEFAULT_LIMITS
    gate: ClassVar[_Gate]
    _layout_warned: ClassVar[bool] = False

    _guarded = False
    _refused = False  # refused for the connection limit: counted in gate.refused until it closes
    _phase: _Phase | None = None
    _deadline: asyncio.TimerHandle | None = None
    _bounded: _HeadBoundedConnection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._guarded = self._has_expected_layout(transport)
        if not self._guarded:
            return
        self.conn = self._bounded = _HeadBoundedConnection(_MAX_HEAD_BYTES)
        gate = self.gate
        if len(self.connections) - gate.refused > self.limits.max_connections:
            self._refuse()
            return
        if gate.refusing:
            gate.refusing = False
            logger.info("accepting connections again")
        self._enter("head")

    def data_received(self, data: bytes) -> None:
        if self._phase == "refused":
            return  # its 503 or 431 is on the way; what it sends now is never read
        super().data_received(data)
        if self._guarded:
            self._track(data_arrived=True)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # parses a pipelined request, if one is buffered
        if self._guarded:
            self._track(data_arrived=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._enter(None)
        if self._refused:
            self._refused = False
            self.gate.refused -= 1
        super().connection_lost(exc)

    def _has_expected_layout(self, transport: asyncio.Transport) -> bool:
        ok = isinstance(getattr(self, "conn", None), h11.Connection) and isinstance(
            getattr(self, "connections", None), set
        )
        ok = ok and getattr(self, "transport", None) is transport
        if not ok and not _GuardedH11Protocol._layout_warned:
            _GuardedH11Protocol._layout_warned = True
            logger.warning(
                "uvicorn's h11 protocol has changed shape: serving without request deadlines, "
                "and with h11's bound on incomplete request heads only"
            )
        return ok

    def _track(self, *, data_arrived: bool) -> None:
        conn = self.conn
        if self.transport.is_closing():
            self._enter(None)
        elif self._bounded.head_too_large:
            self._refuse_head()
        elif conn.our_state is h11.SEND_RESPONSE:  # a request is being served: only its body is ours to wait for
            self._enter("body" if conn.their_state is h11.SEND_BODY else None)
        elif data_arrived or conn.trailing_data[0]:  # part of the next head (or the rest of a body nobody read)
            self._enter("head")
        else:  # idle between requests: uvicorn's keep-alive timer closes it
            self._enter(None)

    def _enter(self, phase: _Phase | None) -> None:
        """Start ``phase``'s deadline; staying in a phase keeps its deadline running, so trickling never extends it."""
        if phase == self._phase:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = phase
        if phase is not None:
            self._deadline = asyncio.get_running_loop().call_later(self._timeout(phase), self._expire)

    def _timeout(self, phase: _Phase) -> float:
        if phase == "head":
            return self.limits.header_timeout
        if phase == "body":
            return self.limits.body_timeout
        return min(_REFUSAL_LINGER_S, self.limits.header_timeout)

    def _expire(self) -> None:
        phase, self._deadline = self._phase, None
        if phase != "refused":
            peer = self.transport.get_extra_info("peername")
            logger.info("closing a connection from %s: the request %s did not arrive in time", peer, phase)
        self.transport.close()  # connection_lost tells a request being served that its client is gone

    def _refuse(self) -> None:
        self._refused = True
        gate = self.gate
        gate.refused += 1
        if not gate.refusing:
            gate.refusing = True
            logger.warning(
                "connection limit (%d) reached: refusing new connections with 503 until some close",
                self.limits.max_connections,
            )
        self._answer_and_close(_REFUSAL)

    def _refuse_head(self) -> None:
        peer = self.transport.get_extra_info("peername")
        logger.info("refusing a request from %s: its head is longer than %d bytes", peer, _MAX_HEAD_BYTES)
        self._answer_and_close(_HEAD_REFUSAL)

    def _answer_and_close(self, response: bytes) -> None:
        """Send ``response`` (no request of this connection is being answered), then close after a short linger."""
        self.transport.write(response)
        # Half-close and let the client read the answer: closing outright with its request unread
        # would send a reset, which can discard the answer before the client sees it.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._enter("refused")


_HOOKS = ("connection_made", "data_received", "on_response_complete", "connection_lost")


def _http_protocol(limits: ConnectionLimits) -> tuple[type[asyncio.Protocol] | Literal["h11"], int | None]:
    """The protocol class for uvicorn's ``http=``, and a ``limit_concurrency`` if we fall back to uvicorn's own.

    Always h11, never httptools (even when installed), so the deadlines and the bound on
    request heads apply in every install.
    """
    if all(callable(getattr(H11Protocol, name, None)) for name in _HOOKS):
        protocol = type("GuardedH11Protocol", (_GuardedH11Protocol,), {"limits": limits, "gate": _Gate()})
        return protocol, None
    logger.warning(
        "uvicorn's h11 protocol has changed shape: serving without request deadlines, "
        "with h11's bound on incomplete request heads only and uvicorn's own connection limit (503 without Retry-After)"
    )
    # uvicorn counts the connection asking, so one more serves max_connections at once.
    return "h11", limits.max_connections + 1


class PortInUseError(OSError):
    """Something already listens on the address asked for; ``host`` and ``port`` say which."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} on {host} is already in use")
        self.host = host
        self.port = port


def _bind(host: str, port: int) -> socket.socket:
    """A bound socket for ``host:port``; PortInUseError when the port is taken, OSError for other refusals."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle + delayed-ACK stalls (~40 ms a request)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUseError(host, port) from None
        raise
    return sock


def _server(
    app: ASGIApp,
    lifespan: Lifespan,
    log_level: str,
    limits: ConnectionLimits,
    drain: Drain | None = None,
    drain_limit: float = 0.0,
) -> uvicorn.Server:
    http, limit_concurrency = _http_protocol(limits)
    # log_config=None: uvicorn keeps its hands off logging, so our stderr handler and
    # secret-redacting filter see its records like everyone else's.
    config = uvicorn.Config(
        app,
        lifespan=lifespan,
        log_level=log_level.lower(),
        log_config=None,
        access_log=False,
        http=http,
        ws="none",  # no WebSocket upgrades: a connection stays with the protocol that guards it
        limit_concurrency=limit_concurrency,
        timeout_keep_alive=limits.idle_timeout,
        h11_max_incomplete_event_size=_MAX_HEAD_BYTES,
        # After a drain only idle or refused connections are left: close them without waiting long.
        timeout_graceful_shutdown=None if drain is None else _SHUTDOWN_AFTER_DRAIN_S,
    )
    if drain is None:
        return uvicorn.Server(config)
    from gloo_mcp.transports.draining_uvicorn import DrainingServer

    return DrainingServer(config, drain, drain_limit)


@contextmanager
def running_in_thread(
    app: ASGIApp,
    *,
    host: str = LOOPBACK,
    port: int = 0,
    lifespan: Lifespan = "on",
    log_level: str = "warning",
    limits: ConnectionLimits = DEFAULT_LIMITS,
) -> Iterator[str]:
    """Serve ``app`` on a background thread for the duration of the block; yields its base URL.

    Raises ``RuntimeError`` if the server stops before it is listening.
    """
    sock = _bind(host, port)
    server = _server(app, lifespan, log_level, limits)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the HTTP server failed to start")
            threading.Event().wait(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_in_foreground(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    lifespan: Lifespan = "on",
    log_level: str = "warning",
    limits: ConnectionLimits = DEFAULT_LIMITS,
    on_bound: Callable[[int], None] | None = None,
    drain: Drain | None = None,
    drain_limit: float = 0.0,
) -> None:
    """Serve until interrupted (uvicorn stops gracefully, then re-raises the signal: Ctrl-C ends in KeyboardInterrupt).

    With ``drain``, SIGTERM and SIGINT drain first (draining_uvicorn.py): ``drain`` begins
    at once, the calls in flight get up to ``drain_limit`` seconds to finish, then the
    server closes. It then returns after SIGTERM (exit 0) and raises KeyboardInterrupt after
    SIGINT (the interrupt's exit 130); a second signal exits at once (143 or 130).
    ``on_bound(port)`` runs once the address is ours, with the port bound (the one free port
    chosen for port 0), so an announcement never precedes a refusal and names the real port.
    Raises PortInUseError when the port is taken, OSError when the address cannot be bound.
    """
    sock = _bind(host, port)
    try:
        if on_bound is not None:
            on_bound(sock.getsockname()[1])
        server = _server(app, lifespan, log_level, limits, drain, drain_limit)
        server.run(sockets=[sock])
        if getattr(server, "stopped_by", None) == signal.SIGINT:
            raise KeyboardInterrupt
    finally:
        sock.close()
