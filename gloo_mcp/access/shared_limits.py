"""Fair-use limits that every replica counts together, in the PostgreSQL database the replicas already share.

:class:`SharedFairUse` is an :class:`~gloo_mcp.access.fair_use.Admission`: the same two limits as
:class:`~gloo_mcp.access.fair_use.FairUse` (calls a minute and calls in flight, per principal) and the
same refusal sentences, but decided by the database, so N replicas behind a load balancer
allow a user the limits once, not N times.

What a call costs, whatever the number of principals, replicas or rows:

- admission is one round trip, ``SELECT * FROM gloo_mcp_admit(...)`` (the function is made by
  the store's schema step, gloo_mcp/chats/store/postgres.py): under the principal's advisory lock it
  reads at most 61 per-second counters and the principal's calls in flight (at most the
  in-flight limit), and deletes a few expired rows of anyone's, so the tables hold about a
  minute of traffic without a sweep;
- a call that took an in-flight place gives it back with one more round trip (a DELETE by id);
  with no in-flight limit there is nothing to give back.

Calls a minute are counted in whole seconds of the database's clock (replicas' clocks never
matter), rounding so the limit is never exceeded: a call counts for between 60 and 61 s, so a
refusal may last up to a second longer than :class:`FairUse`'s exact window.

A place in flight is a row with a lease, ``GLOO_TIMEOUT`` + :data:`LEASE_GRACE_SECONDS` from its
start (a call never runs longer than ``GLOO_TIMEOUT``): a replica killed mid-call cannot give
its places back, and they come back by themselves when their leases end, 60 s after the
calls started with the default timeout. ``holder`` (host:pid) says which replica holds each.

Fail closed: when the database does not answer, no call is admitted (it could not be counted,
and a per-user server could not record its conversation either); the caller reads
:data:`LIMITS_UNAVAILABLE` and the operator's log says why, once per outage. Reconnecting is
backed off like the store's, so an outage costs one connection attempt every two seconds at
most; a call that ends while the database is away keeps its place until the lease ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from gloo_mcp.access.fair_use import Admission, FairUse, in_flight_refusal, per_minute_refusal
from gloo_mcp.chats.store import describe_url, store_failure
from gloo_mcp.config import Settings
from gloo_mcp.errors import StoreError
from gloo_mcp.telemetry import fair_use_refused

if TYPE_CHECKING:
    import psycopg

__all__ = ["LEASE_GRACE_SECONDS", "LIMITS_UNAVAILABLE", "ROUND_TRIP_LIMIT", "SharedFairUse", "fair_use_for"]

logger = logging.getLogger(__name__)

LEASE_GRACE_SECONDS = 10.0
"""Seconds a place in flight is held beyond GLOO_TIMEOUT: the call's own bookkeeping after its deadline."""
ROUND_TRIP_LIMIT = 5.0
"""Seconds one admission or release may take, the database's wait for the principal's lock included."""
RECONNECT_FIRST = 0.25
RECONNECT_MOST = 2.0
"""Seconds between attempts to reach a database that did not answer, doubling from the first to the most."""

LIMITS_UNAVAILABLE = (
    "gloo-mcp cannot check your fair-use limits right now (the database its replicas share them through is "
    "unavailable), so it has not asked Gloo; try again in a few seconds."
)

_ADMIT = "SELECT call_id, refused, calls, wait_s FROM gloo_mcp_admit(%s, %s, %s, %s, %s, %s)"
_RELEASE = "DELETE FROM gloo_mcp_calls_in_flight WHERE call_id = %s"

Connect = Callable[[str], Awaitable["psycopg.AsyncConnection[Any]"]]


async def _connect_migrated(url: str) -> psycopg.AsyncConnection[Any]:
    from gloo_mcp.chats.store.postgres import connect_migrated

    return await connect_migrated(url)


class SharedFairUse:
    """Admits a principal's call if it is under both limits counted across every replica; a limit of 0 means none.

    ``lease``: seconds a place in flight is held if its replica never gives it back.
    ``clock``: seconds since the epoch to decide with instead of the database's clock (tests).
    """

    def __init__(
        self,
        url: str,
        *,
        per_minute: int,
        in_flight: int,
        lease: float,
        holder: str | None = None,
        clock: Callable[[], float] | None = None,
        connect: Connect = _connect_migrated,
    ) -> None:
        self._url = url
        self._per_minute = per_minute
        self._in_flight = in_flight
        self._lease = lease
        self.holder = holder if holder is not None else f"{socket.gethostname()}:{os.getpid()}"
        self._clock = clock
        self._connect = connect
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._lock = anyio.Lock()
        self._failure: StoreError | None = None  # why the database did not answer, while it does not
        self._retry_at = 0.0
        self._backoff = 0.0

    def __repr__(self) -> str:
        return f"SharedFairUse({describe_url(self._url)!r}, per_minute={self._per_minute}, in_flight={self._in_flight})"

    @property
    def lease(self) -> float:
        """Seconds after its start that a call's place comes back if its replica never gives it back."""
        return self._lease

    @property
    def where(self) -> str:
        """The database the limits are counted in, without its password."""
        return describe_url(self._url)

    @asynccontextmanager
    async def admit(self, principal: str) -> AsyncIterator[None]:
        """Hold one of ``principal``'s places for the block; RateLimitedError if there is none, StoreError with
        :data:`LIMITS_UNAVAILABLE` if the database cannot tell."""
        if not self._per_minute and not self._in_flight:
            yield
            return
        call_id = await self._admit(principal)
        try:
            yield
        finally:
            if call_id is not None:
                await self._release(call_id)

    async def _admit(self, principal: str) -> int | None:
        now = self._clock() if self._clock is not None else None
        arguments = (principal, self._per_minute, self._in_flight, self._lease, self.holder, now)
        # Shielded: a call cancelled while the database decides must still learn its place, to give it back.
        with anyio.CancelScope(shield=True):
            row = await self._round_trip(_ADMIT, arguments)
        assert row is not None  # the function returns exactly one row
        call_id, refused, calls, wait = row
        if refused is not None:
            fair_use_refused(refused)  # the same metric as the in-process limiter's refusals
            raise in_flight_refusal(calls) if refused == "in_flight" else per_minute_refusal(calls, wait)
        return None if call_id is None else int(call_id)

    async def _release(self, call_id: int) -> None:
        """Give a place back; never raises, so a call's answer is never lost to its bookkeeping."""
        with anyio.CancelScope(shield=True):
            try:
                await self._round_trip(_RELEASE, (call_id,))
            except StoreError:
                logger.warning(
                    "a call's place in the shared fair-use limits could not be given back; it comes back by itself "
                    "when its lease ends, %.0f s after the call started",
                    self._lease,
                )

    async def _round_trip(self, statement: str, arguments: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """Run one statement, reconnecting once if the connection was lost; StoreError if the database cannot."""
        async with self._lock:
            connection = await self._connected()
            import psycopg  # installed: the connection above needed it

            for attempt in (1, 2):
                try:
                    with anyio.fail_after(ROUND_TRIP_LIMIT):
                        cursor = await connection.execute(statement, arguments)
                        row = await cursor.fetchone() if cursor.description else None
                except TimeoutError as exc:  # stuck: whatever the connection is doing, it is not for us any more
                    await self._drop(connection)
                    raise self._went_away(exc) from None
                except psycopg.Error as exc:
                    if attempt == 2 or not connection.broken:  # the database refused, rather than went away
                        raise self._went_away(exc) from None
                    # Lost (a restart, a failover, an idle timeout): once more on a new connection. Had the
                    # admission been counted before the loss, it costs one call of the minute and a place
                    # until its lease ends, never a call over the limits.
                    await self._drop(connection)
                    connection = await self._connected()
                else:
                    self._came_back()
                    return row
        raise AssertionError("unreachable")

    async def _drop(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self._connection = None
        await _close_quietly(connection)

    async def _connected(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is not None:
            return self._connection
        now = anyio.current_time()
        if self._failure is not None and now < self._retry_at:
            raise StoreError(LIMITS_UNAVAILABLE)
        try:
            with anyio.fail_after(ROUND_TRIP_LIMIT):
                connection = await self._connect(self._url)
        except (StoreError, TimeoutError) as exc:
            raise self._went_away(exc) from None
        import psycopg

        try:  # the database's own bound on a statement, its wait for the principal's lock included
            await connection.execute(f"SET statement_timeout = {int(ROUND_TRIP_LIMIT * 1000)}")
        except psycopg.Error as exc:
            await _close_quietly(connection)
            raise self._went_away(exc) from None
        self._connection = connection
        return connection

    def _went_away(self, exc: BaseException) -> StoreError:
        """Back off, say why in the log once per outage, and give the caller the one sentence."""
        self._backoff = min(max(2 * self._backoff, RECONNECT_FIRST), RECONNECT_MOST)
        self._retry_at = anyio.current_time() + self._backoff
        if self._failure is None:
            if isinstance(exc, StoreError):
                self._failure = exc
            elif isinstance(exc, TimeoutError):
                self._failure = StoreError(f"{describe_url(self._url)} did not answer within {ROUND_TRIP_LIMIT:g} s")
            else:
                self._failure = store_failure(self._url, exc, advice="check that the database is reachable.")
            logger.warning(
                "shared fair-use limits: the database did not answer, so calls are refused until it does: %s",
                self._failure.message,
            )
        return StoreError(LIMITS_UNAVAILABLE)

    def _came_back(self) -> None:
        if self._failure is not None:
            logger.warning("shared fair-use limits: %s answers again; admitting calls", describe_url(self._url))
        self._failure, self._backoff = None, 0.0

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await _close_quietly(connection)


async def _close_quietly(connection: psycopg.AsyncConnection[Any]) -> None:
    import psycopg

    with contextlib.suppress(psycopg.Error):  # already gone: nothing left to close
        await connection.close()


def fair_use_for(settings: Settings) -> tuple[Admission, str]:
    """The limiter an HTTP server uses, and the start-up line saying how it counts.

    Shared through the store when it is PostgreSQL, unless GLOO_MCP_SHARED_LIMITS=off; in the
    process otherwise (a SQLite store serves one host).
    """
    per_minute, in_flight = settings.calls_per_minute, settings.calls_in_flight
    local = FairUse(per_minute=per_minute, in_flight=in_flight)
    if not per_minute and not in_flight:
        return local, "no fair-use limits: GLOO_MCP_CALLS_PER_MINUTE and GLOO_MCP_CALLS_IN_FLIGHT are 0"
    flying = f"{in_flight} calls in flight" if in_flight else "unlimited calls in flight"
    limits = f"{flying}, {per_minute} calls a minute" if per_minute else f"{flying}, unlimited calls a minute"
    url = settings.resolved_store_url
    if url.startswith("sqlite:///"):
        return local, (
            f"fair-use limits ({limits}, each user) are counted by this process alone: the store is SQLite, which "
            "one host uses; replicas count them together through a PostgreSQL GLOO_STORE_URL"
        )
    if settings.shared_limits == "off":
        return local, (
            f"fair-use limits ({limits}, each user) are counted by this replica alone (GLOO_MCP_SHARED_LIMITS=off): "
            "behind a load balancer, each replica allows every user them again"
        )
    lease = settings.timeout + LEASE_GRACE_SECONDS  # no call outlives GLOO_TIMEOUT
    shared = SharedFairUse(url, per_minute=per_minute, in_flight=in_flight, lease=lease)
    return shared, f"fair-use limits ({limits}, each user) are counted together by every replica using {shared.where}"
