"""What a refused HTTP request is told in ``WWW-Authenticate`` (RFC 6750 §3, MCP authorization).

A 401 or 403 names the scopes this server requires (``scope="chat"``: MCP clients request
them at sign-in, and clients that upscope read them from a 403), and points at the protected
resource metadata. A request that carried no credentials at all is told only how to
authenticate, with no ``error`` (RFC 6750 §3.1); a token that fails verification gets
``invalid_token``, one without the scope ``insufficient_scope``. The shared-token guard
follows the same rule for its one token. Against gloo-mcp's HTTP app under uvicorn on
loopback, with tokens from a real authorization server (tests/oidc_provider.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from pydantic import SecretStr

from gloo_mcp.access.fair_use import FairUse
from gloo_mcp.access.oauth import JwtTokenVerifier
from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from gloo_mcp.transports.http_app import HttpOptions, build_http_app
from gloo_mcp.transports.serving import running_in_thread
from tests.conftest import sim_settings, sim_transport
from tests.oidc_provider import RESOURCE, AuthorizationServer
from tests.test_team import METADATA_PATH, SCOPE, team_server

LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
SHARED_TOKEN = "team-token-0123456789abcdef"


@contextmanager
def oauth_server(sim: SimulatorState, issuer: str, scopes: tuple[str, ...]) -> Iterator[str]:
    settings = sim_settings(sim, oauth_issuer=issuer, resource_url=RESOURCE, oauth_scopes=scopes)
    verifier = JwtTokenVerifier(issuer=issuer, resource=RESOURCE)
    server = build_server(
        settings, transport=sim_transport(sim), oauth=verifier, fair_use=FairUse(per_minute=0, in_flight=0)
    )
    with running_in_thread(build_http_app(server, settings, HttpOptions(), oauth=verifier)) as base:
        yield base


def challenge(base: str, token: str | None) -> tuple[int, dict[str, str]]:
    """The status and the ``WWW-Authenticate: Bearer`` parameters of a tools/list sent with ``token``."""
    headers = HEADERS | ({"Authorization": f"Bearer {token}"} if token is not None else {})
    refused = httpx2.post(f"{base}/mcp", json=LIST, headers=headers, timeout=30)
    value = refused.headers["www-authenticate"]
    assert value.startswith("Bearer "), value
    return refused.status_code, dict(re.findall(r'([a-z_]+)="([^"]*)"', value))


async def test_a_request_without_a_token_is_told_the_scope_and_the_metadata_and_no_error(
    sim: SimulatorState, authorization_server: AuthorizationServer
) -> None:
    with team_server(sim, authorization_server.issuer) as base:
        status, params = challenge(base, None)
    assert status == 401
    assert params["scope"] == SCOPE
    assert params["resource_metadata"].endswith(METADATA_PATH)
    assert "error" not in params and "error_description" not in params


async def test_a_token_that_fails_verification_gets_invalid_token_with_the_scope(
    sim: SimulatorState, authorization_server: AuthorizationServer
) -> None:
    with team_server(sim, authorization_server.issuer) as base:
        status, params = challenge(base, "not-a-jwt")
    assert status == 401
    assert params["error"] == "invalid_token" and params["scope"] == SCOPE
    assert params["resource_metadata"].endswith(METADATA_PATH)


async def test_a_token_without_the_scope_gets_403_insufficient_scope_naming_it(
    sim: SimulatorState, authorization_server: AuthorizationServer
) -> None:
    token = await authorization_server.token("alice", scopes=["openid"])
    with team_server(sim, authorization_server.issuer) as base:
        status, params = challenge(base, token)
    assert status == 403
    assert params["error"] == "insufficient_scope" and params["scope"] == SCOPE
    assert params["resource_metadata"].endswith(METADATA_PATH)


async def test_every_configured_scope_is_named_space_separated(
    sim: SimulatorState, authorization_server: AuthorizationServer
) -> None:
    with oauth_server(sim, authorization_server.issuer, (SCOPE, "history")) as base:
        _, anonymous = challenge(base, None)
    assert anonymous["scope"] == f"{SCOPE} history"


def test_the_shared_token_guard_gives_no_error_without_a_token_and_invalid_token_for_a_wrong_one(
    sim: SimulatorState,
) -> None:
    settings = sim_settings(sim, mcp_auth_token=SecretStr(SHARED_TOKEN))
    server = build_server(settings, transport=sim_transport(sim))
    with running_in_thread(build_http_app(server, settings, HttpOptions())) as base:
        anonymous_status, anonymous = challenge(base, None)
        wrong_status, wrong = challenge(base, "not-the-team-token")
    assert (anonymous_status, wrong_status) == (401, 401)
    assert "error" not in anonymous and anonymous["realm"] == "gloo-mcp"
    assert wrong["error"] == "invalid_token" and wrong["realm"] == "gloo-mcp"
