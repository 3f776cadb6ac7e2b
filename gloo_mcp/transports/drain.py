"""Draining: once a stop is asked for, take no new calls, and let the calls in flight finish first.

One :class:`Drain` per server process. The HTTP app counts its MCP requests through
:class:`DrainGate`, which answers new ones 503 once draining has begun; whatever stops
the process (``serving.py``, on SIGTERM or SIGINT) begins the drain, waits for
:meth:`Drain.wait_idle`, and only then lets uvicorn close its sockets. Readiness
(``readiness.py``) turns 503 the moment draining begins, so a load balancer stops sending
calls here while the last ones finish.

How long to wait: each Gloo request of a call ends within ``GLOO_TIMEOUT``, and the call's
answer is written right after, so :func:`drain_timeout` allows ``GLOO_TIMEOUT`` plus
:data:`DRAIN_MARGIN`. An orchestrator's grace period (``terminationGracePeriodSeconds``,
``podman stop -t``, systemd's ``TimeoutStopSec``) must be longer than that.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["DRAINING_SENTENCE", "DRAIN_MARGIN", "Drain", "DrainGate", "drain_timeout"]

DRAIN_MARGIN = 5.0
"""Seconds allowed beyond GLOO_TIMEOUT for a call in flight to write its answer (and its audit line)."""

DRAINING_SENTENCE = "This gloo-mcp server is shutting down and takes no new calls; send the request again in a moment."

_RETRY_AFTER_S = 1  # behind a load balancer another replica answers at once; alone, the restarted server soon


def drain_timeout(call_timeout: float) -> float:
    """The longest a drain waits for calls in flight, for a server whose calls end within ``call_timeout`` s."""
    return call_timeout + DRAIN_MARGIN


class Drain:
    """Whether the server is draining, and how many calls are in flight.

    Used from one event loop (the server's); nothing here blocks.
    """

    def __init__(self) -> None:
        self._draining = False
        self._in_flight = 0
        self._idle: anyio.Event | None = None

    def __repr__(self) -> str:
        return f"Drain(draining={self._draining}, in_flight={self._in_flight})"

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def begin(self) -> None:
        """Take no new calls from now on (idempotent)."""
        self._draining = True

    @contextmanager
    def call(self) -> Iterator[None]:
        """Count one call in flight for the duration of the block."""
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0 and self._idle is not None:
                self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no call is in flight (bound the wait with a cancel scope)."""
        while self._in_flight:
            if self._idle is None or self._idle.is_set():
                self._idle = anyio.Event()  # shared by every waiter until the count next reaches zero
            await self._idle.wait()


class DrainGate:
    """Counts the requests in flight on ``path`` and, once draining, answers new ones 503 with one sentence.

    The answer asks the client to close the connection, so a kept-alive connection moves to
    another replica (or to the restarted server) for its next request. Other paths (the
    probes, OAuth metadata) pass untouched: ``/readyz`` says ``draining`` by itself.
    """

    def __init__(self, app: ASGIApp, drain: Drain, path: str) -> None:
        self._app = app
        self._drain = drain
        self._path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self._path:
            await self._app(scope, receive, send)
            return
        if self._drain.draining:
            response = JSONResponse(
                {"error": "shutting_down", "error_description": DRAINING_SENTENCE},
                status_code=503,
                headers={"Retry-After": str(_RETRY_AFTER_S), "Connection": "close"},
            )
            await response(scope, receive, send)
            return
        with self._drain.call():
            await self._app(scope, receive, send)
