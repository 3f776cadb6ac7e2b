"""Every upstream body is read here, under a cap counted after decompression.

JSON answers, error bodies, the token exchange and Completions V2 streams all go through
:func:`limited_chunks`, so no read anywhere can hold more than its cap (a gzip bomb ends at
it). The cap is :data:`MAX_BODY_BYTES` (8 MiB) for every body but a whole chat's history,
which has :data:`HISTORY_BODY_BYTES` (64 MiB): Gloo's chat read has no paging, so that cap is
how long a conversation can grow and still be read, and :func:`read_buffer` with
:mod:`gloo_mcp.gloo.chat_scan` keep its memory near the cap (see there). The auth and
completions modules read bodies too, which is why this lives apart from the client.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import AsyncGenerator
from typing import Any

import httpx2

from gloo_mcp.errors import BadResponseError, GlooError, unreadable

__all__ = [
    "HISTORY_BODY_BYTES",
    "MAX_BODY_BYTES",
    "TOO_LARGE",
    "json_object",
    "limited_chunks",
    "not_a_json_object",
    "read_buffer",
    "read_detail",
    "read_limited",
]

MAX_BODY_BYTES = 8 * 1024 * 1024
"""The most gloo-mcp reads of any one upstream body, counted after decompression."""
HISTORY_BODY_BYTES = 64 * 1024 * 1024
"""The larger cap reserved for a whole chat's history: the Message API has no paging, so a 10,000-turn chat
(about 37 MB) arrives whole, and 64 MiB holds about 17,000 turns of Gloo's answers. It is affordable because
the read holds the body once (:func:`read_buffer`, at most 72 MiB) and only the page being returned is parsed
into objects (chat_scan.py); a longer chat is refused in one sentence, and can still be continued."""


def _too_large(limit: int) -> str:
    return f"Gloo's answer exceeded {limit // (1024 * 1024)} MiB (after decompression) and was discarded"


TOO_LARGE = _too_large(MAX_BODY_BYTES)


async def limited_chunks(response: httpx2.Response, *, limit: int = MAX_BODY_BYTES) -> AsyncGenerator[bytes, None]:
    """The body of ``response``, decompressed, chunk by chunk, ending in an error past ``limit`` bytes.

    ``limit`` is :data:`MAX_BODY_BYTES` for every read but a whole chat's history (see
    :data:`HISTORY_BODY_BYTES`).

    Every upstream body is read through here — JSON answers, error bodies, the token
    exchange, and Completions V2 streams, whose comment lines and blank events count like
    any other byte. Memory: httpx2 inflates gzip, deflate and zstd in pieces of at most
    1 MiB (brotli about the same), however far one compressed chunk would expand, and an
    unencoded chunk is one network read (64 KiB on a socket). A caller that keeps
    everything it is given therefore holds at most the cap plus one such piece, before
    its own parsing.

    Raises the BadResponseError of :func:`~gloo_mcp.errors.unreadable` when the body is too
    large or cannot be decompressed (a request that records a turn reports it as possibly
    recorded: ``GlooRequest.answer_error``). Transport errors pass through for the caller to map.
    """
    size = 0
    try:
        async with contextlib.aclosing(response.aiter_bytes()) as chunks:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise unreadable(_too_large(limit))
                yield chunk
    except httpx2.DecodingError:
        encoding = response.headers.get("content-encoding", "") or "no content encoding"
        raise unreadable(f"Gloo's answer could not be decompressed ({encoding[:40]})") from None


async def read_limited(response: httpx2.Response, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body of ``response``, decompressed, read through :func:`limited_chunks` (same bound, same errors).

    Holds at most twice the cap, briefly, while the pieces are joined.
    """
    parts: list[bytes] = []
    async with contextlib.aclosing(limited_chunks(response, limit=limit)) as chunks:
        async for chunk in chunks:
            parts.append(chunk)
    return b"".join(parts)


async def read_buffer(response: httpx2.Response, *, limit: int = MAX_BODY_BYTES) -> bytearray:
    """The whole body of ``response``, decompressed, in one buffer grown as pieces arrive (same bound, same errors
    as :func:`limited_chunks`).

    For a body too large to copy lightly (a chat's history): it is never held twice. The buffer
    keeps up to an eighth of spare room (how a bytearray grows), so it holds at most 1.125 times
    ``limit``, plus the one piece being added.
    """
    body = bytearray()
    async with contextlib.aclosing(limited_chunks(response, limit=limit)) as chunks:
        async for chunk in chunks:
            body += chunk
    return body


async def read_detail(response: httpx2.Response) -> object:
    """An error answer's JSON body, for the reason it gives, or None when it is not JSON, too large or undecodable.

    The status alone decides what the error is, so an unreadable error body never hides it.
    """
    try:
        return _json_or_none(await read_limited(response))
    except GlooError:
        return None


def _json_or_none(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        return None
    except RecursionError:  # nested deeper than what is left of this call's stack
        return _json_on_a_fresh_stack(body)


def _json_on_a_fresh_stack(body: bytes) -> object:
    """``body`` parsed on a new thread, whose stack is empty: how deep a body may nest must not depend on how deep
    the call that reads it runs (middleware and telemetry spans add frames). Blocks for one parse, on a rare path."""
    parsed: list[object] = [None]

    def parse() -> None:
        with contextlib.suppress(ValueError, RecursionError):  # deeper than Python's whole stack allows
            parsed[0] = json.loads(body)

    worker = threading.Thread(target=parse, name="gloo-mcp deep JSON")
    worker.start()
    worker.join()
    return parsed[0]


def json_object(body: bytes, content_type: str) -> dict[str, Any]:
    """``body`` as a JSON object; anything else is :func:`not_a_json_object`."""
    data = _json_or_none(body)
    if not isinstance(data, dict):
        raise not_a_json_object(len(body), content_type)
    return data


def not_a_json_object(size: int, content_type: str) -> BadResponseError:
    """The error for a body that should have been a JSON object: :func:`~gloo_mcp.errors.unreadable`, naming its
    type and size."""
    kind = content_type.split(";")[0].strip()[:60] or "no content type"
    return unreadable(f"Gloo answered with a body that is not a JSON object ({kind}, {size} bytes)")
