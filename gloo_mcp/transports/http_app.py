"""gloo-mcp over Streamable HTTP, hardened for real deployments.

Stateless, so any replica behind a load balancer can answer any request (the
conversation lives in Gloo); SSE responses, so progress heartbeats reach the client;
Host/Origin validation always on (DNS rebinding), with loopback names allowed and
others opt-in; an optional shared bearer token; unauthenticated probes, ``/health``
(liveness) and ``/readyz`` (readiness, readiness.py); request bodies capped (413 beyond);
``405`` for anything but POST on ``/mcp``, since a stateless server has no event stream
to offer on GET (see :class:`PostOnly`); and, once the server drains, ``503`` for new
calls while those in flight finish (drain.py).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcp.server import MCPServer
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gloo_mcp import __version__
from gloo_mcp.config import Settings
from gloo_mcp.errors import GlooError
from gloo_mcp.server.state import AppState
from gloo_mcp.transports.drain import Drain, DrainGate
from gloo_mcp.transports.readiness import CACHE_TTL, Readiness, configuration_problem
from gloo_mcp.transports.server_card import server_card_routes

if TYPE_CHECKING:
    from gloo_mcp.access.oauth import JwtTokenVerifier

__all__ = [
    "DEFAULT_MAX_REQUEST_BODY_SIZE",
    "HEALTH_PATH",
    "MCP_PATH",
    "READY_PATH",
    "BearerChallenges",
    "HttpOptions",
    "PostOnly",
    "bearer_challenge",
    "build_http_app",
    "transport_security",
]

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
HEALTH_PATH = "/health"
READY_PATH = "/readyz"
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
DEFAULT_MAX_REQUEST_BODY_SIZE = 1024 * 1024
"""1 MiB: the largest legitimate message here (a 10,000-character query, JSON-escaped) is
under 64 KiB, and 128 connections buffering a full body each stay near 128 MiB. The SDK's
own default is 4 MiB."""


@dataclass(frozen=True)
class HttpOptions:
    """Where to listen and which names the server answers to beyond loopback."""

    host: str = "127.0.0.1"
    port: int = 8000
    allowed_hosts: Sequence[str] = ()
    allowed_origins: Sequence[str] = ()

    @property
    def is_loopback_bind(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")


def transport_security(options: HttpOptions) -> TransportSecuritySettings:
    """DNS-rebinding protection that stays on whatever the bind address.

    The SDK enables it only for loopback binds; a server bound to 0.0.0.0 would accept
    any Host. Here loopback names (with any port) are always accepted and every other
    Host or Origin must be listed.
    """
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*(f"{name}:*" for name in _LOOPBACK_NAMES), *options.allowed_hosts],
        allowed_origins=[*(f"http://{name}:*" for name in _LOOPBACK_NAMES), *options.allowed_origins],
    )


def bearer_challenge(
    *,
    error: str | None = None,
    description: str | None = None,
    scopes: Sequence[str] = (),
    resource_metadata: str | None = None,
    realm: str | None = None,
) -> str:
    """A ``WWW-Authenticate: Bearer`` value (RFC 6750 §3; RFC 9728 §5.1 for ``resource_metadata``).

    ``error`` is left out for a request that carried no credentials at all (RFC 6750 §3.1);
    ``scopes``, the scopes this server requires, are named for clients to request at sign-in
    and to upscope to after a 403 (MCP authorization). Values are quoted strings; scope names
    and the fixed descriptions here hold no quote or backslash.
    """
    parameters = [
        (name, value)
        for name, value in (
            ("realm", realm),
            ("error", error),
            ("error_description", description if error is not None else None),
            ("scope", " ".join(scopes) or None),
            ("resource_metadata", resource_metadata),
        )
        if value is not None
    ]
    return "Bearer " + ", ".join(f'{name}="{value}"' for name, value in parameters)


def _presented_credentials(scope: Scope) -> bool:
    return any(name == b"authorization" for name, _ in scope.get("headers", ()))


class BearerChallenges:
    """Rewrites the SDK's OAuth refusals' ``WWW-Authenticate`` so they name the required scopes.

    The SDK's bearer middleware answers 401 ``invalid_token`` even to a request with no token
    (RFC 6750 §3.1 asks for no error code then) and names no scope; here a 401 without
    credentials says only how to authenticate, a 401 with them ``invalid_token``, a 403
    ``insufficient_scope``, each with ``scope`` and ``resource_metadata``. Only responses that
    carry the SDK's challenge are touched.
    """

    def __init__(self, app: ASGIApp, *, scopes: Sequence[str], resource_metadata: str) -> None:
        self._app = app
        self._scopes = tuple(scopes)
        self._resource_metadata = resource_metadata

    def challenge(self, status: int, *, presented: bool) -> str:
        error: str | None
        description: str | None
        if status == 403:
            error, description = "insufficient_scope", "The token lacks a scope this server requires."
        elif presented:
            error, description = "invalid_token", "The token is not valid for this server; sign in again."
        else:
            error = description = None
        return bearer_challenge(
            error=error, description=description, scopes=self._scopes, resource_metadata=self._resource_metadata
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        presented = _presented_credentials(scope)

        async def send_challenge(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (401, 403):
                headers = list(message.get("headers", ()))
                kept = [(name, value) for name, value in headers if name.lower() != b"www-authenticate"]
                if len(kept) != len(headers):
                    value = self.challenge(message["status"], presented=presented)
                    message = {**message, "headers": [*kept, (b"www-authenticate", value.encode("latin-1"))]}
            await send(message)

        await self._app(scope, receive, send_challenge)


class BearerTokenGuard:
    """Rejects requests that lack ``Authorization: Bearer <GLOO_MCP_AUTH_TOKEN>``, except on open paths."""

    def __init__(self, app: ASGIApp, token: SecretStr, open_paths: frozenset[str]) -> None:
        self._app = app
        self._expected = token.get_secret_value().encode()
        self._open_paths = open_paths

    def __repr__(self) -> str:
        return f"BearerTokenGuard(open_paths={sorted(self._open_paths)})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._open_paths or self._authorized(scope):
            await self._app(scope, receive, send)
            return
        if _presented_credentials(scope):  # RFC 6750 §3.1: an error code only when credentials were sent
            challenge = bearer_challenge(
                realm="gloo-mcp", error="invalid_token", description="The token is not this server's shared token."
            )
        else:
            challenge = bearer_challenge(realm="gloo-mcp")
        response = JSONResponse(
            {"error": "unauthorized", "error_description": "Send Authorization: Bearer <GLOO_MCP_AUTH_TOKEN>."},
            status_code=401,
            headers={"WWW-Authenticate": challenge},
        )
        await response(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        scheme, _, credential = Headers(scope=scope).get("authorization", "").partition(" ")
        # compare_digest: the time taken must not reveal how much of the token matched
        return scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), self._expected)


class PostOnly:
    """Answers every method but POST on ``path`` with 405 and ``Allow: POST``, before the SDK sees it.

    The MCP spec (Streamable HTTP) says a GET on the endpoint MUST get either an event
    stream or 405, and lets a server answer DELETE with 405 when clients cannot end
    sessions; stateless, there is neither a stream nor a session. Left to the SDK, a GET
    opens an event stream on which nothing is ever sent and which never ends.
    """

    def __init__(self, app: ASGIApp, path: str) -> None:
        self._app = app
        self._path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self._path or scope["method"] == "POST":
            await self._app(scope, receive, send)
            return
        response = JSONResponse(
            {
                "error": "method_not_allowed",
                "error_description": "This server offers no event stream; send MCP messages with POST.",
            },
            status_code=405,
            headers={"Allow": "POST"},
        )
        await response(scope, receive, send)


def _health(settings: Settings, startup_error: GlooError | None) -> Response:
    problem = configuration_problem(settings, startup_error)
    body: dict[str, object] = {"status": "ok" if problem is None else "unconfigured", "version": __version__}
    if problem is not None:
        body["detail"] = problem
    return JSONResponse(body, status_code=200 if problem is None else 503)


def _serving_state(server: MCPServer[AppState]) -> AppState | None:
    """The AppState the server's calls use: the public ``state`` that ``build_server`` sets (None on a server
    built otherwise)."""
    offered = getattr(server, "state", None)
    return offered if isinstance(offered, AppState) else None


def build_http_app(
    server: MCPServer[AppState],
    settings: Settings,
    options: HttpOptions,
    *,
    startup_error: GlooError | None = None,
    max_request_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
    oauth: JwtTokenVerifier | None = None,
    drain: Drain | None = None,
    readiness_ttl: float = CACHE_TTL,
) -> ASGIApp:
    """The ASGI app for ``gloo-mcp serve --transport streamable-http``.

    ``/health`` (liveness) answers 200 when the server can serve and 503 (with the reason)
    when its configuration cannot work. ``/readyz`` (readiness) also checks the store, the
    OAuth issuer's keys (``oauth``: the verifier the server was built with) and Gloo's
    reachability, and says ``draining`` once ``drain`` has begun; a load balancer and
    Kubernetes' readiness probe use it (its verdict is reused for ``readiness_ttl`` s).
    A body over ``max_request_body_size`` bytes is answered 413 (the SDK's check: at once
    when ``Content-Length`` declares it, otherwise as soon as the limit is passed).
    In front: the drain gate (503 once draining), the bearer guard when a token is
    configured (401), :class:`BearerChallenges` with OAuth (the SDK's 401 and 403 name the
    required scopes), then :class:`PostOnly` (405).
    """
    drain = drain if drain is not None else Drain()
    readiness = Readiness(
        settings,
        state=lambda: _serving_state(server),
        drain=drain,
        startup_error=startup_error,
        oauth=oauth,
        cache_ttl=readiness_ttl,
    )

    async def health(_: Request) -> Response:
        return _health(settings, startup_error)

    async def ready(_: Request) -> Response:
        status, body = await readiness.report()
        return JSONResponse(body | {"version": __version__}, status_code=status, headers={"Cache-Control": "no-store"})

    server.custom_route(HEALTH_PATH, methods=["GET"], include_in_schema=False)(health)
    server.custom_route(READY_PATH, methods=["GET"], include_in_schema=False)(ready)
    card_routes = server_card_routes(settings, MCP_PATH)  # SEP-2127: /mcp/server-card, /.well-known/ai-catalog.json
    for path, endpoint in card_routes:
        server.custom_route(path, methods=["GET"], include_in_schema=False)(endpoint)
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=False,
        transport_security=transport_security(options),
        host=options.host,
        max_request_body_size=max_request_body_size,
    )
    app = PostOnly(app, MCP_PATH)
    auth = server.settings.auth  # what the SDK's bearer middleware was given (build_server: the verifier's)
    if auth is not None and auth.resource_server_url is not None:
        metadata = str(build_resource_metadata_url(auth.resource_server_url))
        app = BearerChallenges(app, scopes=auth.required_scopes or (), resource_metadata=metadata)
    if settings.mcp_auth_token is not None:
        open_paths = frozenset({HEALTH_PATH, READY_PATH, *(path for path, _ in card_routes)})
        app = BearerTokenGuard(app, settings.mcp_auth_token, open_paths=open_paths)
    return DrainGate(app, drain, MCP_PATH)
