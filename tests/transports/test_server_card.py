"""The Server Card (SEP-2127) at /mcp/server-card and the AI Catalog at /.well-known/ai-catalog.json.

Open like /health (a bearer-token server still refuses /mcp without the token), nothing
secret in them, the identity server.json declares, and nothing the live server contradicts
(serverInfo version and title, the protocol versions it speaks).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from gloo_mcp import __version__
from gloo_mcp.config import Settings
from gloo_mcp.server import build_server
from gloo_mcp.transports.http_app import HttpOptions, build_http_app
from gloo_mcp.transports.server_card import (
    AI_CATALOG_MEDIA_TYPE,
    SERVER_CARD_MEDIA_TYPE,
    SERVER_CARD_SCHEMA,
    registry_identity,
    server_card,
)
from gloo_mcp.transports.serving import running_in_thread

TOKEN = "server-card-test-token-0123456789"
SECRETS = {
    "mcp_auth_token": SecretStr(TOKEN),
    "api_key": SecretStr("gloo-api-key-never-shown"),
    "client_id": "client-id-of-gloo",
    "client_secret": SecretStr("gloo-client-secret-never-shown"),
    "store_url": SecretStr("postgresql://gloo:db-password-never-shown@db.internal:5432/gloo"),
}
SERVER_JSON: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "server.json").read_text(encoding="utf-8")
)
# The card schema's own patterns (experimental-ext-server-card, schema.ts)
NAME = re.compile(r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$")
REMOTE_URL = re.compile(r"^(https?://[^\s]+|\{[a-zA-Z_][a-zA-Z0-9_]*\}[^\s]*)$")


def settings_with(**overrides: Any) -> Settings:
    return Settings.model_validate({**SECRETS, **overrides})


def get(path: str, settings: Settings) -> tuple[httpx2.Response, str]:
    """``path``'s answer from a bearer-token HTTP server, sent without the token, and the server's base URL."""
    server = build_server(settings)
    with running_in_thread(build_http_app(server, settings, HttpOptions())) as served:
        response = httpx2.get(served + path, headers={"Accept": SERVER_CARD_MEDIA_TYPE})
        refused = httpx2.post(served + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert refused.status_code == 401  # the card is open; the MCP endpoint is not
    return response, served


def test_the_card_is_open_typed_and_names_this_server_and_its_endpoint() -> None:
    response, base_url = get("/mcp/server-card", settings_with())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(SERVER_CARD_MEDIA_TYPE)
    assert response.headers["cache-control"] == "no-cache"  # built from the request's Host
    card = response.json()
    assert card["$schema"] == SERVER_CARD_SCHEMA and NAME.match(card["name"])
    assert 1 <= len(card["description"]) <= 100 and 1 <= len(card["title"]) <= 100
    assert "packages" not in card  # installation is the registry entry's business
    [remote] = card["remotes"]
    assert (
        remote["type"] == "streamable-http" and remote["url"] == f"{base_url}/mcp" and REMOTE_URL.match(remote["url"])
    )
    assert {"2025-11-25", "2026-07-28"} <= set(remote["supportedProtocolVersions"])
    [header] = remote["headers"]
    assert header["name"] == "Authorization" and header["isRequired"] is True and header["isSecret"] is True
    assert "value" not in header and "GLOO_MCP_AUTH_TOKEN" in header["description"]


@pytest.mark.parametrize("path", ["/mcp/server-card", "/.well-known/ai-catalog.json"])
def test_neither_document_carries_a_secret(path: str) -> None:
    text = get(path, settings_with())[0].text
    for secret in ("server-card-test-token", "gloo-api-key", "gloo-client-secret", "db-password", "client-id-of"):
        assert secret not in text, secret


def test_the_catalog_points_at_the_card() -> None:
    response, base_url = get("/.well-known/ai-catalog.json", settings_with())
    assert response.status_code == 200 and response.headers["content-type"].startswith(AI_CATALOG_MEDIA_TYPE)
    [entry] = response.json()["entries"]
    assert entry["type"] == SERVER_CARD_MEDIA_TYPE
    assert entry["url"] == base_url + "/mcp/server-card"
    assert entry["identifier"] == "urn:air:127.0.0.1:mcp:gloo-mcp"


def test_a_configured_public_url_is_the_remote_and_the_card_may_be_cached() -> None:
    public = "https://gloo.example.org/mcp"
    response, _ = get("/mcp/server-card", settings_with(resource_url=public))
    assert response.json()["remotes"][0]["url"] == public
    assert response.headers["cache-control"].startswith("public")


def test_an_oauth_server_describes_its_bearer_token_and_an_open_one_asks_for_none() -> None:
    oauth = server_card("https://gloo.example.org/mcp", Settings(oauth_issuer="https://issuer.example.org"))
    [header] = oauth["remotes"][0]["headers"]
    assert "OAuth" in header["description"] and header["isSecret"] is True
    assert "headers" not in server_card("http://127.0.0.1:8000/mcp", Settings())["remotes"][0]


def test_the_card_and_server_json_share_one_identity() -> None:
    card = server_card("http://127.0.0.1:8000/mcp", Settings())
    for field, value in registry_identity().items():
        assert card[field] == value == SERVER_JSON[field], field
    assert card["version"] == __version__


async def test_the_live_server_does_not_contradict_its_card() -> None:
    settings = Settings()
    server = build_server(settings)
    with running_in_thread(build_http_app(server, settings, HttpOptions())) as served:
        card = httpx2.get(f"{served}/mcp/server-card").json()
        async with (
            httpx2.AsyncClient(timeout=30) as http,
            Client(streamable_http_client(f"{served}/mcp", http_client=http)) as client,
        ):
            info = client.server_info
            version = client.protocol_version
    assert info is not None and info.version == card["version"] and info.title == card["title"]
    assert version in card["remotes"][0]["supportedProtocolVersions"]
