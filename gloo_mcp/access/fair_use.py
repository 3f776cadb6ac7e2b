"""Fair use of the one Gloo account a server shares: per-principal limits on calls in flight and per minute.

Without them one user (or one runaway agent) could spend the whole team's Gloo quota. A
call over a limit is refused before it reaches Gloo, with a sentence saying when to retry.

Admission costs the same whatever the number of principals (amortised O(1) per call), and
memory stays bounded by recent use: a principal's window holds at most ``per_minute``
timestamps, and a principal is remembered only while it has a call in flight or has been
idle for less than a minute. Idle principals wait in one queue in the order they became
idle, so forgetting them is a pop from its front, never a sweep over everyone.

:class:`Admission` is the interface callers need; :class:`FairUse` is the in-process
implementation (each replica counts on its own); gloo_mcp/access/shared_limits.py is the shared one
(PostgreSQL, so replicas count together), refusing with the same sentences.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from gloo_mcp.errors import RateLimitedError
from gloo_mcp.telemetry import fair_use_refused

__all__ = [
    "WINDOW_SECONDS",
    "Admission",
    "FairUse",
    "in_flight_refusal",
    "per_minute_refusal",
    "shared_principal_notice",
]

WINDOW_SECONDS = 60.0


class Admission(Protocol):
    """Decides whether a principal's call may start, and holds its place while it runs."""

    def admit(self, principal: str) -> AbstractAsyncContextManager[None]:
        """Hold one of ``principal``'s places for the ``async with`` block; RateLimitedError if there is none."""
        ...


@dataclass(slots=True)  # one per active principal: no per-instance __dict__
class _Usage:
    """A principal's calls in flight, and the starts in its window: ``started[first:]``, oldest first.

    A list with an offset rather than a deque: most principals hold one start or a few, and an
    empty deque alone takes 760 bytes.
    """

    in_flight: int = 0
    started: list[float] = field(default_factory=list)
    first: int = 0

    def in_window(self, now: float) -> int:
        """Drop the starts a minute old or more (amortised O(1)); how many are left."""
        started, first = self.started, self.first
        while first < len(started) and now - started[first] >= WINDOW_SECONDS:
            first += 1
        if first * 2 > len(started):  # compact once most are gone: it moves fewer starts than were dropped
            del started[:first]
            first = 0
        self.first = first
        return len(started) - first


class FairUse:
    """Admits a principal's call if it is under both limits; a limit of 0 means none."""

    def __init__(self, *, per_minute: int, in_flight: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._in_flight = in_flight
        self._clock = clock
        self._usage: dict[str, _Usage] = {}
        # Principals with nothing in flight, oldest first, with the time each became idle. Every
        # start it recorded is no later than that time, so a minute later its window is empty and
        # forgetting it loses nothing. The clock only moves forward, so the front expires first.
        self._idle: OrderedDict[str, float] = OrderedDict()

    @property
    def remembered(self) -> int:
        """How many principals the limiter holds state for (those in flight or idle for under a minute)."""
        return len(self._usage)

    @asynccontextmanager
    async def admit(self, principal: str) -> AsyncIterator[None]:
        """Hold one of ``principal``'s places for the call in the block; RateLimitedError if there is none."""
        now = self._clock()
        self._forget_idle(now)
        usage = self._usage.get(principal)
        if usage is None:  # unknown, or forgotten: under both limits, as a limit of 0 means none
            usage = self._usage[principal] = _Usage()
        else:
            self._refuse_over_limits(usage, now)
        self._idle.pop(principal, None)  # in flight now: never forgotten until its calls end
        usage.in_flight += 1
        if self._per_minute:
            usage.started.append(now)
        try:
            yield
        finally:
            usage.in_flight -= 1
            if not usage.in_flight:
                self._went_idle(principal, usage, self._clock())

    def _refuse_over_limits(self, usage: _Usage, now: float) -> None:
        calls = usage.in_window(now)
        if self._in_flight and usage.in_flight >= self._in_flight:
            fair_use_refused("in_flight")
            raise in_flight_refusal(usage.in_flight)
        if self._per_minute and calls >= self._per_minute:
            fair_use_refused("per_minute")
            wait = max(1, math.ceil(WINDOW_SECONDS - (now - usage.started[usage.first])))
            raise per_minute_refusal(calls, wait)

    def _went_idle(self, principal: str, usage: _Usage, now: float) -> None:
        if not usage.started or now - usage.started[-1] >= WINDOW_SECONDS:  # nothing left to count
            del self._usage[principal]
        else:
            self._idle[principal] = now  # popped when admitted, so this appends at the back

    def _forget_idle(self, now: float) -> None:
        """Drop the principals idle for a minute: each is popped once after it was queued (amortised O(1))."""
        idle = self._idle
        while idle:
            principal, since = next(iter(idle.items()))
            if now - since < WINDOW_SECONDS:
                return
            idle.popitem(last=False)
            del self._usage[principal]


def in_flight_refusal(in_flight: int) -> RateLimitedError:
    """What a call over the in-flight limit raises, ``in_flight`` being the principal's calls under way."""
    return RateLimitedError(
        f"You already have {in_flight} calls to Gloo under way, the most this server allows at once; wait for one "
        "to finish, then try again.",
        status=None,
    )


def per_minute_refusal(calls: int, wait: int) -> RateLimitedError:
    """What a call over the per-minute limit raises: ``calls`` in the last minute, a place free in ``wait`` s."""
    return RateLimitedError(
        f"You have made {calls} calls to Gloo in the last minute, the most this server allows each user; try again "
        f"in about {wait} s.",
        status=None,
        retry_after=wait,
    )


def shared_principal_notice(*, per_minute: int, in_flight: int) -> str | None:
    """The start-up sentence of a shared-token server, whose holders are one principal; None without limits."""
    if not per_minute and not in_flight:
        return None

    def limit(value: int, what: str) -> str:
        return f"{value} {what}" if value else f"unlimited {what}"

    return (
        "everyone holding GLOO_MCP_AUTH_TOKEN is one principal, so the fair-use limits "
        f"({limit(in_flight, 'calls in flight')}, {limit(per_minute, 'calls a minute')}) apply to the whole team "
        "together; raise GLOO_MCP_CALLS_IN_FLIGHT and GLOO_MCP_CALLS_PER_MINUTE to fit the team (0: no limit)."
    )
