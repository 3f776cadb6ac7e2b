"""uvicorn that drains on SIGTERM and SIGINT before it closes anything.

Plain uvicorn, on a stop signal, closes its listening socket and asks every connection to
finish; but the SSE library the SDK answers with (sse-starlette) watches uvicorn's exit
flag and ends every event stream at once, so a tool call in flight got HTTP 200 with an
empty stream, and no audit line. Here the first signal only begins the drain
(:class:`~gloo_mcp.transports.drain.Drain`: readiness 503, new calls 503) and uvicorn is told to exit
once no call is in flight, or ``drain_limit`` seconds later; by then there is no stream
left to cut. uvicorn's own signal handlers are never installed (so nothing sets its flag
early), and a second signal exits at once (stop_signals.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import uvicorn

from gloo_mcp.transports.drain import Drain
from gloo_mcp.transports.stop_signals import StopSignals

__all__ = ["DrainingServer"]

logger = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose stop signals drain ``drain`` (at most ``drain_limit`` s) before it shuts down."""

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_limit: float) -> None:
        super().__init__(config)
        self._drain = drain
        self._drain_limit = drain_limit
        self._signals = StopSignals(self._begin_drain)
        self._draining: asyncio.Task[None] | None = None

    @property
    def stopped_by(self) -> signal.Signals | None:
        """The signal that stopped the server, if one did."""
        return self._signals.received

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's hook around serving: our handlers in place of its own."""
        with self._signals.installed():
            yield

    def _begin_drain(self, number: signal.Signals) -> None:
        self._drain.begin()
        logger.info("%s received: draining, %d call(s) in flight", number.name, self._drain.in_flight)
        self._draining = asyncio.get_running_loop().create_task(self._exit_when_idle())

    async def _exit_when_idle(self) -> None:
        with anyio.move_on_after(self._drain_limit):
            await self._drain.wait_idle()
        if self._drain.in_flight:
            logger.warning(
                "%d call(s) still running %g s after the stop signal are cut", self._drain.in_flight, self._drain_limit
            )
        self.should_exit = True
