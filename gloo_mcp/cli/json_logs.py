"""JSON log lines (``GLOO_MCP_LOG_FORMAT=json``): logs and audit lines in one stream a collector parses.

Each line is one JSON object, like the audit line of a tool call (:mod:`gloo_mcp.access.audit`) it
sits beside on stderr: ``at`` (Unix time, milliseconds), ``event`` (``log`` here,
``tool_call`` there), then ``level``, ``logger`` and ``message``; ``trace_id`` and ``span_id``
when the line was written inside a traced request, so a log line leads to its trace.
"""

from __future__ import annotations

import json
import logging
import time

from opentelemetry import trace

__all__ = ["JsonLines", "json_line"]


class JsonLines(logging.Formatter):
    """Formats a log record as one JSON line (the secret-redacting filter has already run on its message)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "at": round(record.created, 3),
            "event": "log",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)


def json_line(message: str, *, level: str = "INFO", logger: str = "gloo_mcp") -> str:
    """``message`` as the JSON line a log record would make, for what the CLI prints itself (its start-up line)."""
    entry = {"at": round(time.time(), 3), "event": "log", "level": level, "logger": logger, "message": message}
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
