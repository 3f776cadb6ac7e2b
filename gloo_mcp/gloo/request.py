"""One request to Gloo as a value: what is sent, and what its failures mean.

A :class:`GlooRequest` is built once per call and never changes while the client tries it
(retries, a token refresh). It alone decides whether a failure "may or may not have been
recorded": only a request that records a turn (a message POST) can leave one behind, so only
it turns a server failure, a broken connection, an unreadable answer or a timeout after it was
sent into :class:`~gloo_mcp.errors.MaybeProcessedError`, telling the agent to check the history
rather than send the message again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from gloo_mcp.errors import (
    BadResponseError,
    GlooError,
    MaybeProcessedError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    error_from_status,
    maybe_recorded,
    turn_error_from_status,
    unreadable,
)

__all__ = ["GlooRequest", "ReadBody"]

ReadBody = Callable[[httpx2.Response], Awaitable[object]]
"""Consumes a 2xx response itself (a stream, a large body) and returns what the call returns."""


@dataclass(frozen=True, slots=True)
class GlooRequest:
    """One Gloo request: what to send, and how its answer and its failures are read."""

    method: str
    path: str
    params: Mapping[str, str | int] = field(default_factory=dict)
    payload: Mapping[str, Any] | None = None
    chat_id: str | None = None
    """The chat the request is about: a 404 then means that chat is unknown."""
    records_turn: bool = False
    """Whether Gloo records a turn when it handles the request (a message POST): it may then have
    recorded one although no answer arrived, and is never repeated once it may have been sent."""
    read: ReadBody | None = None
    """How a 2xx answer is read; None reads its body (capped) as one JSON object."""
    authenticated: bool = True
    """Whether the request carries the bearer (the public model catalogue does not)."""

    @property
    def idempotent(self) -> bool:
        return self.method == "GET"

    def retryable_status(self, status: int) -> bool:
        """Whether an answer with ``status`` may be tried again: Gloo did not take it, or repeating is harmless."""
        return status in (429, 503) or (self.idempotent and status in (502, 504))

    def status_error(self, status: int, body: object, *, retry_after: float | None = None) -> GlooError:
        """The error for a failed answer (``body`` is its JSON, or None)."""
        mapping = turn_error_from_status if self.records_turn else error_from_status
        return mapping(status, body, chat_id=self.chat_id, retry_after=retry_after)

    def unreadable(self, problem: str) -> GlooError:
        """A 2xx answer gloo-mcp cannot read: for a turn, Gloo probably recorded it, so the agent must check."""
        return maybe_recorded(problem) if self.records_turn else unreadable(problem)

    def answer_error(self, error: GlooError) -> GlooError:
        """``error``, raised reading a 2xx answer, as this request reports it (see :meth:`unreadable`)."""
        if self.records_turn and isinstance(error, BadResponseError):
            return self.unreadable(error.problem)
        return error

    def broken(self, exc: httpx2.TransportError) -> UpstreamUnavailableError:
        """The connection broke after the request was sent, before its answer arrived."""
        if self.records_turn:
            return MaybeProcessedError(
                f"The connection to Gloo broke before the answer arrived ({type(exc).__name__}), and the message may "
                "or may not have been recorded; call get_chat_history to check before sending it again."
            )
        return UpstreamUnavailableError(
            f"The connection to Gloo broke before the answer arrived ({type(exc).__name__}); try again."
        )

    def timed_out(self, timeout: float, *, reached: bool) -> GlooError:
        """No answer within ``timeout`` seconds; ``reached``: whether an attempt may have reached Gloo."""
        seconds = f"{timeout:g}"
        if self.records_turn and reached:
            return MaybeProcessedError(
                f"Gloo did not answer within GLOO_TIMEOUT ({seconds} s), and the message may or may not have been "
                "recorded; call get_chat_history to check, or raise GLOO_TIMEOUT for long answers."
            )
        return UpstreamTimeoutError(
            f"Gloo did not answer within GLOO_TIMEOUT ({seconds} s); try again, or raise GLOO_TIMEOUT."
        )
