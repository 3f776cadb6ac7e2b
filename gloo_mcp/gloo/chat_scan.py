"""A whole Message API chat, read once and turned into objects one page at a time.

Gloo's ``GET /ai/v1/chat`` has no paging: a 10,000-turn chat arrives as one body of about
37 MB. So the history read has its own cap, ``HISTORY_BODY_BYTES`` (64 MiB, about 17,000
turns of Gloo's answers), rather than the 8 MiB of every other body: a conversation stays
readable until it outgrows that (longer ones are refused in one sentence and can still be
continued), and paging back through it costs no further read.

Memory, per history read (Python allocations, measured with tracemalloc in
tests/test_chat_scan.py):

* the body as it arrived, in one buffer: at most 1.125 times its size (a bytearray's spare
  room), so 72 MiB at the cap. It is never joined from pieces, decoded into a copy of
  itself, or parsed whole;
* 4 bytes per message for where it ends: about 0.1 % of a real chat, and at most a third of
  the body, since a message and its comma take at least 12 bytes (a shorter message cannot
  name its role, and is refused);
* one page of objects: 24 kB of messages' JSON (about 4 MiB of objects and text at most,
  for 2,000 of the smallest messages), or a single message of up to :data:`MESSAGE_BYTES`
  (2 MiB), which costs up to about 9 times its size to build and render (text with one
  emoji takes 4 bytes a character as a Python string).

:meth:`ChatScan.of` walks the bytes with regular expressions that step over each message
without building anything (nesting up to 200 levels, as deep as pydantic's JSON parser
goes), keeping the chat's own fields and only where each message ends; :meth:`ChatScan.page`
parses just the messages of the page asked for.

The scan returns plain data (the chat's fields, and a page's messages with where they
start): paging fields and cursors are the conversation side's (``gloo_mcp.chats.paging``).
"""

from __future__ import annotations

import functools
import json
import re
import sys
from array import array
from typing import Any, Self

from pydantic import ValidationError

from gloo_mcp.errors import BadResponseError
from gloo_mcp.gloo.bodies import not_a_json_object
from gloo_mcp.gloo.wire import WireChat, WireChatMessage
from gloo_mcp.models import ChatHistory, ChatMessage

__all__ = ["MESSAGE_BYTES", "MESSAGE_NESTING", "ChatScan"]

MESSAGE_BYTES = 2 * 1024 * 1024
"""The largest message a page shows. An answer has at most 100,000 characters (the ceiling of character_limit;
600 kB even written as JSON escapes) and 50 sources; a question at most 10,000 characters."""
MESSAGE_NESTING = 200
"""Containers a message may nest inside itself: pydantic's JSON parser refuses deeper, so no deeper one could
be shown anyway."""
_HEAD_FIELD_BYTES = 64 * 1024
"""The most JSON decoded for one of the chat's own fields (its id, title, timestamps)."""
_HEAD_FIELDS = frozenset(WireChat.model_fields)
_SMALLEST_MESSAGE = len(b'{"role":""}')
_SPACE = rb"[ \t\n\r]*+"
_STRING = rb'"[^"\\]*+(?:\\[\s\S][^"\\]*+)*+"'


def _content(levels: int) -> bytes:
    """A pattern for a container's inside with up to ``levels`` containers nested in it.

    Brackets are only counted, not paired (``[}`` passes): it finds where a value ends; the
    page's parser checks what it holds. Quantifiers are possessive, so the engine keeps no
    backtracking state and steps over each byte once.
    """
    inside = rb'(?:[^"\[\]{}]++|' + _STRING + rb")*+"
    for _ in range(levels):
        inside = rb'(?:[^"\[\]{}]++|' + _STRING + rb"|[\[{]" + inside + rb"[\]}])*+"
    return inside


@functools.cache
def _message_re() -> re.Pattern[bytes]:
    """One message, an object (compiled on first use: 200 levels take about 15 ms)."""
    return re.compile(rb"\{" + _content(MESSAGE_NESTING) + rb"\}")


@functools.cache
def _value_re() -> re.Pattern[bytes]:
    """Any JSON value: a string, an array or object, or a bare word (number, true, false, null)."""
    return re.compile(rb"(?:" + _STRING + rb"|[\[{]" + _content(MESSAGE_NESTING) + rb"[\]}]|[^ \t\n\r\"\[\]{},:]++)")


_SPACE_RE = re.compile(_SPACE)
_KEY_RE = re.compile(rb"(" + _STRING + rb")" + _SPACE + rb":" + _SPACE)
_SEPARATOR_RE = re.compile(_SPACE + rb"," + _SPACE)
_OPEN_OBJECT, _CLOSE_OBJECT, _OPEN_ARRAY, _CLOSE_ARRAY, _COMMA = b"{}[],"


def _malformed(what: str) -> BadResponseError:
    return BadResponseError(f"Gloo's chat history is not the JSON it documents ({what}); try again later.")


class ChatScan:
    """A chat's fields, and where each of its messages lies in the body."""

    def __init__(self, body: bytes | bytearray, head: WireChat, first: int, ends: array[int]) -> None:
        self._body = body
        self._head = head
        self._first = first  # where the first message starts; each later one starts after the comma that ends one
        self._ends = ends

    @property
    def size(self) -> int:
        """Bytes held: the body (with its buffer's spare room) and the offsets (what a cache of scans should count)."""
        return sys.getsizeof(self._body) + sys.getsizeof(self._ends)

    @property
    def total(self) -> int:
        return len(self._ends)

    @property
    def head(self) -> ChatHistory:
        """The chat's own fields (id, title, times), with no messages."""
        return self._head.to_history()

    @classmethod
    def of(cls, body: bytes | bytearray, content_type: str = "application/json") -> Self:
        """Scan a chat body, which the scan then holds (do not change it); BadResponseError if it is not a JSON
        object with a list of messages."""
        try:
            head, first, ends = _scan(body)
        except (ValueError, IndexError, RecursionError):  # IndexError: the body ended early
            raise not_a_json_object(len(body), content_type) from None
        try:
            chat = WireChat.model_validate(head)
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in err["loc"]) or "body" for err in exc.errors()})[:3]
            raise _malformed(f"missing or malformed {', '.join(fields)}") from None
        return cls(body, chat, first, ends)

    def _span(self, index: int) -> tuple[int, int]:
        if index == 0:
            return self._first, self._ends[0]
        separator = _SEPARATOR_RE.match(self._body, self._ends[index - 1])
        assert separator is not None  # the scan found one there
        return separator.end(), self._ends[index]

    def page(self, before: int | None, budget: int) -> tuple[list[ChatMessage], int]:
        """The newest messages before position ``before`` whose JSON fits ``budget`` (at least one), oldest first,
        and the position of the first of them.

        BadResponseError if one of them is malformed or over :data:`MESSAGE_BYTES`.
        """
        end = len(self._ends) if before is None else min(before, len(self._ends))
        start, used = end, 0
        spans: list[tuple[int, int]] = []
        while start > 0:
            first, last = self._span(start - 1)
            if start < end and used + (last - first) > budget:
                break
            used += last - first
            start -= 1
            spans.append((first, last))
        messages = []
        for first, last in reversed(spans):
            if last - first > MESSAGE_BYTES:
                raise _malformed(f"a message of {last - first:,} bytes, more than any answer Gloo sends")
            try:
                messages.append(WireChatMessage.model_validate_json(self._body[first:last]).to_message())
            except ValidationError:
                raise _malformed("a message with missing or malformed fields") from None
        return messages, start


def _space(body: bytes | bytearray, at: int) -> int:
    match = _SPACE_RE.match(body, at)
    assert match is not None  # it matches the empty string
    return match.end()


def _scan(body: bytes | bytearray) -> tuple[dict[str, Any], int, array[int]]:
    """The top-level object's own fields, where its first message starts, and where each message ends.

    ValueError or IndexError when the body is not a JSON object of that shape.
    """
    head: dict[str, Any] = {}
    first = 0
    ends: array[int] = array("I")  # 4 bytes each: a history body is far below 4 GiB
    at = _space(body, 0)
    if body[at] != _OPEN_OBJECT:
        raise ValueError("not an object")
    at = _space(body, at + 1)
    if body[at] == _CLOSE_OBJECT:
        return head, first, ends
    seen_messages = False
    while True:
        key_match = _KEY_RE.match(body, at)
        if key_match is None:
            raise ValueError("expected a key")
        raw_key = key_match.group(1)
        key = json.loads(raw_key) if len(raw_key) <= 128 else None  # no field we read has a longer name
        at = key_match.end()
        if key == "messages" and body[at] == _OPEN_ARRAY:
            if seen_messages:
                raise ValueError("two lists of messages")
            seen_messages = True
            first = _space(body, at + 1)
            at = _scan_messages(body, first, ends)
        else:
            value = _value_re().match(body, at)
            if value is None:
                raise ValueError("expected a value")
            if key in _HEAD_FIELDS:
                if value.end() - at > _HEAD_FIELD_BYTES:
                    raise _malformed(f"{key} longer than {_HEAD_FIELD_BYTES // 1024} KiB")
                head[key] = json.loads(body[at : value.end()])
            at = value.end()
        at = _space(body, at)
        if body[at] == _CLOSE_OBJECT:
            return head, first, ends
        if body[at] != _COMMA:
            raise ValueError("expected ',' or '}'")
        at = _space(body, at + 1)


def _scan_messages(body: bytes | bytearray, at: int, ends: array[int]) -> int:
    """Record where each message of the list starting at ``at`` ends; return the position after the list."""
    if body[at] == _CLOSE_ARRAY:
        return at + 1
    pattern = _message_re()
    while True:
        message = pattern.match(body, at)
        if message is None:
            raise ValueError("a message that is not an object")
        if message.end() - at < _SMALLEST_MESSAGE:
            raise _malformed("a message too short to name its role")
        ends.append(message.end())
        at = _space(body, message.end())
        if body[at] == _CLOSE_ARRAY:
            return at + 1
        if body[at] != _COMMA:
            raise ValueError("expected ',' or ']'")
        at = _space(body, at + 1)
