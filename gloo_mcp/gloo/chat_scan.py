"""A whole Message API chat, read once and turned into objects one page at a time.

Gloo's ``GET /ai/v1/chat`` has no paging: a 10,000-turn chat arrives as one body of about
37 MB, and parsing all of it into objects would take several times that in memory.
:meth:`ChatScan.of` walks the body once with the standard JSON scanner, keeping the chat's
own fields and only the *position* of each message; :meth:`ChatScan.page` then parses just
the messages of the page asked for. A scan holds the body's text (at most
``HISTORY_BODY_BYTES``) plus 2 offsets per message; a page holds one page of objects.

The scan returns plain data (the chat's fields, and a page's messages with where they
start): paging fields and cursors are the conversation side's (``gloo_mcp.chats.paging``).
"""

from __future__ import annotations

import json
from typing import Any, Self

from pydantic import ValidationError

from gloo_mcp.errors import BadResponseError
from gloo_mcp.gloo.bodies import not_a_json_object
from gloo_mcp.gloo.wire import WireChat, WireChatMessage
from gloo_mcp.models import ChatHistory, ChatMessage

__all__ = ["ChatScan"]

_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


def _malformed(what: str) -> BadResponseError:
    return BadResponseError(f"Gloo's chat history is not the JSON it documents ({what}); try again later.")


class ChatScan:
    """A chat's fields, and where each of its messages lies in the body's text."""

    def __init__(self, text: str, head: WireChat, spans: list[tuple[int, int]]) -> None:
        self._text = text
        self._head = head
        self._spans = spans

    @property
    def size(self) -> int:
        """Characters of body text held (what a cache of scans should count)."""
        return len(self._text)

    @property
    def total(self) -> int:
        return len(self._spans)

    @property
    def head(self) -> ChatHistory:
        """The chat's own fields (id, title, times), with no messages."""
        return self._head.to_history()

    @classmethod
    def of(cls, body: bytes, content_type: str = "application/json") -> Self:
        """Scan a chat body; BadResponseError if it is not a JSON object with a list of messages."""
        try:
            head, spans = _scan(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError, IndexError):
            raise not_a_json_object(len(body), content_type) from None
        text = body.decode("utf-8")
        try:
            chat = WireChat.model_validate(head)
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in err["loc"]) or "body" for err in exc.errors()})[:3]
            raise _malformed(f"missing or malformed {', '.join(fields)}") from None
        return cls(text, chat, spans)

    def page(self, before: int | None, budget: int) -> tuple[list[ChatMessage], int]:
        """The newest messages before position ``before`` whose JSON fits ``budget`` (at least one), oldest first,
        and the position of the first of them."""
        end = len(self._spans) if before is None else min(before, len(self._spans))
        start, used = end, 0
        while start > 0:
            first, last = self._spans[start - 1]
            if start < end and used + (last - first) > budget:
                break
            used += last - first
            start -= 1
        messages = []
        for first, last in self._spans[start:end]:
            try:
                messages.append(WireChatMessage.model_validate_json(self._text[first:last]).to_message())
            except ValidationError:
                raise _malformed("a message with missing or malformed fields") from None
        return messages, start


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _SPACE:
        at += 1
    return at


def _expect(text: str, at: int, char: str) -> int:
    if text[at] != char:
        raise ValueError(f"expected {char!r} at {at}")
    return at + 1


def _scan(text: str) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """The top-level object's fields except ``messages``, and the (start, end) of each message in it."""
    head: dict[str, Any] = {}
    spans: list[tuple[int, int]] = []
    at = _expect(text, _skip(text, 0), "{")
    at = _skip(text, at)
    if text[at] == "}":
        return head, spans
    while True:
        key, at = _DECODER.raw_decode(text, at)
        if not isinstance(key, str):
            raise ValueError("a key that is not a string")
        at = _skip(text, _expect(text, _skip(text, at), ":"))
        if key == "messages" and text[at] == "[":
            at = _skip(text, at + 1)
            while text[at] != "]":
                _, end = _DECODER.raw_decode(text, at)  # checked and dropped: only its place is kept
                spans.append((at, end))
                at = _skip(text, end)
                if text[at] == ",":
                    at = _skip(text, at + 1)
                elif text[at] != "]":
                    raise ValueError("expected ',' or ']'")
            at += 1
        else:
            head[key], at = _DECODER.raw_decode(text, at)
        at = _skip(text, at)
        if text[at] == "}":
            return head, spans
        at = _skip(text, _expect(text, at, ","))
