"""Readiness (``/readyz``): should a load balancer send this replica calls right now?

``/health`` says the process serves (liveness); ``/readyz`` says whether calls here would
work. Four checks, each bounded by :data:`PROBE_TIMEOUT` and run together:

- ``config``: the settings loaded and name Gloo credentials;
- ``store``: the conversation store opens (a failed one is reopened by
  :meth:`~gloo_mcp.server.state.AppState.store`, backing off) and answers a trivial query;
- ``issuer``: with OAuth sign-in, the issuer's signing keys are loaded or can be fetched
  now (:meth:`~gloo_mcp.access.oauth.JwtTokenVerifier.keys_ready`); without it, nothing to check;
- ``gloo``: Gloo's origin answered one HTTP request (any status, no credentials, never a
  chat: :meth:`~gloo_mcp.gloo.client.GlooClient.reach`) within the last :data:`GLOO_WINDOW` s.

The verdict is kept :data:`CACHE_TTL` seconds and shared by probes that arrive while it is
worked out, so a probe storm costs one evaluation. While the server drains, the answer is
503 ``draining`` at once, evaluating nothing.

``/readyz`` is open to whoever reaches the server, so each failing check gives one
sentence that names the part and what to do, never a password, token or the store's
location; what went wrong in detail (the driver's message, the store's host) is logged,
once each time a check starts failing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from gloo_mcp.config import Settings
from gloo_mcp.errors import GlooError
from gloo_mcp.transports.drain import Drain

if TYPE_CHECKING:
    from gloo_mcp.access.oauth import JwtTokenVerifier

__all__ = ["CACHE_TTL", "GLOO_WINDOW", "PROBE_TIMEOUT", "Check", "Readiness", "Serving", "configuration_problem"]

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0
"""Seconds each check may take (they run together). A check that hangs fails the probe, as it should."""
CACHE_TTL = 5.0
"""Seconds a verdict is reused: a probe every second from every balancer costs one evaluation per 5 s."""
GLOO_WINDOW = 60.0
"""Gloo counts as reachable when its origin answered within this many seconds, so one lost probe changes nothing."""

_NOT_CHECKED = "Not checked, because the configuration is invalid (see config)."
_STARTING = "Not checked yet: the server is still starting."


def configuration_problem(settings: Settings, startup_error: GlooError | None) -> str | None:
    """Why this configuration cannot serve calls (one sentence), or None when it can."""
    if startup_error is not None:
        return startup_error.message
    if not settings.has_credentials:
        return "No Gloo credentials are configured."
    return None


class _Pingable(Protocol):
    async def ping(self) -> None: ...


class _Reaching(Protocol):
    async def reach(self) -> str: ...


class Serving(Protocol):
    """What readiness uses of the server's shared state (:class:`~gloo_mcp.server.state.AppState`)."""

    async def store(self) -> _Pingable:
        """The conversation store, reopened with backoff after a failure; raises StoreError."""
        ...

    def ready_client(self) -> _Reaching:
        """The Gloo client (whose ``reach`` sends one request to the origin, no credentials, never a chat)."""
        ...


@dataclass(frozen=True)
class Check:
    """One part of the verdict: whether it passed and, when not, one sentence saying why."""

    ok: bool
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason}


_PASSED = Check(ok=True)


class Readiness:
    """Works out (and caches) the ``/readyz`` verdict of one server.

    ``state`` returns the server's AppState once its lifespan has begun (None before);
    ``oauth`` is the verifier of a per-user server; ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        state: Callable[[], Serving | None],
        drain: Drain,
        startup_error: GlooError | None = None,
        oauth: JwtTokenVerifier | None = None,
        cache_ttl: float = CACHE_TTL,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self._settings = settings
        self._state = state
        self._drain = drain
        self._startup_error = startup_error
        self._oauth = oauth
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._lock = anyio.Lock()
        self._verdict: tuple[float, dict[str, Check]] | None = None
        self._gloo_answered_at: float | None = None
        self._failing: set[str] = set()

    def __repr__(self) -> str:
        return f"Readiness(oauth={self._oauth is not None}, cache_ttl={self._cache_ttl})"

    async def report(self) -> tuple[int, dict[str, Any]]:
        """The HTTP status (200 or 503) and JSON body of ``/readyz``."""
        if self._drain.draining:
            return 503, {
                "status": "draining",
                "reason": "This replica is shutting down: it finishes the calls in flight and takes no new ones.",
            }
        checks = await self._checks()
        ready = all(check.ok for check in checks.values())
        body = {"status": "ready" if ready else "not_ready", "checks": {k: c.as_json() for k, c in checks.items()}}
        return (200 if ready else 503), body

    async def _checks(self) -> dict[str, Check]:
        verdict = self._verdict
        if verdict is not None and self._clock() < verdict[0]:
            return verdict[1]
        async with self._lock:  # one evaluation at a time; those who waited take its result
            verdict = self._verdict
            if verdict is not None and self._clock() < verdict[0]:
                return verdict[1]
            checks = await self._evaluate()
            self._verdict = (self._clock() + self._cache_ttl, checks)
            return checks

    async def _evaluate(self) -> dict[str, Check]:
        problem = configuration_problem(self._settings, self._startup_error)
        checks: dict[str, Check] = {"config": _PASSED if problem is None else Check(False, problem)}
        state = self._state()

        async def run(name: str, check: Callable[[], Awaitable[Check]]) -> None:
            checks[name] = await check()

        async with anyio.create_task_group() as group:
            if self._startup_error is not None:
                checks["store"] = checks["gloo"] = Check(False, _NOT_CHECKED)
            elif state is None:
                checks["store"] = checks["gloo"] = Check(False, _STARTING)
            else:
                group.start_soon(run, "store", lambda: self._store(state))
                group.start_soon(run, "gloo", lambda: self._gloo(state))
            group.start_soon(run, "issuer", self._issuer)
        return {name: checks[name] for name in ("config", "store", "issuer", "gloo")}

    async def _store(self, state: Serving) -> Check:
        try:
            with anyio.fail_after(PROBE_TIMEOUT):
                await (await state.store()).ping()
        except GlooError as error:
            return self._failed("store", "The conversation store cannot be opened or does not answer", error.message)
        except TimeoutError:
            return self._failed(
                "store", "The conversation store did not answer in time", f"no answer within {PROBE_TIMEOUT:g} s"
            )
        return self._passed("store")

    async def _issuer(self) -> Check:
        if self._oauth is None:
            return _PASSED  # no sign-in configured: nothing to wait for
        try:
            with anyio.fail_after(PROBE_TIMEOUT):
                ready = await self._oauth.keys_ready()
        except TimeoutError:
            ready = False
        if ready:
            return self._passed("issuer")
        issuer = self._oauth.issuer
        sentence = (
            f"The OAuth issuer {issuer} has given no usable signing keys (unreachable, or none published), "
            "so no caller can sign in; check that the issuer is up and GLOO_MCP_OAUTH_ISSUER names it."
        )
        return self._failed("issuer", sentence, "see the gloo_mcp.access.oauth warnings for the cause", full=True)

    async def _gloo(self, state: Serving) -> Check:
        detail = None
        try:
            with anyio.fail_after(PROBE_TIMEOUT):
                await state.ready_client().reach()
        except GlooError as error:
            detail = error.message
        except TimeoutError:
            detail = f"no answer within {PROBE_TIMEOUT:g} s"
        now = self._clock()
        if detail is None:
            self._gloo_answered_at = now
        answered = self._gloo_answered_at
        if answered is not None and now - answered <= GLOO_WINDOW:
            return self._passed("gloo")
        since = "since the server started" if answered is None else f"for over {GLOO_WINDOW:g} s"
        sentence = (
            f"Gloo at {self._settings.base_url} has not answered {since}; check GLOO_BASE_URL, the network and any "
            "proxy in the way."
        )
        return self._failed("gloo", sentence, detail or "no answer", full=True)

    def _passed(self, name: str) -> Check:
        if name in self._failing:
            self._failing.discard(name)
            logger.info("readiness: %s is ok again", name)
        return _PASSED

    def _failed(self, name: str, sentence: str, detail: str, *, full: bool = False) -> Check:
        """A failing check: ``sentence`` for the caller (completed with advice unless ``full``), ``detail`` logged."""
        if name not in self._failing:
            self._failing.add(name)
            logger.warning("readiness: %s failing: %s", name, detail)
        if not full:
            sentence += "; the server's log says why, and calls recover by themselves once it answers."
        return Check(False, sentence)
