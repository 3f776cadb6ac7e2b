"""Gloo's Completions V2: one streamed chat completion, and the public model catalogue.

V2 is stateless: the caller sends the whole conversation each turn (gloo-mcp keeps it in
its store). Answers are always streamed (``stream: true``) so they can be shown as they
are written: SSE ``data:`` chunks, OpenAI-shaped, ending at the first non-null
``finish_reason`` (Gloo sends no ``[DONE]``; one is tolerated). With publishers the
grounded endpoint answers, its citations arriving as the first event.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
from pydantic import ValidationError

from gloo_mcp.client import MAX_BODY_BYTES, GlooClient
from gloo_mcp.errors import BadResponseError, InvalidRequestError, UpstreamUnavailableError
from gloo_mcp.models import ModelInfo, Source
from gloo_mcp.routing import Routing

__all__ = ["Completion", "OnText", "complete", "list_models"]

COMPLETIONS_PATH = "/ai/v2/chat/completions"
GROUNDED_PATH = "/ai/v2/chat/completions/grounded"
MODELS_PATH = "/platform/v2/models"

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
        raise BadResponseError("Gloo's model catalogue has no data list; try again later.")
    models = []
    for item in items:
        try:
            models.append(ModelInfo.model_validate(item))
        except ValidationError:  # one odd entry must not hide the rest of the catalogue
            continue
    return models


async def _read_stream(response: httpx2.Response, on_text: OnText | None) -> Completion:
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        return _whole(json.loads(await response.aread()))  # a server that ignored stream: true
    completion = Completion()
    size = 0
    async for event in httpx2.EventSource(response):
        data = event.data.strip()
        if not data:
            continue
        if data == "[DONE]":
            break
        size += len(data)
        if size > MAX_BODY_BYTES:
            raise BadResponseError(f"Gloo's answer exceeded {MAX_BODY_BYTES // (1024 * 1024)} MiB and was discarded.")
        chunk = _json_object(data)
        completion.completion_id = completion.completion_id or chunk.get("id")
        completion.sources += _sources(chunk.get("citations"))
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            piece = delta.get("content")
            if isinstance(piece, str) and piece:
                completion.content += piece
                if on_text is not None:
                    await on_text(piece)
            finish = choice.get("finish_reason")
            if finish is not None:
                _check_finish(finish, chunk.get("error"))
                return completion
        if chunk.get("error"):
            _check_finish("error", chunk["error"])
    if not completion.content:
        raise UpstreamUnavailableError("Gloo's answer stream ended before any text arrived; try again.")
    raise UpstreamUnavailableError("Gloo's answer stream ended before the answer was finished; try again.")


def _json_object(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise BadResponseError("Gloo's answer stream carried an event that is not JSON; try again later.") from None
    if not isinstance(value, dict):
        raise BadResponseError("Gloo's answer stream carried an event that is not a JSON object; try again later.")
    return value


def _check_finish(finish: str, error: object) -> None:
    if finish in ("stop", "length", "tool_calls"):
        return
    if finish == "content_filter":
        raise InvalidRequestError("Gloo's content filter stopped this answer; rephrase the question and try again.")
    details = error if isinstance(error, Mapping) else {}
    name = details.get("name") or details.get("type") or "error"
    message = details.get("message") or "no details"
    if details.get("retryable"):
        raise UpstreamUnavailableError(f"Gloo's model stopped mid-answer ({name}: {message}); try again.")
    raise BadResponseError(f"Gloo ended the answer with an error ({name}: {message}); try again or rephrase.")


def _sources(citations: object) -> list[Source]:
    if not isinstance(citations, list):
        return []
    return [Source.model_validate(item) for item in citations if isinstance(item, Mapping)]


def _whole(body: object) -> Completion:
    if not isinstance(body, Mapping):
        raise BadResponseError("Gloo's completion is not a JSON object; try again later.")
    choices = body.get("choices") or [{}]
    message = choices[0].get("message") or {}
    return Completion(
        content=str(message.get("content") or ""),
        sources=_sources(body.get("citations")),
        completion_id=body.get("id"),
    )
