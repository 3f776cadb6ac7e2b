"""Fair use of the one Gloo account a server shares: per-principal limits on calls in flight and per minute.

Without them one user (or one runaway agent) could spend the whole team's Gloo quota. A
call over a limit is refused before it reaches Gloo, with a sentence saying when to retry.
Memory stays bounded: a principal's window holds at most ``per_minute`` timestamps, and
principals with nothing in flight and an empty window are forgotten.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from gloo_mcp.errors import RateLimitedError

__all__ = ["WINDOW_SECONDS", "FairUse"]

WINDOW_SECONDS = 60.0
_SWEEP_ABOVE = 1024  # principals remembered before the idle ones are swept out


@dataclass
class _Usage:
    in_flight: int = 0
    started: deque[float] = field(default_factory=deque)


class FairUse:
    """Admits a principal's call if it is under both limits; a limit of 0 means none."""

    def __init__(self, *, per_minute: int, in_flight: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._in_flight = in_flight
        self._clock = clock
        self._usage: dict[str, _Usage] = {}

    @asynccontextmanager
    async def admit(self, principal: str) -> AsyncIterator[None]:
        """Hold one of ``principal``'s places for the call in the block; RateLimitedError if there is none."""
        now = self._clock()
        if len(self._usage) > _SWEEP_ABOVE:
            self._sweep(now)
        usage = self._usage.setdefault(principal, _Usage())
        while usage.started and now - usage.started[0] >= WINDOW_SECONDS:
            usage.started.popleft()
        try:
            if self._in_flight and usage.in_flight >= self._in_flight:
                raise RateLimitedError(
                    f"You already have {usage.in_flight} calls to Gloo under way, the most this server allows at "
                    "once; wait for one to finish, then try again.",
                    status=None,
                )
            if self._per_minute and len(usage.started) >= self._per_minute:
                wait = max(1, math.ceil(WINDOW_SECONDS - (now - usage.started[0])))
                raise RateLimitedError(
                    f"You have made {len(usage.started)} calls to Gloo in the last minute, the most this server "
                    f"allows each user; try again in about {wait} s.",
                    status=None,
                    retry_after=wait,
                )
        except RateLimitedError:
            self._forget_if_idle(principal, usage)
            raise
        usage.in_flight += 1
        usage.started.append(now)
        try:
            yield
        finally:
            usage.in_flight -= 1
            self._forget_if_idle(principal, usage)

    def _sweep(self, now: float) -> None:
        for name, usage in list(self._usage.items()):
            if not usage.in_flight and (not usage.started or now - usage.started[-1] >= WINDOW_SECONDS):
                del self._usage[name]

    def _forget_if_idle(self, principal: str, usage: _Usage) -> None:
        if not usage.in_flight and not usage.started:
            self._usage.pop(principal, None)
