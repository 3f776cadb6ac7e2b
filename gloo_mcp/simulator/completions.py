"""Completions V2 in the simulator: chat completions (plain and grounded), SSE streaming, the model catalogue.

Validation follows Gloo's documentation: exactly one routing field (``auto_routing: true``,
``model`` or ``model_family``), ``tradition`` from its list, ranges for ``temperature``,
``max_tokens`` and ``sources_limit``; failures use the V2 error envelope. Streams are
OpenAI-shaped chunks ending at the first non-null ``finish_reason``, with no ``[DONE]``;
with ``include_citations`` the citations come first. Answers open with the simulator
notice, like every simulated answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gloo_mcp.simulator.content import PUBLISHERS, answer_for, sources_for, suggestions_for
from gloo_mcp.simulator.state import Fault, SimulatorState

__all__ = ["MODELS", "completions", "grounded_completions", "models"]

_HEADERS = {"X-Gloo-Simulator": "true"}
FAMILIES = {"openai": "OpenAI", "anthropic": "Anthropic", "google": "Google", "open source": "Open Source"}
TRADITIONS = ("evangelical", "catholic", "mainline")
GROUNDED_TRADITIONS = (*TRADITIONS, "not_faith_specific")
DEFAULT_PUBLISHER = "GlooGrounded"

MODELS: tuple[dict[str, Any], ...] = tuple(
    {
        "id": model_id,
        "name": name,
        "family": family,
        "provider_id": family.lower().replace(" ", "-"),
        "context_window": window,
        "max_output_tokens": output,
        "pricing": {"input": {"rate_per_1k_tokens": 0.001}, "output": {"rate_per_1k_tokens": 0.004}},
        "supports_tools": True,
        "supports_reasoning": reasoning,
        "output_modalities": ["text"],
    }
    for model_id, name, family, window, output, reasoning in (
        ("gloo-anthropic-claude-sonnet-4.5", "Claude Sonnet 4.5 (simulated)", "Anthropic", 200_000, 64_000, True),
        ("gloo-anthropic-claude-haiku-4.5", "Claude Haiku 4.5 (simulated)", "Anthropic", 200_000, 64_000, False),
        ("gloo-openai-gpt-5-mini", "GPT-5 mini (simulated)", "OpenAI", 400_000, 128_000, True),
        ("gloo-google-gemini-2.5-pro", "Gemini 2.5 Pro (simulated)", "Google", 1_000_000, 65_536, True),
        ("gloo-deepseek-v3.2", "DeepSeek V3.2 (simulated)", "Open Source", 128_000, 8_192, False),
    )
)
_MODEL_FAMILY = {m["id"]: m["family"] for m in MODELS}


def _error(status: int, message: str, *, code: int = 1001, name: str = "INVALID_REQUEST") -> JSONResponse:
    fault = "client" if status < 500 else "provider"
    envelope = {
        "type": "invalid_request_error" if status < 500 else "service_unavailable_error",
        "code": code,
        "name": name,
        "category": "validation" if status < 500 else "provider",
        "fault": fault,
        "retryable": status >= 500,
        "message": message,
        "request_id": "req-simulated",
    }
    return JSONResponse({"error": envelope}, status_code=status, headers=_HEADERS)


def _validate(body: object, *, grounded: bool) -> tuple[dict[str, Any], str | None]:
    if not isinstance(body, dict):
        return {}, "The request body must be a JSON object."
    messages = body.get("messages")
    if messages is None and grounded:
        messages = [{"role": "user", "content": "Hello world!"}]
    if not isinstance(messages, list) or not messages:
        return {}, "messages must be a non-empty list."
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant", "tool"):
            return {}, "Each message needs a role of system, user, assistant or tool."
        if not isinstance(message.get("content"), str):
            return {}, "Each message needs string content."
    routing = [
        name
        for name, present in (
            ("auto_routing", body.get("auto_routing") is True),
            ("model", body.get("model") is not None),
            ("model_family", body.get("model_family") is not None),
        )
        if present
    ]
    if len(routing) != 1:
        return {}, f"Exactly one of auto_routing, model or model_family is required; got {routing or 'none'}."
    model = body.get("model")
    if model is not None and model not in _MODEL_FAMILY:
        return {}, f"Unknown model {model!r}; see GET /platform/v2/models."
    family = body.get("model_family")
    if family is not None and (not isinstance(family, str) or family.lower() not in FAMILIES):
        return {}, "model_family must be one of openai, anthropic, google, open source."
    tradition = body.get("tradition")
    allowed = GROUNDED_TRADITIONS if grounded else TRADITIONS
    if tradition is not None and tradition not in allowed:
        return {}, f"tradition must be one of {', '.join(allowed)}."
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 2):
        return {}, "temperature must be between 0 and 2."
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        return {}, "max_tokens must be a positive integer."
    fields: dict[str, Any] = {
        "messages": messages,
        "routing": routing[0],
        "model": model,
        "family": FAMILIES[family.lower()] if isinstance(family, str) else None,
        "tradition": tradition,
        "stream": body.get("stream") is True,
    }
    if grounded:
        limit = body.get("sources_limit", 3)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10:
            return {}, "sources_limit must be an integer from 1 to 10."
        publisher = body.get("rag_publisher", DEFAULT_PUBLISHER)
        if publisher != DEFAULT_PUBLISHER and publisher not in PUBLISHERS:
            return {}, f"Unknown rag_publisher {publisher!r} (names are case-sensitive)."
        fields |= {
            "sources_limit": limit,
            "publisher": publisher,
            "include_citations": body.get("include_citations") is True,
        }
    return fields, None


def _asks_for_follow_ups(fields: dict[str, Any]) -> bool:
    first = fields["messages"][0]
    return bool(first["role"] == "system" and "follow-up questions" in first["content"])


def _answer(fields: dict[str, Any]) -> str:
    users = [m["content"] for m in fields["messages"] if m["role"] == "user"]
    question = users[-1] if users else "Hello world!"
    if _asks_for_follow_ups(fields):  # as a model would: one question a line
        return "\n".join(f"{n}. {q}" for n, q in enumerate(suggestions_for(question, turn=len(users)), start=1))
    return answer_for(question, turn=max(len(users), 1), character_limit=4000)


def _too_long(fields: dict[str, Any], model: str, state: SimulatorState) -> str | None:
    """The provider's complaint when the conversation exceeds the model's window (characters / 4 as tokens)."""
    window = state.context_window or next(m["context_window"] for m in MODELS if m["id"] == model)
    tokens = sum(len(m["content"]) for m in fields["messages"]) // 4
    if tokens <= window:
        return None
    return f"This model's maximum context length is {window} tokens, but the messages have {tokens} tokens."


def _citations(fields: dict[str, Any]) -> list[dict[str, Any]]:
    users = [m["content"] for m in fields["messages"] if m["role"] == "user"]
    publisher = fields["publisher"]
    publishers = [] if publisher == DEFAULT_PUBLISHER else [publisher]
    items = sources_for(users[-1] if users else "", limit=fields["sources_limit"], publishers=publishers)
    return [
        {
            "item_title": s["item_title"],
            "item_url": s["item_url"],
            "snippets": s["snippets"],
            "publisher": s["publisher_name"],
        }
        for s in items
    ]


def _gloo_fields(fields: dict[str, Any], model: str) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "provider": "Gloo AI",
        "model_family": _MODEL_FAMILY[model],
        "auto_routing": fields["routing"] == "auto_routing",
        "routing_mechanism": {
            "auto_routing": "auto_routing",
            "model_family": "model_family",
            "model": "direct_model_selection",
        }[fields["routing"]],
    }
    if fields["routing"] != "model":
        extra |= {"routing_tier": "tier_2", "routing_confidence": 0.87}
    if fields["tradition"] is not None:
        extra["tradition"] = fields["tradition"]
    return extra


def _chosen_model(fields: dict[str, Any]) -> str:
    if fields["model"] is not None:
        return str(fields["model"])
    family = fields["family"] or "Anthropic"
    return str(next(m["id"] for m in MODELS if m["family"] == family))


async def _respond(request: Request, state: SimulatorState, fault: Fault | None, *, grounded: bool) -> Response:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _error(400, "The request body is not valid JSON.")
    state.completion_bodies.append(len(await request.body()))
    fields, problem = _validate(body, grounded=grounded)
    if problem is not None:
        return _error(400, problem)
    model = _chosen_model(fields)
    overflow = _too_long(fields, model, state)
    if overflow is not None:
        return _error(400, overflow, code=1003, name="CONTEXT_LENGTH_EXCEEDED")
    if _asks_for_follow_ups(fields):
        state.suggestion_requests += 1
        if state.follow_ups_status is not None:
            return _error(state.follow_ups_status, "Simulated failure of a follow-up request.")
    answer = _answer(fields)
    completion_id = f"gen-{state.new_id('x')[1:]}"
    created = int(time.time())
    citations = _citations(fields) if grounded else []
    gloo = _gloo_fields(fields, model)
    if grounded:
        gloo["sources_returned"] = bool(citations)
    if fields["stream"]:
        return _stream(
            state,
            fault,
            completion_id,
            created,
            model,
            answer,
            citations if grounded and fields["include_citations"] else None,
            gloo,
        )
    reply: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 42, "completion_tokens": len(answer) // 4, "total_tokens": 42 + len(answer) // 4},
        **gloo,
    }
    if grounded and fields["include_citations"]:
        reply["citations"] = citations
    return JSONResponse(reply, headers=_HEADERS)


def _stream(
    state: SimulatorState,
    fault: Fault | None,
    completion_id: str,
    created: int,
    model: str,
    answer: str,
    citations: list[dict[str, Any]] | None,
    gloo: dict[str, Any],
) -> StreamingResponse:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            **extra,
        }
        return f"data: {json.dumps(body)}\n\n".encode()

    async def events() -> AsyncIterator[bytes]:
        if citations is not None:  # documented: citations arrive first, before any content
            head = {"id": completion_id, "object": "chat.completion.chunk", "citations": citations, "choices": []}
            yield f"data: {json.dumps(head)}\n\n".encode()
        words = answer.split(" ")
        pieces = [" ".join(words[i : i + 6]) + (" " if i + 6 < len(words) else "") for i in range(0, len(words), 6)]
        for number, piece in enumerate(pieces):
            if state.chunk_delay:
                try:
                    await anyio.sleep(state.chunk_delay)
                except anyio.get_cancelled_exc_class():
                    state.aborted["completions"] += 1
                    raise
            yield chunk({"role": "assistant", "content": piece} if number == 0 else {"content": piece})
            if fault is not None and fault.mid_stream_error and number == len(pieces) // 2:
                error = {
                    "type": "service_unavailable_error",
                    "code": 2002,
                    "name": "PROVIDER_UNAVAILABLE",
                    "fault": "provider",
                    "retryable": True,
                    "message": "The model provider stopped responding.",
                }
                yield chunk({}, "error", error=error)
                return
        yield chunk({}, "stop", usage={"prompt_tokens": 42, "completion_tokens": len(answer) // 4}, **gloo)

    return StreamingResponse(events(), media_type="text/event-stream", headers=_HEADERS)


async def completions(request: Request, state: SimulatorState) -> Response:
    return await _respond(request, state, request.state.fault, grounded=False)


async def grounded_completions(request: Request, state: SimulatorState) -> Response:
    return await _respond(request, state, request.state.fault, grounded=True)


async def models(request: Request, state: SimulatorState) -> Response:
    """The public catalogue: no bearer needed, as documented."""
    return JSONResponse({"data": list(MODELS)}, headers=_HEADERS)
