"""Conversation history in pages: the newest messages that fit a size budget, and a cursor further back.

A whole long conversation is useless as one tool result (hosts cap tool output; Claude
Code's default is 25,000 tokens) and costly to build. ``get_chat_history`` and the chat
resources therefore return the newest messages whose JSON fits :data:`PAGE_BUDGET_BYTES`
(at least one message, however large), oldest first, with ``next_cursor`` naming where
the older page ends. ``list_chats`` pages the index of conversations the same way, with a
cursor of its own (:func:`encode_cursor`, :func:`decode_cursor`).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from gloo_mcp.errors import InvalidRequestError
from gloo_mcp.models import ChatHistory, ChatMessage, ChatSummary

if TYPE_CHECKING:
    from gloo_mcp.gloo.chat_scan import ChatScan

__all__ = [
    "PAGE_BUDGET_BYTES",
    "MessagePage",
    "decode_cursor",
    "decode_history_cursor",
    "encode_cursor",
    "history_page",
    "scan_page",
]

PAGE_BUDGET_BYTES = 24_000
"""JSON bytes of messages per page: with the Markdown twin, about 12k tokens, half a host's usual cap."""


@dataclass(frozen=True)
class MessagePage:
    """Some consecutive messages of a chat: ``messages[0]`` is at position ``start`` of ``total``."""

    messages: list[ChatMessage]
    start: int
    total: int


def _pack(value: object) -> str:
    """A cursor: ``value`` as JSON, in unpadded URL-safe base64 (opaque to the agent, one word to copy)."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _unpack(cursor: str) -> object:
    """The JSON value a :func:`_pack` cursor holds; ValueError (binascii's and json's errors too) if it holds none."""
    return json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))


def decode_history_cursor(cursor: str | None) -> int | None:
    """The message position a cursor names (None: start from the newest); InvalidRequestError if not ours."""
    if cursor is None:
        return None
    try:
        value = _unpack(cursor)
        if not isinstance(value, dict):
            raise ValueError("not a get_chat_history cursor")
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
            "next_cursor": _pack({"before": page.start}) if page.start > 0 else None,
        }
    )


def scan_page(scan: ChatScan, before: int | None, budget: int = PAGE_BUDGET_BYTES) -> ChatHistory:
    """The page of a scanned Message API chat (``gloo_mcp.gloo.chat_scan``) that ends before ``before``."""
    messages, start = scan.page(before, budget)
    return history_page(scan.head, MessagePage(messages, start, scan.total))


def encode_cursor(summary: ChatSummary) -> str:
    """The list_chats cursor after ``summary``: its (updated_at ISO, chat_id)."""
    return _pack([summary.updated_at.isoformat(), summary.chat_id])


def decode_cursor(cursor: str) -> tuple[str, str]:
    """(updated_at ISO, chat_id) of the last chat on the previous page; InvalidRequestError if it is not ours."""
    try:
        value = _unpack(cursor)
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            raise ValueError("not a list_chats cursor")
        updated_at, chat_id = value
        datetime.fromisoformat(updated_at)
    except ValueError:  # binascii.Error and json's errors are ValueErrors too
        raise InvalidRequestError(
            "cursor is not one that list_chats returned; pass next_cursor unchanged, or omit it for the newest."
        ) from None
    return updated_at, chat_id
