"""Conversation history in pages: the newest messages that fit a size budget, and a cursor further back.

A whole long conversation is useless as one tool result (hosts cap tool output; Claude
Code's default is 25,000 tokens) and costly to build. ``get_chat_history`` and the chat
resources therefore return the newest messages whose JSON fits :data:`PAGE_BUDGET_BYTES`
(at least one message, however large), oldest first, with ``next_cursor`` naming where
the older page ends.
"""

from __future__ import annotations

import base64
import binascii
import json

from gloo_mcp.errors import InvalidRequestError
from gloo_mcp.models import ChatHistory
from gloo_mcp.store import MessagePage

__all__ = ["PAGE_BUDGET_BYTES", "decode_history_cursor", "history_page"]

PAGE_BUDGET_BYTES = 24_000
"""JSON bytes of messages per page: with the Markdown twin, about 12k tokens, half a host's usual cap."""


def _encode(before: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": before}).encode()).decode().rstrip("=")


def decode_history_cursor(cursor: str | None) -> int | None:
    """The message position a cursor names (None: start from the newest); InvalidRequestError if not ours."""
    if cursor is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        before = value["before"]
        if not isinstance(before, int) or isinstance(before, bool) or before < 1:
            raise ValueError(before)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidRequestError(
            "cursor is not one that get_chat_history returned; pass next_cursor unchanged, or omit it for the "
            "newest messages."
        ) from None
    return before


def history_page(history: ChatHistory, page: MessagePage) -> ChatHistory:
    """``history``'s facts about the chat with ``page``'s messages and the paging fields."""
    return history.model_copy(
        update={
            "messages": page.messages,
            "total_messages": page.total,
            "first_index": page.start,
            "has_more": page.start > 0,
            "next_cursor": _encode(page.start) if page.start > 0 else None,
        }
    )
