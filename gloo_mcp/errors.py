"""The errors gloo-mcp raises, each carrying one actionable, secret-free sentence.

Tools raise these; the MCP boundary turns them into ``isError`` results whose text is
``str(error)``. Upstream HTTP failures are mapped to them in exactly one place,
:func:`error_from_status` (through :func:`turn_error_from_status` for a request that records a
turn, as ``gloo_mcp.gloo.request.GlooRequest`` decides).

    GlooError
     ├── ConfigurationError        settings missing or invalid
     ├── AuthenticationError       401 / 403, or the token exchange failed
     ├── ChatNotFoundError         the chat id is unknown to Gloo
     ├── InvalidRequestError       Gloo rejected the request (400 / 422)
     ├── RateLimitedError          429, after the retries allowed
     ├── UpstreamUnavailableError  5xx, or Gloo could not be reached
     │    └── MaybeProcessedError  a message POST failed, or its answer was unreadable, after
     │                             Gloo may have recorded it
     ├── UpstreamTimeoutError      no answer within GLOO_TIMEOUT
     ├── BadResponseError          Gloo answered with something we cannot read (too large,
     │                             not decompressible, not JSON, wrong shape)
     └── StoreError                gloo-mcp's own conversation store failed
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gloo_mcp.models import one_line

__all__ = [
    "AuthenticationError",
    "BadResponseError",
    "ChatNotFoundError",
    "ConfigurationError",
    "GlooError",
    "InvalidRequestError",
    "MaybeProcessedError",
    "RateLimitedError",
    "StoreError",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
    "error_from_status",
    "human_wait",
    "maybe_recorded",
    "shorten",
    "turn_error_from_status",
    "unreadable",
]

_DETAIL_LIMIT = 200


class GlooError(Exception):
    """Root of every failure gloo-mcp reports; never raised bare.

    ``status`` is the upstream HTTP status when there was one; ``str(error)`` is the
    sentence shown to the agent.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ConfigurationError(GlooError):
    """The server's settings are missing or invalid; the user must change them."""


class AuthenticationError(GlooError):
    """Gloo refused the credentials, or the token exchange failed."""


class ChatNotFoundError(GlooError):
    """The chat id does not name a conversation Gloo knows."""


class InvalidRequestError(GlooError):
    """Gloo rejected the request's content (400 or 422)."""


class RateLimitedError(GlooError):
    """Gloo kept answering 429 after the retries the deadline allowed."""

    def __init__(self, message: str, *, status: int | None = 429, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class UpstreamUnavailableError(GlooError):
    """Gloo failed on its side, or could not be reached at all."""


class MaybeProcessedError(UpstreamUnavailableError):
    """A message POST failed after Gloo may have recorded it, so it was not repeated."""


class UpstreamTimeoutError(GlooError):
    """No complete answer arrived within the call's deadline."""


class BadResponseError(GlooError):
    """Gloo answered, but the body is not what its API documents.

    ``problem`` is what went wrong, without the advice that ends the sentence, for callers
    that report it inside a sentence of their own.
    """

    def __init__(self, message: str, *, status: int | None = None, problem: str | None = None) -> None:
        super().__init__(message, status=status)
        self.problem = problem if problem is not None else message


class StoreError(GlooError):
    """The local conversation store (GLOO_STORE_URL) could not be opened, read or written."""


_AN_HOUR = 3600.0


def shorten(text: str, limit: int) -> str:
    """``text`` on one line (each run of whitespace one space), cut to at most ``limit`` characters with "…".

    For a text someone else wrote that ends up inside a sentence or a title: Gloo's reasons,
    a conversation's first question.
    """
    line = " ".join(one_line(text).split())  # control characters too: Gloo's text may carry terminal escapes
    return line if len(line) <= limit else line[: limit - 1] + "…"


def human_wait(seconds: float | None) -> str:
    """How long to wait, as a person would say it: "in about 30 s", "in about 2 min", "in about 1 h".

    Anything over an hour (including an infinite or absurd server value) is "later", saying
    that Gloo asked for more than an hour; nothing, or under a second, is "shortly".
    """
    if seconds is None or not seconds >= 0.5:  # also catches NaN
        return "shortly"
    if seconds > _AN_HOUR:
        return "later (Gloo asked for more than an hour)"
    if seconds < 90:
        return f"in about {seconds:.0f} s"
    minutes = int(seconds / 60 + 0.5)  # half up: 150 s is "about 3 min"
    return f"in about {minutes} min" if minutes < 60 else "in about 1 h"


def maybe_recorded(problem: str, *, status: int | None = None) -> MaybeProcessedError:
    """A message POST that failed after Gloo may have recorded it: ``problem``, then what to do instead of resending."""
    return MaybeProcessedError(
        f"{problem}, and the message may or may not have been recorded; call get_chat_history to check before "
        "sending it again.",
        status=status,
    )


def unreadable(problem: str) -> BadResponseError:
    """Gloo answered with a success status but a body gloo-mcp cannot read (``problem`` says how).

    A request that records a turn reports it as :func:`maybe_recorded` instead (Gloo probably
    recorded the message, so trying again would duplicate the turn): see ``GlooRequest.unreadable``.
    """
    return BadResponseError(f"{problem}; try again later.", problem=problem)


def _reason(body: object) -> str:
    """`` (reason)`` from an error body, or nothing."""
    detail = _detail(body)
    return f" ({detail})" if detail else ""


def _detail(body: object) -> str | None:
    """Pull a short human-readable reason out of Gloo's error bodies.

    Gloo uses FastAPI's ``{"detail": ...}`` on the chat API and ``{"error": ...}`` on
    newer endpoints; a 422 detail is a list of ``{loc, msg}`` items.
    """
    if not isinstance(body, Mapping):
        return None
    raw: Any = body.get("detail", body.get("error"))
    if isinstance(raw, Mapping):
        raw = raw.get("message") or raw.get("name")
    if isinstance(raw, list):
        parts = []
        for item in raw:
            if isinstance(item, Mapping):
                loc = item.get("loc")
                field = loc[-1] if isinstance(loc, list) and loc else None
                msg = item.get("msg", "")
                parts.append(f"{field}: {msg}" if field is not None else str(msg))
        raw = "; ".join(parts)
    if not isinstance(raw, str) or not raw.strip():
        return None
    return shorten(raw, _DETAIL_LIMIT)


def turn_error_from_status(
    status: int, body: object, *, chat_id: str | None = None, retry_after: float | None = None
) -> GlooError:
    """Map one failed answer to a request that records a turn (a message POST) to the error the agent should see.

    A server-side failure there may already have recorded the message, and the agent must be
    told so; a 404 without a chat means the message endpoint itself is missing. Every other
    status means what it means for any request (:func:`error_from_status`).
    """
    reason = _reason(body)
    if status == 404 and chat_id is None:  # the message endpoint itself is missing: the base URL is wrong
        return ConfigurationError(
            f"Gloo's message endpoint was not found (HTTP 404){reason}; check GLOO_BASE_URL, which must be Gloo's "
            "origin (https://platform.ai.gloo.com) without a path.",
            status=status,
        )
    if (status >= 500 or status == 408) and status != 503:  # a 503 means Gloo did not take the message
        return maybe_recorded(f"Gloo failed while handling the message (HTTP {status}){reason}", status=status)
    return error_from_status(status, body, chat_id=chat_id, retry_after=retry_after)


def error_from_status(
    status: int,
    body: object,
    *,
    chat_id: str | None = None,
    retry_after: float | None = None,
) -> GlooError:
    """Map one failed upstream HTTP answer to the error the agent should see.

    A request that records a turn goes through :func:`turn_error_from_status` first.
    """
    reason = _reason(body)
    if status == 401:
        return AuthenticationError(
            "Gloo rejected the credentials (HTTP 401); check GLOO_API_KEY, or GLOO_CLIENT_ID and GLOO_CLIENT_SECRET.",
            status=status,
        )
    if status == 403:
        return AuthenticationError(
            f"Gloo refused access (HTTP 403){reason}; the credentials are valid but lack permission for this "
            "request — check the account's plan, spend cap and publisher access in Gloo AI Studio.",
            status=status,
        )
    if status == 404 and chat_id is not None:
        return ChatNotFoundError(
            f"Gloo has no chat with id {chat_id!r}; check the id, or call send_message to start a new conversation.",
            status=status,
        )
    if status == 429:
        return RateLimitedError(
            f"Gloo is rate-limiting these requests (HTTP 429){reason}; try again {human_wait(retry_after)}.",
            retry_after=retry_after,
        )
    if status in (400, 404, 405, 409, 413, 415, 422):
        return InvalidRequestError(
            f"Gloo rejected the request (HTTP {status}){reason}; correct the arguments and try again.",
            status=status,
        )
    if status >= 500 or status == 408:
        return UpstreamUnavailableError(
            f"Gloo is unavailable right now (HTTP {status}){reason}; try again in a minute.", status=status
        )
    return BadResponseError(f"Gloo answered with unexpected HTTP status {status}{reason}.", status=status)
