"""Token times: the expiry leeway as served (the SDK's bearer middleware in the path) and NumericDate claims.

Tokens here are signed with a local EC key whose issuer (metadata and key set) answers
through ``httpx2.MockTransport``, so a test can mint any claim, malformed ones included;
the signatures are real. Requests go to gloo-mcp's HTTP app under uvicorn on loopback.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from gloo_mcp.access.oauth import DEFAULT_LEEWAY, JwtTokenVerifier
from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from gloo_mcp.transports.http_app import HttpOptions, build_http_app
from gloo_mcp.transports.serving import running_in_thread
from tests.conftest import sim_settings, sim_transport
from tests.oidc_provider import RESOURCE

ISSUER = "https://issuer.test"
KID = "local-1"
SCOPE = "chat"
PREFIX = "bearer token refused: "
NOT_A_NUMBER = "its {} claim is not a number of seconds (NumericDate)"


class LocalIssuer:
    """An authorization server reduced to its signing key, metadata and key set."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        public = json.loads(ECAlgorithm.to_jwk(self._key.public_key()))
        self._jwks = {"keys": [public | {"kid": KID, "use": "sig", "alg": "ES256"}]}

    def transport(self) -> httpx2.MockTransport:
        def answer(request: httpx2.Request) -> httpx2.Response:
            if request.url.path == "/.well-known/oauth-authorization-server":
                return httpx2.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks"})
            if request.url.path == "/jwks":
                return httpx2.Response(200, json=self._jwks)
            return httpx2.Response(404)

        return httpx2.MockTransport(answer)

    def token(self, **claims: Any) -> str:
        """A signed access token for ``RESOURCE``, valid for ten minutes unless ``claims`` say otherwise."""
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": RESOURCE, "sub": "alice", "scope": SCOPE, "iat": now, "exp": now + 600}
        # json.dumps writes float("inf") and float("nan") as Infinity and NaN, as a careless issuer might
        return jwt.encode(payload | claims, self._key, algorithm="ES256", headers={"kid": KID, "typ": "at+jwt"})


@pytest.fixture
def issuer() -> LocalIssuer:
    return LocalIssuer()


@pytest.fixture
async def issuer_http(issuer: LocalIssuer) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=issuer.transport()) as http:
        yield http


def _verifier(http: httpx2.AsyncClient, **overrides: Any) -> JwtTokenVerifier:
    options: dict[str, Any] = {"issuer": ISSUER, "resource": RESOURCE, "required_scopes": [SCOPE], "http": http}
    return JwtTokenVerifier(**(options | overrides))


@contextmanager
def served(sim: SimulatorState, http: httpx2.AsyncClient) -> Iterator[str]:
    """gloo-mcp's HTTP app signing users in with the local issuer's tokens; yields the MCP endpoint's URL."""
    settings = sim_settings(sim, oauth_issuer=ISSUER, resource_url=RESOURCE, oauth_scopes=(SCOPE,))
    server = build_server(settings, transport=sim_transport(sim), oauth=_verifier(http))
    with running_in_thread(build_http_app(server, settings, HttpOptions())) as base:
        yield f"{base}/mcp"


async def _list_tools(url: str, token: str) -> httpx2.Response:
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
        "Authorization": f"Bearer {token}",
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx2.AsyncClient(timeout=30) as http:
        return await http.post(url, json=body, headers=headers)


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [message.removeprefix(PREFIX) for message in caplog.messages if message.startswith(PREFIX)]


def _quotes(caplog: pytest.LogCaptureFixture, token: str) -> bool:
    return any(part in message for message in caplog.messages for part in token.split("."))


# --- the leeway, as served -----------------------------------------------------------


async def test_a_token_20_seconds_past_its_expiry_is_served_within_the_30_second_leeway(
    sim: SimulatorState, issuer: LocalIssuer, issuer_http: httpx2.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert DEFAULT_LEEWAY == 30
    token = issuer.token(exp=int(time.time()) - 20)

    with caplog.at_level(logging.INFO, logger="gloo_mcp.access.oauth"), served(sim, issuer_http) as url:
        response = await _list_tools(url, token)

    assert response.status_code == 200, response.text
    assert "send_message" in response.text
    assert _refusals(caplog) == []


async def test_a_token_40_seconds_past_its_expiry_gets_401_and_the_log_says_it_has_expired(
    sim: SimulatorState, issuer: LocalIssuer, issuer_http: httpx2.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = issuer.token(exp=int(time.time()) - 40)

    with caplog.at_level(logging.INFO, logger="gloo_mcp.access.oauth"), served(sim, issuer_http) as url:
        response = await _list_tools(url, token)

    assert response.status_code == 401
    assert _refusals(caplog) == ["it has expired"]
    assert not _quotes(caplog, token)
    assert sim.requests.total() == 0


async def test_a_token_whose_exp_is_a_string_gets_401_and_the_log_says_why(
    sim: SimulatorState, issuer: LocalIssuer, issuer_http: httpx2.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = issuer.token(exp="99999999999")

    with caplog.at_level(logging.INFO, logger="gloo_mcp.access.oauth"), served(sim, issuer_http) as url:
        response = await _list_tools(url, token)

    assert response.status_code == 401
    assert _refusals(caplog) == [NOT_A_NUMBER.format("exp")]
    assert not _quotes(caplog, token)


# --- the verifier on its own ---------------------------------------------------------


async def test_a_token_accepted_within_the_leeway_reports_the_end_of_the_leeway_as_its_expiry(
    issuer: LocalIssuer, issuer_http: httpx2.AsyncClient
) -> None:
    exp = int(time.time()) - 20
    access = await _verifier(issuer_http, leeway=30).verify_token(issuer.token(exp=exp))

    assert access is not None
    assert access.claims is not None and access.claims["exp"] == exp  # the token's own claim is kept as it was
    assert access.expires_at == exp + 30


async def test_the_leeway_is_the_verifiers_own_setting(
    issuer: LocalIssuer, issuer_http: httpx2.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = issuer.token(exp=int(time.time()) - 20)

    with caplog.at_level(logging.INFO, logger="gloo_mcp.access.oauth"):
        assert await _verifier(issuer_http, leeway=0).verify_token(token) is None
        assert await _verifier(issuer_http, leeway=60).verify_token(token) is not None

    assert _refusals(caplog) == ["it has expired"]


async def test_a_token_issued_in_the_future_beyond_the_leeway_is_refused_with_the_reason_logged(
    issuer: LocalIssuer, issuer_http: httpx2.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    now = int(time.time())
    verifier = _verifier(issuer_http, leeway=30)

    with caplog.at_level(logging.INFO, logger="gloo_mcp.access.oauth"):
        assert await verifier.verify_token(issuer.token(iat=now + 10)) is not None
        assert await verifier.verify_token(issuer.token(iat=now + 3600)) is None

    assert _refusals(caplog) == ["its issue time (iat) is in the future"]


async def test_numeric_dates_may_be_whole_or_fractional_seconds(
    issuer: LocalIssuer, issuer_http: httpx2.AsyncClient
) -> None:
    now = time.time()
    access = await _verifier(issuer_http).verify_token(issuer.token(exp=now + 600.5, nbf=now - 0.5, iat=now - 0.5))

    assert access is not None
    assert access.expires_at == math.floor(now + 600.5)


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("exp", "99999999999"),
        ("exp", True),
        ("exp", math.inf),
        ("exp", math.nan),
        ("exp", [99999999999]),
        ("nbf", "0"),
        ("nbf", True),
        ("nbf", None),
        ("iat", "0"),
        ("iat", False),
        ("iat", -math.inf),
    ],
    ids=repr,
)
async def test_a_numeric_date_claim_that_is_not_a_json_number_is_refused_with_the_reason_logged(
    issuer: LocalIssuer, issuer_http: httpx2.AsyncClient, caplog: pytest.LogCaptureFixture, claim: str, value: object
) -> None:
    token = issuer.token(**{claim: value})

    with caplog.at_level(logging.INFO, logger="gloo_mcp.access.oauth"):
        assert await _verifier(issuer_http).verify_token(token) is None

    assert _refusals(caplog) == [NOT_A_NUMBER.format(claim)]
    assert not _quotes(caplog, token)
