"""Progress notifications for one tool call: heartbeats while Gloo thinks, the answer's text as it streams.

Hosts give up on calls that stay silent, and Gloo can take tens of seconds. Every
notification's progress value is the call's elapsed seconds, nudged so it always
increases. Heartbeats say how long the call has waited; once the answer streams, each
new piece of text is a notification's message (so the messages add up to the answer)
and a heartbeat during a stall carries no message. ``report_progress`` does nothing when
the caller did not ask for progress.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from mcp.server.mcpserver import Context

from gloo_mcp.chats.task_context import current_task

__all__ = ["CallProgress", "reporting_progress"]


class CallProgress:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._started = anyio.current_time()
        self._last = 0.0
        self._streaming = False
        self._task = current_task()  # a call running as a Task shows its progress there (its request has ended)

    async def _report(self, message: str | None) -> None:
        if self._task is not None:
            return
        elapsed = round(anyio.current_time() - self._started, 3)
        self._last = max(elapsed, round(self._last + 0.001, 3))
        await self._ctx.report_progress(self._last, None, message)

    async def text(self, piece: str) -> None:
        """Forward a new piece of the answer."""
        self._streaming = True
        if self._task is not None:
            self._task.text(piece)
        await self._report(piece)

    async def heartbeats(self, interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            if self._streaming:
                await self._report(None)
            else:
                waited = math.floor(anyio.current_time() - self._started)
                if self._task is not None:
                    self._task.waiting(waited)
                await self._report(f"Waiting for Gloo's answer ({waited} s elapsed)")


@asynccontextmanager
async def reporting_progress(ctx: Context, heartbeat_interval: float) -> AsyncIterator[CallProgress]:
    """Heartbeats for the duration of the block; none after it, so none can follow the result."""
    progress = CallProgress(ctx)
    async with anyio.create_task_group() as beats:
        beats.start_soon(progress.heartbeats, heartbeat_interval)
        try:
            yield progress
        finally:
            beats.cancel_scope.cancel()
