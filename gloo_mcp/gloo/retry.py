"""When to try an upstream request again, and how long to wait first.

Only retries that cannot duplicate work are allowed: the request never reached Gloo
(connect failure), Gloo said it did not process it (429, 503), or the request is
idempotent (a GET, or the token exchange). Waits use exponential backoff with full
jitter unless Gloo names a wait, and never run past the call's deadline.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import anyio

__all__ = ["LONGEST_NAMED_WAIT", "RetryPolicy", "server_named_wait"]


LONGEST_NAMED_WAIT = 86_400.0
"""A day: any longer wait Gloo names (up to infinity) is read as this, so no absurd number reaches a sentence."""


def server_named_wait(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds Gloo asked us to wait: ``Retry-After`` (seconds or HTTP date), else ``X-RateLimit-Reset``.

    ``X-RateLimit-Reset`` is read as an epoch time when it is that large, else as seconds.
    ``now`` is wall-clock epoch seconds. The result is finite, from 0 to
    :data:`LONGEST_NAMED_WAIT`; a value that is not a number (``nan``) counts as not named.
    """
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        value = retry_after.strip()
        seconds = _number(value)
        if seconds is None:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - now
            except (TypeError, ValueError, IndexError, OverflowError):
                seconds = None
        if seconds is not None:
            return _bounded(seconds)
    reset = _number(headers.get("x-ratelimit-reset", "").strip())
    if reset is None:
        return None
    return _bounded(reset - now if reset > 1_000_000_000 else reset)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _bounded(seconds: float) -> float:
    return min(max(0.0, seconds), LONGEST_NAMED_WAIT)


@dataclass
class RetryPolicy:
    """Bounded attempts with jittered exponential backoff; sleep, clocks and randomness are injectable."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_server_wait: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    monotonic: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    random: Callable[[], float] = field(default=random.random)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base · 2^(attempt-1))]."""
        return self.random() * min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))

    def delay(self, attempt: int, headers: Mapping[str, str] | None = None) -> float:
        """The wait before attempt ``attempt + 1``: Gloo's named wait (capped) or backoff."""
        if headers is not None:
            named = server_named_wait(headers, now=self.wall_clock())
            if named is not None:
                return min(named, self.max_server_wait)
        return self.backoff(attempt)
