"""The simulator's HTTP contract: Gloo's token, message and chat endpoints on an ASGI app.

Requests are validated as Gloo documents them and failures use Gloo's status codes and
FastAPI-style ``{"detail": ...}`` bodies. Assumptions where Gloo is silent (the source
item shape, the streaming format, 422 for an unknown publisher) are marked below.
Every response carries ``X-Gloo-Simulator: true``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gloo_mcp.simulator.bomb import gzip_bomb
from gloo_mcp.simulator.completions import completions, grounded_completions, models
from gloo_mcp.simulator.content import PUBLISHERS, answer_for, sources_for, suggestions_for
from gloo_mcp.simulator.state import Endpoint, Fault, SimChat, SimulatorState

__all__ = ["create_app"]

_HEADERS = {"X-Gloo-Simulator": "true"}
SOURCES_LIMIT_MAX = 100


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**_HEADERS, **(headers or {})})


def _detail(status: int, detail: object) -> JSONResponse:
    return _json({"detail": detail}, status)


def _invalid(*errors: tuple[list[str | int], str, str]) -> JSONResponse:
    return _detail(422, [{"loc": loc, "msg": msg, "type": kind} for loc, msg, kind in errors])


class _DroppedResponse(Response):
    """Promises a body, sends part of it, then closes: a connection reset mid-body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"chat_id": "c', "more_body": True})
        raise ConnectionResetError("simulated connection drop")


_BOMB_UNITS = {"json": (b" ", "application/json"), "sse": (b": keep-alive\n", "text/event-stream")}


def _fault_response(fault: Fault) -> Response:
    if fault.drop:
        return _DroppedResponse()
    if fault.bomb is not None:
        unit, media_type = _BOMB_UNITS[fault.bomb]
        return StreamingResponse(
            gzip_bomb(unit, fault.bomb_size),
            media_type=media_type,
            headers={**_HEADERS, "Content-Encoding": "gzip", **fault.headers},
        )
    if fault.malformed:
        return Response(
            fault.body if fault.body is not None else b'{"chat_id": ',
            status_code=fault.status or 200,
            media_type="application/json",
            headers={**_HEADERS, **fault.headers},
        )
    body = fault.body if fault.body is not None else json.dumps({"detail": "Simulated fault."}).encode()
    return Response(
        body, status_code=fault.status or 500, media_type="application/json", headers={**_HEADERS, **fault.headers}
    )


Handler = Callable[[Request, SimulatorState], Awaitable[Response]]


def _endpoint(name: Endpoint, handler: Handler, state: SimulatorState) -> Callable[[Request], Awaitable[Response]]:
    """Count the request, apply latency and any scripted fault, then run ``handler``."""

    async def route(request: Request) -> Response:
        state.requests[name] += 1
        if request.client is not None:
            state.connections.add((request.client.host, request.client.port))
        fault = state.next_fault(name)
        delay = (state.latency if name != "token" else 0.0) + (fault.delay if fault else 0.0)
        if delay:
            try:
                await anyio.sleep(delay)
            except anyio.get_cancelled_exc_class():
                state.aborted[name] += 1  # the caller hung up while we were "thinking"
                raise
        if (
            fault is not None
            and not fault.after_processing
            and (fault.status or fault.malformed or fault.drop or fault.bomb)
        ):
            return _fault_response(fault)
        request.state.fault = fault  # for faults a handler plays out itself (mid-stream errors)
        response = await handler(request, state)
        if fault is not None and fault.after_processing:
            return _fault_response(fault)
        return response

    return route


def _authorized(handler: Handler) -> Handler:
    """The V2 endpoints answer a missing or bad bearer with the V2 error envelope."""

    async def checked(request: Request, state: SimulatorState) -> Response:
        if _bearer(request, state) is not None:
            envelope = {"type": "authentication_error", "name": "UNAUTHORIZED", "fault": "client", "retryable": False}
            return _json({"error": {**envelope, "message": "Invalid or expired token"}}, 401)
        return await handler(request, state)

    return checked


def _bearer(request: Request, state: SimulatorState) -> Response | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _detail(401, "Not authenticated")
    if not state.bearer_is_valid(token.strip()):
        return _detail(401, "Invalid or expired token")
    return None


async def _token(request: Request, state: SimulatorState) -> Response:
    form = await request.form()
    client_id = form.get("client_id")
    client_secret = form.get("client_secret")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _json({"error": "invalid_client"}, 401)
    if form.get("grant_type") != "client_credentials":
        return _json({"error": "unsupported_grant_type"}, 400)
    if client_id != state.client_id or client_secret != state.client_secret:
        return _json({"error": "invalid_client"}, 401)
    return _json({"access_token": state.issue_token(), "token_type": "Bearer", "expires_in": int(state.token_lifetime)})


def _flag(value: object, loc: list[str | int]) -> tuple[bool | None, tuple[list[str | int], str, str] | None]:
    if value is None:
        return None, None
    if value in (0, 1, "0", "1", True, False):
        return value in (1, "1", True), None
    return None, (loc, "Input should be 0 or 1", "int_parsing")


def _validate_message(body: object, request: Request) -> tuple[dict[str, Any], list[tuple[list[str | int], str, str]]]:
    errors: list[tuple[list[str | int], str, str]] = []
    if not isinstance(body, dict):
        return {}, [(["body"], "Input should be a valid JSON object", "model_attributes_type")]
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        errors.append((["body", "query"], "Field required and must be a non-empty string", "missing"))
    character_limit = body.get("character_limit", 0)
    if isinstance(character_limit, bool) or not isinstance(character_limit, int) or character_limit < 0:
        errors.append((["body", "character_limit"], "Input should be a non-negative integer", "int_parsing"))
    sources_limit = body.get("sources_limit", 5)
    if (
        isinstance(sources_limit, bool)
        or not isinstance(sources_limit, int)
        or not 0 <= sources_limit <= SOURCES_LIMIT_MAX
    ):
        errors.append(
            (["body", "sources_limit"], f"Input should be an integer from 0 to {SOURCES_LIMIT_MAX}", "less_than_equal")
        )
    publishers = body.get("publishers") or []
    if not isinstance(publishers, list) or not all(isinstance(p, str) for p in publishers):
        errors.append((["body", "publishers"], "Input should be a list of publisher names", "list_type"))
        publishers = []
    unknown = [p for p in publishers if p not in PUBLISHERS]
    if unknown:  # assumption: Gloo's behaviour for unknown publishers is undocumented
        errors.append((["body", "publishers"], f"Unknown publisher: {unknown[0]}", "value_error"))
    chat_id = request.query_params.get("chat_id") or body.get("chat_id")
    if chat_id is not None and not isinstance(chat_id, str):
        errors.append((["body", "chat_id"], "Input should be a valid string", "string_type"))
    suggestions, error = _flag(request.query_params.get("enable_suggestions"), ["query", "enable_suggestions"])
    if error:
        errors.append(error)
    if suggestions is None:
        suggestions, error = _flag(body.get("enable_suggestions"), ["body", "enable_suggestions"])
        if error:
            errors.append(error)
    return {
        "query": query,
        "character_limit": character_limit,
        "sources_limit": sources_limit,
        "publishers": publishers,
        "chat_id": chat_id or None,
        "enable_suggestions": True if suggestions is None else suggestions,
        "stream": body.get("stream") is True,
    }, errors


async def _message(request: Request, state: SimulatorState) -> Response:
    denied = _bearer(request, state)
    if denied is not None:
        return denied
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _invalid((["body"], "JSON decode error", "json_invalid"))
    fields, errors = _validate_message(body, request)
    if errors:
        return _invalid(*errors)
    now = state.clock()
    if fields["chat_id"] is None:
        chat = SimChat(chat_id=state.new_id("c"), created_at=now, updated_at=now)
        state.chats[chat.chat_id] = chat
    elif (found := state.chats.get(fields["chat_id"])) is None:
        return _detail(404, "Chat not found")
    else:
        chat = found
    query: str = fields["query"]
    query_id = state.new_id("q")
    stamp = state.timestamp(now)
    chat.messages.append(
        {
            "query_id": query_id,
            "message_id": state.new_id("m"),
            "timestamp": stamp,
            "role": "user",
            "message": query,
            "character_limit": fields["character_limit"],
            "stream": fields["stream"],
            "intent": 1,
            "model": "simulator",
            "publishers": fields["publishers"],
        }
    )
    reply = {
        "chat_id": chat.chat_id,
        "query_id": query_id,
        "message_id": state.new_id("m"),
        "timestamp": stamp,
        "success": True,
        "message": answer_for(query, turn=chat.turns, character_limit=fields["character_limit"]),
        "model": "gloo-mcp-simulator",
        "sources": sources_for(query, limit=fields["sources_limit"], publishers=fields["publishers"]),
        "sources_limit": fields["sources_limit"],
        "suggestions": suggestions_for(query, turn=chat.turns) if fields["enable_suggestions"] else [],
        "intent": 1,
    }
    chat.messages.append({**{k: v for k, v in reply.items() if k != "chat_id"}, "role": "kallm"})
    chat.updated_at = now
    if fields["stream"]:
        return _stream(reply)
    return _json(reply)


def _stream(reply: dict[str, Any]) -> StreamingResponse:
    """Our own SSE format (Gloo's is undocumented): ``delta`` events with text, then one ``final`` event."""

    async def events() -> AsyncIterator[bytes]:
        words = str(reply["message"]).split(" ")
        for i in range(0, len(words), 8):
            chunk = " ".join(words[i : i + 8]) + (" " if i + 8 < len(words) else "")
            yield f"event: delta\ndata: {json.dumps({'text': chunk})}\n\n".encode()
        yield f"event: final\ndata: {json.dumps(reply)}\n\n".encode()

    return StreamingResponse(events(), media_type="text/event-stream", headers=_HEADERS)


async def _chat(request: Request, state: SimulatorState) -> Response:
    denied = _bearer(request, state)
    if denied is not None:
        return denied
    chat_id = request.query_params.get("chat_id")
    if not chat_id:
        return _invalid((["query", "chat_id"], "Field required", "missing"))
    chat = state.chats.get(chat_id)
    if chat is None:
        return _detail(404, "Chat not found")
    first = next((m["message"] for m in chat.messages if m["role"] == "user"), "")
    return _json(
        {
            "user_id": "u00000000-0000-0000-0000-00000000sim0",
            "chat_id": chat.chat_id,
            "created_at": state.timestamp(chat.created_at),
            "updated_at": state.timestamp(chat.updated_at),
            "messages": chat.messages,
            "pin": False,
            "summary": None,
            "title": f"Simulated chat: {first[:60]}",
        }
    )


async def _about(request: Request) -> Response:
    return _json(
        {
            "simulator": True,
            "name": "gloo-mcp Gloo simulator",
            "notice": "A local stand-in for the Gloo AI API, for tests and demos. Its answers are not from Gloo.",
            "endpoints": [
                "POST /oauth2/token",
                "POST /ai/v1/message",
                "GET /ai/v1/chat",
                "POST /ai/v2/chat/completions",
                "POST /ai/v2/chat/completions/grounded",
                "GET /platform/v2/models",
            ],
        }
    )


def create_app(state: SimulatorState | None = None) -> Starlette:
    """The simulator as an ASGI app; steer and inspect it through ``app.state.sim``."""
    sim = state if state is not None else SimulatorState()
    app = Starlette(
        routes=[
            Route("/", _about, methods=["GET"]),
            Route("/oauth2/token", _endpoint("token", _token, sim), methods=["POST"]),
            Route("/ai/v1/message", _endpoint("message", _message, sim), methods=["POST"]),
            Route("/ai/v1/chat", _endpoint("chat", _chat, sim), methods=["GET"]),
            Route("/ai/v2/chat/completions", _endpoint("completions", _authorized(completions), sim), methods=["POST"]),
            Route(
                "/ai/v2/chat/completions/grounded",
                _endpoint("completions", _authorized(grounded_completions), sim),
                methods=["POST"],
            ),
            Route("/platform/v2/models", _endpoint("models", models, sim), methods=["GET"]),
        ]
    )
    app.state.sim = sim
    return app
