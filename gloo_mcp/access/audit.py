"""One structured line per tool call on HTTP: who, which tool, which chat, how it ended, how long it took.

Written as JSON to stderr (the server's log stream), whatever the log level. It never
carries message content, tokens or secrets: the principal is an issuer and subject, the
chat id is one the chat_id rule accepts, and the outcome is ``ok`` or an error's kind.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

from gloo_mcp.models import could_be_chat_id

__all__ = ["AuditLog", "note_failure"]

_failure: ContextVar[str | None] = ContextVar("gloo_mcp_audit_failure", default=None)


def note_failure(kind: str) -> None:
    """Name the kind of error the current tool call ends with (read by the audit line)."""
    _failure.set(kind)


def _stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class AuditLog:
    """Writes the audit line of each tool call through ``write`` (default: a line on stderr)."""

    def __init__(self, write: Callable[[str], None] = _stderr_line, clock: Callable[[], float] = time.time) -> None:
        self._write = write
        self._clock = clock

    def start(self) -> float:
        _failure.set(None)
        return time.monotonic()

    def record(
        self,
        *,
        started: float,
        principal: str,
        tool: str,
        arguments: Mapping[str, Any],
        structured: Mapping[str, Any] | None,
        is_error: bool,
    ) -> None:
        chat_id = arguments.get("chat_id") or (structured or {}).get("chat_id")
        entry = {
            "event": "tool_call",
            "at": round(self._clock(), 3),
            "principal": principal,
            "tool": tool,
            "chat_id": chat_id if isinstance(chat_id, str) and could_be_chat_id(chat_id) else None,
            "outcome": (_failure.get() or "error") if is_error else "ok",
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        }
        self._write(json.dumps(entry, separators=(",", ":")))
