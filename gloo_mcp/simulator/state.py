"""The simulator's memory: credentials, issued tokens, chats, request counts and scripted faults."""

from __future__ import annotations

import secrets
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from gloo_mcp.simulator.bomb import GIB

__all__ = ["Endpoint", "Fault", "SimChat", "SimulatorState", "parse_fault_spec"]

Endpoint = Literal["token", "message", "chat", "completions", "models"]

_ID_NAMESPACE = uuid.UUID("5f0c3d5e-6a43-4d8e-9a61-0d1e2f3a4b5c")


@dataclass(frozen=True)
class Fault:
    """What the simulator does instead of (or after) answering one request.

    ``status`` answers with that status (and ``headers``, ``body``); ``after_processing``
    records the message first, like a server that failed after doing the work;
    ``malformed`` answers 200 with ``body`` (default: broken JSON); ``drop`` cuts the
    connection mid-body; ``delay`` waits first; ``mid_stream_error`` (Completions V2)
    starts a streamed answer, then ends it with an in-band error event; ``bomb`` answers
    200 with a gzip body of about a megabyte that inflates to ``bomb_size`` bytes (``None``:
    without end) of JSON whitespace (``"json"``) or SSE comment lines (``"sse"``).
    """

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0
    after_processing: bool = False
    malformed: bool = False
    drop: bool = False
    mid_stream_error: bool = False
    bomb: Literal["json", "sse"] | None = None
    bomb_size: int | None = GIB


_ENDPOINTS: dict[str, Endpoint] = {
    "token": "token",
    "message": "message",
    "chat": "chat",
    "completions": "completions",
    "models": "models",
}


def _parse_fault(word: str) -> Fault:
    if word == "drop":
        return Fault(drop=True)
    if word == "malformed":
        return Fault(malformed=True)
    if word == "midstream":
        return Fault(mid_stream_error=True)
    if word == "bomb":
        return Fault(bomb="json")
    if word == "ssebomb":
        return Fault(bomb="sse")
    if word.startswith("slow:"):
        return Fault(delay=float(word[5:]))
    if word.endswith("after"):
        return Fault(status=int(word[:-5]), after_processing=True)
    if word.startswith("429:"):
        return Fault(status=429, headers={"Retry-After": word[4:]})
    return Fault(status=int(word))


def parse_fault_spec(spec: str) -> tuple[Endpoint, list[Fault]]:
    """Read ``ENDPOINT=F[,F…]`` where F is a status (``503``), ``429:SECONDS`` (with Retry-After),
    ``500after`` (fail after recording), ``drop``, ``malformed``, ``midstream``, ``bomb`` (a gzip
    bomb of JSON whitespace), ``ssebomb`` (of SSE comment lines) or ``slow:SECONDS``.

    Raises ValueError with a usage hint.
    """
    name, _, words = spec.partition("=")
    endpoint = _ENDPOINTS.get(name.strip())
    if endpoint is None or not words.strip():
        raise ValueError(f"expected token|message|chat|completions|models=FAULT[,FAULT…], not {spec!r}")
    try:
        return endpoint, [_parse_fault(w.strip()) for w in words.split(",")]
    except ValueError:
        raise ValueError(
            f"faults in {spec!r} must be a status, 429:SECONDS, STATUSafter, drop, malformed, midstream, bomb, "
            "ssebomb or slow:SECONDS"
        ) from None


@dataclass
class SimChat:
    chat_id: str
    created_at: float
    updated_at: float
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def turns(self) -> int:
        return sum(1 for m in self.messages if m["role"] == "user")


@dataclass
class SimulatorState:
    """Everything a test or the CLI may read or steer. One instance per simulator app."""

    client_id: str = "sim-client-id"
    client_secret: str = "sim-client-secret"
    api_key: str = "sim-api-key"
    token_lifetime: float = 3600.0
    latency: float = 0.0
    """Seconds Gloo "thinks" before each answer (message and chat reads; the token endpoint stays fast)."""
    chunk_delay: float = 0.0
    """Seconds between the chunks of a streamed Completions V2 answer."""
    context_window: int | None = None
    """Completions V2: tokens (estimated as characters / 4) every model accepts, instead of its catalogue window."""
    completion_bodies: list[int] = field(default_factory=list)
    """Completions V2: the byte size of each request body, in order (for the benchmark's growth curves)."""
    suggestion_requests: int = 0
    """Completions V2: requests that asked for follow-up questions (the rest asked for answers)."""
    follow_ups_status: int | None = None
    """Completions V2: answer every request for follow-up questions with this HTTP status instead."""
    clock: Callable[[], float] = time.time
    tokens: dict[str, float] = field(default_factory=dict)
    chats: dict[str, SimChat] = field(default_factory=dict)
    requests: Counter[Endpoint] = field(default_factory=Counter)
    aborted: Counter[Endpoint] = field(default_factory=Counter)
    connections: set[tuple[str, int]] = field(default_factory=set)
    """Client (address, port) pairs seen: one per TCP connection callers opened (over real sockets)."""
    faults: dict[Endpoint, deque[Fault]] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: secrets.token_hex(8))
    """Mixed into every id, so two simulator runs never hand out the same chat id (a chat id a store
    kept from an earlier run must read as unknown, not as someone else's conversation). Pass a fixed
    value for ids that repeat from run to run."""
    _counter: int = 0

    # --- steering -------------------------------------------------------------------

    def inject(self, endpoint: Endpoint, *faults: Fault) -> None:
        """Queue ``faults`` for the next requests to ``endpoint``, one per request, in order."""
        self.faults.setdefault(endpoint, deque()).extend(faults)

    def next_fault(self, endpoint: Endpoint) -> Fault | None:
        queue = self.faults.get(endpoint)
        return queue.popleft() if queue else None

    def revoke_all_tokens(self) -> None:
        """Make every issued token invalid, as a credential rotation on Gloo's side would."""
        self.tokens.clear()

    def expire_all_tokens(self) -> None:
        for token in self.tokens:
            self.tokens[token] = self.clock() - 1

    # --- behaviour ------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """Gloo-shaped ids: a one-letter prefix and a UUID, unique to this run and deterministic given ``run_id``."""
        self._counter += 1
        return f"{prefix}{uuid.uuid5(_ID_NAMESPACE, f'{self.run_id}-{prefix}-{self._counter}')}"

    def issue_token(self) -> str:
        token = f"sim-token-{secrets.token_urlsafe(24)}"
        self.tokens[token] = self.clock() + self.token_lifetime
        return token

    def bearer_is_valid(self, token: str) -> bool:
        if secrets.compare_digest(token, self.api_key):
            return True
        expires_at = self.tokens.get(token)
        return expires_at is not None and self.clock() < expires_at

    def timestamp(self, at: float | None = None) -> str:
        """Gloo's format: naive ISO-8601 with microseconds, in UTC."""
        moment = datetime.fromtimestamp(self.clock() if at is None else at, UTC).replace(tzinfo=None)
        return moment.isoformat(timespec="microseconds")
