"""Gloo's Completions V2: one streamed chat completion, and the public model catalogue.

V2 is stateless: the caller sends the conversation each turn (gloo-mcp keeps it in
its store). Answers are always streamed (``stream: true``) so they can be shown as they
are written: SSE ``data:`` chunks, OpenAI-shaped, ending at the first non-null
``finish_reason`` (Gloo sends no ``[DONE]``; one is tolerated). With publishers the
grounded endpoint answers, its citations arriving as the first event.

Reading the answer. The stream is parsed here, over :func:`gloo_mcp.gloo.bodies.limited_chunks`,
so every byte of it counts against the one upstream cap — comment lines and blank events
too, not only data. Odd parts are passed over rather than failing the answer: a choice
that is not an object, a citation that cannot be read as a source, an id that is not a
short plain string (the turn then gets an id of gloo-mcp's own). A body that is not a
JSON object, or a stream that turns unreadable before any text, is a BadResponseError.

When part of the answer has arrived and the stream then goes bad — an event that is not
JSON, more than the cap, a body that stops decompressing, a broken connection, or an end
before any ``finish_reason`` — the text is handed over rather than thrown away: the user
has already watched it arrive as progress, and asking again costs a new answer. It ends
with a bracketed note saying that and why it stopped early ("[gloo-mcp: the answer stopped
early, so it may be incomplete: …]"), which is stored with the turn. An error Gloo reports
in-band (``finish_reason: error``, the content filter) stays an error: Gloo has said the
text is not an answer.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
from pydantic import ValidationError

from gloo_mcp.errors import BadResponseError, InvalidRequestError, UpstreamUnavailableError, shorten, unreadable
from gloo_mcp.gloo.bodies import MAX_BODY_BYTES, TOO_LARGE, json_object, limited_chunks, read_limited
from gloo_mcp.gloo.client import GlooClient
from gloo_mcp.gloo.routing import Routing
from gloo_mcp.models import ModelInfo, Source, plain_text

__all__ = ["Completion", "OnText", "complete", "list_models"]

COMPLETIONS_PATH = "/ai/v2/chat/completions"
GROUNDED_PATH = "/ai/v2/chat/completions/grounded"
MODELS_PATH = "/platform/v2/models"
MAX_SOURCES = 50
"""Citations read per answer (the tools return at most 50); the rest are not even validated."""
MAX_MODELS = 1000
"""Catalogue entries read; Gloo lists a few dozen."""
_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")
_SAID_LIMIT = 200

OnText = Callable[[str], Awaitable[None]]


@dataclass
class Completion:
    """One finished answer: its text and the sources Gloo cited."""

    content: str = ""
    sources: list[Source] = field(default_factory=list)
    completion_id: str | None = None


async def complete(
    client: GlooClient,
    messages: Sequence[Mapping[str, str]],
    *,
    routing: Routing,
    publisher: str | None = None,
    sources_limit: int = 5,
    on_text: OnText | None = None,
) -> Completion:
    """Stream one completion of ``messages``; ``on_text`` receives each new piece of the answer."""
    grounded = publisher is not None
    payload: dict[str, Any] = {"messages": list(messages), "stream": True, **routing.fields(grounded=grounded)}
    if grounded:
        payload |= {
            "rag_publisher": publisher,
            "sources_limit": min(max(sources_limit, 1), 10),
            "include_citations": True,
        }

    async def read(response: httpx2.Response) -> object:
        return await _read_stream(response, on_text)

    result = await client.call("POST", GROUNDED_PATH if grounded else COMPLETIONS_PATH, payload=payload, read=read)
    assert isinstance(result, Completion)
    return result


async def list_models(client: GlooClient) -> list[ModelInfo]:
    """Gloo's public model catalogue (no credentials needed)."""
    data = await client.call("GET", MODELS_PATH, authenticated=False)
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise unreadable("Gloo's model catalogue has no data list")
    models = []
    for item in items[:MAX_MODELS]:
        try:
            model = ModelInfo.model_validate(item)
            model.model_dump_json()  # an entry nested too deep to be written back out would fail the tool
        except ValueError:  # (ValidationError too) one odd entry must not hide the rest of the catalogue
            continue
        models.append(model)
    return models


async def _read_stream(response: httpx2.Response, on_text: OnText | None) -> Completion:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "text/event-stream":  # a server that ignored stream: true
        return _whole(json_object(await read_limited(response), kind))
    answer = _Answer(on_text)
    async with contextlib.aclosing(_chunks(response)) as chunks:
        while True:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return answer.ended()
            except (BadResponseError, httpx2.TransportError) as exc:
                return answer.broken(exc)
            if await answer.take(chunk):
                return answer.completion()


class _Answer:
    """The answer as its chunks arrive: text pieces (joined once, at the end), sources and id."""

    def __init__(self, on_text: OnText | None) -> None:
        self._on_text = on_text
        self._pieces: list[str] = []
        self._sources: list[Source] = []
        self._id: str | None = None

    async def take(self, chunk: Mapping[str, Any]) -> bool:
        """Add one chunk; True when it finished the answer. Raises for an error Gloo reports in-band."""
        self._id = self._id or _clean_id(chunk.get("id"))
        self._sources += _sources(chunk.get("citations"), room=MAX_SOURCES - len(self._sources))
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            piece = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(piece, str) and piece:
                self._pieces.append(piece)
                if self._on_text is not None:  # progress and a task's status: as clean as the answer will be
                    await self._on_text(plain_text(piece))
            finish = choice.get("finish_reason")
            if finish is not None:
                _check_finish(finish, chunk.get("error"))
                return True
        if chunk.get("error"):
            _check_finish("error", chunk["error"])
        return False

    def completion(self, note: str = "") -> Completion:
        return Completion(content="".join(self._pieces) + note, sources=self._sources, completion_id=self._id)

    def ended(self) -> Completion:
        """The stream ended without a finish_reason."""
        if not self._pieces:
            raise UpstreamUnavailableError("Gloo's answer stream ended before any text arrived; try again.")
        return self._cut_short("the stream ended before Gloo finished the answer")

    def broken(self, exc: BadResponseError | httpx2.TransportError) -> Completion:
        """The stream went bad; with no text yet that is the error (the client maps transport errors)."""
        if not self._pieces:
            raise exc
        if isinstance(exc, httpx2.TransportError):
            return self._cut_short(f"the connection to Gloo broke ({type(exc).__name__})")
        if exc.problem == TOO_LARGE:
            return self._cut_short(
                f"the stream passed {MAX_BODY_BYTES // (1024 * 1024)} MiB and the rest was discarded"
            )
        return self._cut_short(exc.problem)

    def _cut_short(self, reason: str) -> Completion:
        return self.completion(f"\n\n[gloo-mcp: the answer stopped early, so it may be incomplete: {reason}.]")


async def _chunks(response: httpx2.Response) -> AsyncGenerator[dict[str, Any], None]:
    """The stream's events as JSON objects, up to ``[DONE]`` if one comes; one that is not is a BadResponseError."""
    async with contextlib.aclosing(_sse_data(limited_chunks(response))) as events:
        async for event in events:
            data = event.strip()
            if not data:
                continue
            if data == "[DONE]":
                return
            yield _json_object(data)


async def _sse_data(chunks: AsyncIterator[bytes]) -> AsyncGenerator[str, None]:
    """The ``data`` of each server-sent event in ``chunks``; comments and other fields are read past.

    Lines end in LF, CRLF or CR. An event still open when the stream ends is yielded too.
    Nothing is kept but the current line and the current event's data, both inside the cap
    that ``chunks`` enforces.
    """
    partial: list[bytes] = []  # the current line so far
    data: list[bytes] = []
    async for chunk in chunks:
        if b"\n" not in chunk and b"\r" not in chunk:
            partial.append(chunk)
            continue
        text = b"".join(partial) + chunk
        partial = []
        if not data and b"data" not in text:  # only comments, blank lines and other fields: nothing to keep
            end = max(text.rfind(b"\n"), text.rfind(b"\r")) + 1
            partial = [text[end:]] if end < len(text) else []
            continue
        lines = text.splitlines(keepends=True)
        if not lines[-1].endswith(b"\n"):  # unfinished, or a CR whose LF may be in the next chunk
            partial.append(lines.pop())
        for line in lines:
            event = _sse_line(line.rstrip(b"\r\n"), data)
            if event is not None:
                yield event
    for line in b"".join(partial).splitlines():
        event = _sse_line(line, data)
        if event is not None:
            yield event
    if data:
        yield b"\n".join(data).decode("utf-8", "replace")


def _sse_line(line: bytes, data: list[bytes]) -> str | None:
    """Read one line into ``data``; a blank line ends the event and returns its data (if it had any)."""
    if not line:
        if not data:
            return None
        event = b"\n".join(data).decode("utf-8", "replace")
        data.clear()
        return event
    name, _, value = line.partition(b":")
    if name == b"data":
        data.append(value[1:] if value.startswith(b" ") else value)
    return None  # a comment (empty name), event, id, retry or unknown field


def _json_object(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise unreadable("Gloo's answer stream carried an event that is not JSON") from None
    if not isinstance(value, dict):
        raise unreadable("Gloo's answer stream carried an event that is not a JSON object")
    return value


def _check_finish(finish: object, error: object) -> None:
    if finish in ("stop", "length", "tool_calls"):
        return
    if finish == "content_filter":
        raise InvalidRequestError("Gloo's content filter stopped this answer; rephrase the question and try again.")
    details = error if isinstance(error, Mapping) else {}
    name = _said(details.get("name")) or _said(details.get("type")) or "error"
    message = _said(details.get("message")) or "no details"
    if details.get("retryable") is True:
        raise UpstreamUnavailableError(f"Gloo's model stopped mid-answer ({name}: {message}); try again.")
    raise BadResponseError(f"Gloo ended the answer with an error ({name}: {message}); try again or rephrase.")


def _said(value: object) -> str | None:
    """A short, one-line rendering of a text Gloo sent, or None when it sent no text."""
    if not isinstance(value, str) or not value.strip():
        return None
    return shorten(value, _SAID_LIMIT)


def _clean_id(value: object) -> str | None:
    """Gloo's completion id when it is a short plain string; otherwise none (the turn gets its own id)."""
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def _sources(citations: object, *, room: int = MAX_SOURCES) -> list[Source]:
    """Citations as sources; one that cannot be read as a source is left out, not fatal."""
    if not isinstance(citations, list) or room <= 0:
        return []
    sources = []
    for item in citations[:room]:
        if not isinstance(item, Mapping | str):
            continue
        try:
            sources.append(Source.model_validate(item))
        except ValidationError:
            continue
    return sources


def _text(content: object) -> str:
    """A message's content: a string, or OpenAI-style parts whose text is joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"] for part in content if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def _whole(body: Mapping[str, Any]) -> Completion:
    """A completion answered in one JSON body; the first choice that carries a message is the answer."""
    choices = body.get("choices")
    listed = choices if isinstance(choices, list) else []
    choice = next((c for c in listed if isinstance(c, dict) and isinstance(c.get("message"), dict)), None)
    if choice is None:
        if body.get("error"):
            _check_finish("error", body["error"])
        raise unreadable("Gloo's completion has no choice with a message")
    finish = choice.get("finish_reason")
    if finish is not None:
        _check_finish(finish, body.get("error"))
    return Completion(
        content=_text(choice["message"].get("content")),
        sources=_sources(body.get("citations")),
        completion_id=_clean_id(body.get("id")),
    )
