"""When to try an upstream request again, and how long to wait first.

Only retries that cannot duplicate work are allowed: the request never reached Gloo
(connect failure), Gloo said it did not process it (429, 503), or the request is
idempotent (a GET, or the token exchange). Waits use exponential backoff with full
jitter unless Gloo names a wait, and never run past the call's deadline.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import anyio

__all__ = ["RetryPolicy", "server_named_wait"]


def server_named_wait(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds Gloo asked us to wait: ``Retry-After`` (seconds or HTTP date), else ``X-RateLimit-Reset``.

    ``X-RateLimit-Reset`` is read as an epoch time when it is that large, else as seconds.
    ``now`` is wall-clock epoch seconds.
    """
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        value = retry_after.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    reset = headers.get("x-ratelimit-reset")
    if reset is not None:
        try:
            number = float(reset.strip())
        except ValueError:
            return None
        return max(0.0, number - now) if number > 1_000_000_000 else max(0.0, number)
    return None


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
