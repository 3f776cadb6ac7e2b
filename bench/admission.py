"""Growth curve: what fair-use admission costs a call as the number of active principals grows.

A steady state of ``N`` principals, each calling about once a minute (one every 61 s, in
turn, so the one calling now is the one the limiter may forget): the limiter remembers
about ``N`` principals, and every call admits one and lets go of one. The clock is a fake
one that the benchmark moves, so a minute of traffic takes as long as its calls do, and
what is timed is the limiter's own CPU (an ``async with admit(...)`` with nothing inside),
which runs on the event loop of every tool call.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

from gloo_mcp.access.fair_use import Admission, FairUse
from gloo_mcp.errors import RateLimitedError

__all__ = [
    "IN_FLIGHT",
    "PER_MINUTE",
    "AdmissionCurve",
    "AdmissionPoint",
    "AdmissionSizes",
    "Limiter",
    "measure_admission",
]

PER_MINUTE = 60  # the defaults: GLOO_MCP_CALLS_PER_MINUTE, GLOO_MCP_CALLS_IN_FLIGHT
IN_FLIGHT = 4
PERIOD_S = 61.0  # each principal calls once in this many seconds of the fake clock

Limiter = Callable[[Callable[[], float]], Admission]
"""Builds the limiter under test from a clock (by default FairUse at the default limits)."""


def _default_limiter(clock: Callable[[], float]) -> Admission:
    return FairUse(per_minute=PER_MINUTE, in_flight=IN_FLIGHT, clock=clock)


@dataclass(frozen=True)
class AdmissionSizes:
    principals: tuple[int, ...]
    batches: int  # timed batches per size, interleaved with the other sizes
    batch_calls: int  # calls per batch
    memory_principals: int  # the size at which bytes per principal are traced


@dataclass(frozen=True)
class AdmissionPoint:
    """One size of the curve: ``principals`` active, each calling about once a minute."""

    principals: int
    seed_s: float  # wall time of the first minute (one call per principal), the seeding
    calls: int  # timed calls
    per_call_us: float  # median over the batches of (batch time / calls in it)
    remembered: int | None  # principals the limiter holds after the timed calls (None: it cannot say)
    refused: int  # calls refused (0: every principal stays under the limits)


@dataclass(frozen=True)
class AdmissionCurve:
    """The curve, and the memory each remembered principal takes."""

    points: list[AdmissionPoint]
    bytes_per_principal: float  # traced by tracemalloc while ``memory_principals`` principals are seeded
    memory_principals: int


class _Traffic:
    """``principals`` callers in turn on one limiter, the fake clock moving PERIOD_S / principals per call."""

    def __init__(self, principals: int, limiter: Limiter) -> None:
        self.principals = principals
        self.names = [f"https://login.example.com/#user-{n:07d}" for n in range(principals)]
        self.now = 0.0
        self.calls = 0
        self.refused = 0
        self.limiter = limiter(lambda: self.now)

    async def run(self, calls: int) -> None:
        names, step, limiter = self.names, PERIOD_S / self.principals, self.limiter
        for k in range(self.calls, self.calls + calls):
            self.now = k * step
            try:
                async with limiter.admit(names[k % self.principals]):
                    pass
            except RateLimitedError:  # counted, so that a limiter which refuses is seen, not timed as fast
                self.refused += 1
        self.calls += calls

    @property
    def remembered(self) -> int | None:
        value = getattr(self.limiter, "remembered", None)
        return value if isinstance(value, int) else None


async def _timed_batch(traffic: _Traffic, calls: int) -> float:
    started = time.perf_counter()
    await traffic.run(calls)
    return (time.perf_counter() - started) / calls


async def _bytes_per_principal(principals: int, limiter: Limiter) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        traffic = _Traffic(principals, limiter)  # the names exist before tracing counts: callers own them
        before = tracemalloc.get_traced_memory()[0]
        await traffic.run(principals)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / max(1, traffic.remembered or principals)


async def measure_admission(sizes: AdmissionSizes, limiter: Limiter = _default_limiter) -> AdmissionCurve:
    """Seed each size with one minute of traffic, then time batches of calls, every size in turn."""
    traffics: list[tuple[_Traffic, float]] = []
    for principals in sizes.principals:
        traffic = _Traffic(principals, limiter)
        started = time.perf_counter()
        await traffic.run(principals)
        traffics.append((traffic, time.perf_counter() - started))
    samples: dict[int, list[float]] = {traffic.principals: [] for traffic, _ in traffics}
    for _ in range(sizes.batches):
        for traffic, _ in traffics:
            samples[traffic.principals].append(await _timed_batch(traffic, sizes.batch_calls))
    points = [
        AdmissionPoint(
            principals=traffic.principals,
            seed_s=seed_s,
            calls=sizes.batches * sizes.batch_calls,
            per_call_us=statistics.median(samples[traffic.principals]) * 1e6,
            remembered=traffic.remembered,
            refused=traffic.refused,
        )
        for traffic, seed_s in traffics
    ]
    del traffics
    memory = await _bytes_per_principal(sizes.memory_principals, limiter)
    return AdmissionCurve(points, memory, sizes.memory_principals)
