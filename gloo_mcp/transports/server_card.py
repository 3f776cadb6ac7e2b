"""The Server Card (SEP-2127, experimental): what a client may learn about this HTTP server before it connects.

Served at ``<mcp-url>/server-card`` (``/mcp/server-card``), the location the extension
reserves, as ``application/mcp-server-card+json``; the AI Catalog that points at it is at
``/.well-known/ai-catalog.json`` (the extension keeps ``.well-known`` for that site-wide
document, not for the card). Both are open like ``/health``: they say who the server is,
where its MCP endpoint is, which protocol versions it speaks and that a bearer token is
needed, never a token, an issuer's keys or anything else from the settings' secrets.

The identity (name, title, description, version, website, repository) is
:data:`REGISTRY_IDENTITY`, the one source ``server.json`` (the MCP Registry's entry, at the
repository root) is checked against in tests/test_package.py. The card carries no
``packages``: local installation is the registry entry's business, remote connection the
card's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gloo_mcp import __version__
from gloo_mcp.config import Settings

__all__ = [
    "AI_CATALOG_MEDIA_TYPE",
    "AI_CATALOG_PATH",
    "REGISTRY_IDENTITY",
    "SERVER_CARD_MEDIA_TYPE",
    "SERVER_CARD_SCHEMA",
    "SERVER_CARD_SUFFIX",
    "ai_catalog",
    "registry_identity",
    "server_card",
    "server_card_routes",
]

SERVER_CARD_SCHEMA = "https://static.modelcontextprotocol.io/schemas/v1/server-card.schema.json"
SERVER_CARD_MEDIA_TYPE = "application/mcp-server-card+json"
SERVER_CARD_SUFFIX = "/server-card"
AI_CATALOG_PATH = "/.well-known/ai-catalog.json"
AI_CATALOG_MEDIA_TYPE = "application/ai-catalog+json"

Endpoint = Callable[[Request], Awaitable[Response]]

REGISTRY_IDENTITY: dict[str, Any] = {
    "name": "io.github.gloo-mcp/gloo-mcp",
    "title": "Gloo AI",
    "description": "Grounded, multi-turn conversations with Gloo AI: answers with cited sources and follow-ups.",
    "websiteUrl": "https://github.com/gloo-mcp/gloo-mcp#readme",
    "repository": {"url": "https://github.com/gloo-mcp/gloo-mcp", "source": "github"},
}
"""Who gloo-mcp is, to the MCP Registry (``server.json``) and to a Server Card alike; the version is the package's."""


def registry_identity() -> dict[str, Any]:
    """The identity fields ``server.json`` and the card share, with the package version."""
    identity = {**REGISTRY_IDENTITY, "version": __version__}
    identity["repository"] = dict(REGISTRY_IDENTITY["repository"])
    return identity


def _authorization_header(settings: Settings) -> list[dict[str, Any]]:
    if settings.mcp_auth_token is not None:
        described = "Bearer <the server's shared token>: the value its operator set as GLOO_MCP_AUTH_TOKEN."
    elif settings.oauth_issuer is not None:
        described = (
            "Bearer <an OAuth 2.1 access token issued for this server>; the authorization server is named in "
            "/.well-known/oauth-protected-resource (RFC 9728)."
        )
    else:
        return []
    return [{"name": "Authorization", "description": described, "isRequired": True, "isSecret": True}]


def server_card(mcp_url: str, settings: Settings) -> dict[str, Any]:
    """The card for the Streamable HTTP endpoint at ``mcp_url``."""
    remote: dict[str, Any] = {
        "type": "streamable-http",
        "url": mcp_url,
        "supportedProtocolVersions": [*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS],
    }
    if headers := _authorization_header(settings):
        remote["headers"] = headers
    return {"$schema": SERVER_CARD_SCHEMA, **registry_identity(), "remotes": [remote]}


def ai_catalog(card_url: str) -> dict[str, Any]:
    """An AI Catalog with one entry, this server's card (identifier ``urn:air:{host}:mcp:gloo-mcp``)."""
    host = urlsplit(card_url).hostname or "localhost"
    server = REGISTRY_IDENTITY["name"].rsplit("/", 1)[-1]
    entry = {"identifier": f"urn:air:{host}:mcp:{server}", "type": SERVER_CARD_MEDIA_TYPE, "url": card_url}
    return {"specVersion": "1.0", "entries": [entry]}


def server_card_routes(settings: Settings, mcp_path: str) -> list[tuple[str, Endpoint]]:
    """The card's and the catalog's GET endpoints, as (path, endpoint) pairs for ``MCPServer.custom_route``.

    The MCP URL is ``GLOO_MCP_RESOURCE_URL`` when set (the public URL an OAuth server
    already names), else the request's own origin and ``mcp_path``; a card built from the
    request's Host is not cached by anyone in between.
    """

    def mcp_url(request: Request) -> str:
        if settings.resource_url:
            return settings.resource_url.rstrip("/")
        return str(request.url.replace(path=mcp_path, query="", fragment=""))

    def cached(body: dict[str, Any], media_type: str) -> Response:
        caching = "public, max-age=3600" if settings.resource_url else "no-cache"
        headers = {"Cache-Control": caching, "Access-Control-Allow-Origin": "*"}
        return JSONResponse(body, media_type=media_type, headers=headers)

    async def card(request: Request) -> Response:
        return cached(server_card(mcp_url(request), settings), SERVER_CARD_MEDIA_TYPE)

    async def catalog(request: Request) -> Response:
        return cached(ai_catalog(mcp_url(request) + SERVER_CARD_SUFFIX), AI_CATALOG_MEDIA_TYPE)

    return [(mcp_path + SERVER_CARD_SUFFIX, card), (AI_CATALOG_PATH, catalog)]
