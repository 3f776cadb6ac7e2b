"""JwtTokenVerifier against a real authorization server (oidc-provider on loopback, see tests/oidc_provider.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm
from mcp.server import MCPServer
from mcp.server.auth.settings import AuthSettings

from gloo_mcp.access.oauth import JwtTokenVerifier
from gloo_mcp.access.principals import principal
from gloo_mcp.errors import ConfigurationError
from tests.conftest import free_port
from tests.oidc_provider import RESOURCE, AuthorizationServer

OTHER_RESOURCE = "http://127.0.0.1:9999/other"


class FakeClock:
    """Paces the verifier's key re-fetching without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


MakeVerifier = Callable[..., JwtTokenVerifier]


@pytest.fixture
async def make_verifier(authorization_server: AuthorizationServer, clock: FakeClock) -> AsyncIterator[MakeVerifier]:
    made: list[JwtTokenVerifier] = []

    def make(**overrides: Any) -> JwtTokenVerifier:
        options: dict[str, Any] = {
            "issuer": authorization_server.issuer,
            "resource": RESOURCE,
            "required_scopes": ["chat"],
            "clock": clock,
        }
        verifier = JwtTokenVerifier(**(options | overrides))
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.aclose()


Refusal = Callable[[JwtTokenVerifier, str], Awaitable[str]]
PREFIX = "bearer token refused: "


@pytest.fixture
def refusal(caplog: pytest.LogCaptureFixture) -> Refusal:
    """Checks that a verifier refuses a token and gives the reason it logged, so a test sees *why*."""

    async def refused(verifier: JwtTokenVerifier, token: str) -> str:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="gloo_mcp.access.oauth"):
            assert await verifier.verify_token(token) is None
        [reason] = [m.removeprefix(PREFIX) for m in caplog.messages if m.startswith(PREFIX)]
        return reason

    return refused


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(_unb64(token.split(".")[0]))
    return header


def _with_header(token: str, header: dict[str, Any]) -> str:
    """``token`` with its header replaced (the signature no longer covers it)."""
    _, payload, signature = token.split(".")
    return f"{_b64(json.dumps(header).encode())}.{payload}.{signature}"


# --- accepted ----------------------------------------------------------------------


async def test_a_token_from_the_issuer_for_this_resource_is_accepted(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    token = await authorization_server.token("alice", scopes=["chat", "history"])

    access = await make_verifier().verify_token(token)

    assert access is not None
    assert (access.subject, access.client_id, access.resource) == ("alice", "alice", RESOURCE)
    assert access.scopes == ["chat", "history"]
    assert access.claims is not None and access.claims["iss"] == authorization_server.issuer
    assert access.expires_at is not None and access.expires_at == access.claims["exp"]
    assert principal(access) == f"{authorization_server.issuer}#alice"


async def test_two_users_are_two_principals(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier()
    alice = await verifier.verify_token(await authorization_server.token("alice"))
    bob = await verifier.verify_token(await authorization_server.token("bob"))

    assert alice is not None and bob is not None
    assert principal(alice) != principal(bob)
    assert principal(bob) == f"{authorization_server.issuer}#bob"


async def test_an_audience_list_naming_this_resource_and_a_trailing_slash_are_accepted(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier()
    listed = await authorization_server.token("shared")  # aud: [another resource, this one]
    slashed = await authorization_server.token("alice", resource=RESOURCE + "/")

    assert await verifier.verify_token(listed) is not None
    assert await verifier.verify_token(slashed) is not None


async def test_a_token_signed_with_es256_is_accepted_unless_the_allow_list_leaves_it_out(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, refusal: Refusal
) -> None:
    token = await authorization_server.token("carol")
    assert _header(token)["alg"] == "ES256"

    assert await make_verifier().verify_token(token) is not None
    assert await refusal(make_verifier(algorithms=["RS256"]), token) == "its algorithm 'ES256' is not allowed (RS256)"


async def test_a_token_valid_a_few_seconds_from_now_is_accepted_within_the_leeway(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, refusal: Refusal
) -> None:
    token = await authorization_server.token("skewed")  # nbf 10 s ahead

    assert await make_verifier(leeway=30).verify_token(token) is not None
    assert await refusal(make_verifier(leeway=0), token) == "it is not valid yet"


# --- refused -----------------------------------------------------------------------


async def test_no_token_is_refused(make_verifier: MakeVerifier, refusal: Refusal) -> None:
    verifier = make_verifier()
    assert await refusal(verifier, "") == "it is not a well-formed signed JWT"
    assert await refusal(verifier, "not-a-jwt") == "it is not a well-formed signed JWT"


async def test_an_expired_token_is_refused_and_the_log_gives_the_reason_not_the_token(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    token = await authorization_server.token("stale")  # expired an hour ago

    with caplog.at_level(logging.INFO, logger="gloo_mcp.access.oauth"):
        assert await make_verifier().verify_token(token) is None

    assert "bearer token refused: it has expired" in caplog.messages
    assert not any(part in message for message in caplog.messages for part in token.split("."))


async def test_a_token_not_valid_yet_is_refused(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, refusal: Refusal
) -> None:
    token = await authorization_server.token("early")  # nbf an hour ahead
    assert await refusal(make_verifier(), token) == "it is not valid yet"


async def test_a_token_naming_another_issuer_is_refused_though_its_signature_verifies(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, refusal: Refusal
) -> None:
    token = await authorization_server.token("foreign")
    assert await refusal(make_verifier(), token) == (
        f"it was issued by another issuer (iss); the issuer expected is {authorization_server.issuer}"
    )


async def test_an_issuer_whose_metadata_names_another_issuer_is_not_trusted(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, refusal: Refusal
) -> None:
    verifier = make_verifier(issuer=authorization_server.issuer + "/")  # the metadata says it without the slash
    token = await authorization_server.token("alice")

    assert await refusal(verifier, token) == "the issuer's signing keys could not be fetched"
    with pytest.raises(ConfigurationError, match="names the issuer"):
        await verifier.discover()


async def test_a_token_for_another_resource_is_refused(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, refusal: Refusal
) -> None:
    token = await authorization_server.token("alice", resource=OTHER_RESOURCE)
    assert await refusal(make_verifier(), token) == (
        f"it was issued for another resource (aud); the audience expected is {RESOURCE}"
    )


async def test_a_token_without_a_required_scope_is_refused(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, refusal: Refusal
) -> None:
    token = await authorization_server.token("alice", scopes=["history"])

    assert await refusal(make_verifier(required_scopes=["chat"]), token) == "it lacks the required scope(s) chat"
    assert await make_verifier(required_scopes=[]).verify_token(token) is not None


async def test_a_tampered_token_is_refused(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, refusal: Refusal
) -> None:
    header, payload, signature = (await authorization_server.token("alice")).split(".")
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1 :]
    claims = json.loads(_unb64(payload)) | {"sub": "bob"}
    verifier = make_verifier()

    forged_claims = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    assert await refusal(verifier, f"{header}.{payload}.{flipped}") == "its signature does not verify"
    assert await refusal(verifier, forged_claims) == "its signature does not verify"


async def test_an_unsigned_token_is_refused(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, refusal: Refusal
) -> None:
    token = await authorization_server.token("alice")
    payload = token.split(".")[1]
    verifier = make_verifier()

    for alg in ("none", "None", "NONE"):
        unsigned = _b64(json.dumps(_header(token) | {"alg": alg}).encode())
        assert (await refusal(verifier, f"{unsigned}.{payload}.")).startswith(f"its algorithm '{alg}' is not allowed")
    with pytest.raises(ConfigurationError, match="asymmetric only"):
        make_verifier(algorithms=["none"])


async def test_an_hmac_token_keyed_with_the_issuers_public_key_is_refused(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, refusal: Refusal
) -> None:
    token = await authorization_server.token("alice")
    kid = _header(token)["kid"]
    jwk = next(key for key in (await authorization_server.jwks())["keys"] if key["kid"] == kid)
    public_key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    assert isinstance(public_key, RSAPublicKey)
    secrets_an_attacker_would_try = [
        public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        json.dumps(jwk).encode(),
    ]
    payload = token.split(".")[1]
    verifier = make_verifier()

    for secret in secrets_an_attacker_would_try:
        for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
            header = _b64(json.dumps({"alg": alg, "typ": "at+jwt", "kid": kid}).encode())
            signature = _b64(hmac.new(secret, f"{header}.{payload}".encode(), digest).digest())
            forged = f"{header}.{payload}.{signature}"
            assert (await refusal(verifier, forged)).startswith(f"its algorithm '{alg}' is not allowed")
    with pytest.raises(ConfigurationError, match="asymmetric only"):
        make_verifier(algorithms=["RS256", "HS256"])


async def test_a_token_whose_algorithm_does_not_fit_its_key_is_refused(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, refusal: Refusal
) -> None:
    rsa_signed = await authorization_server.token("alice")
    relabelled = _with_header(rsa_signed, _header(rsa_signed) | {"alg": "ES256"})  # names the RSA key
    assert await refusal(make_verifier(), relabelled) == "its algorithm ES256 does not fit the type of the key it names"


# --- keys: rotation, withdrawal, floods of unknown key ids -------------------------


async def test_after_the_issuer_rotates_its_key_fresh_tokens_are_accepted_with_one_more_fetch(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier()
    before = await authorization_server.token("alice")
    assert await verifier.verify_token(before) is not None
    fetches = await authorization_server.jwks_requests()

    new_kid = await authorization_server.rotate()
    after = await authorization_server.token("alice")

    assert _header(after)["kid"] == new_kid != _header(before)["kid"]
    assert await verifier.verify_token(after) is not None
    assert await verifier.verify_token(before) is not None  # the old key is still published
    assert await authorization_server.jwks_requests() == fetches + 1


async def test_a_key_the_issuer_withdraws_stops_working_once_the_cached_keys_age_out(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock, refusal: Refusal
) -> None:
    verifier = make_verifier(keys_max_age=600)
    old = await authorization_server.token("alice")
    assert await verifier.verify_token(old) is not None

    await authorization_server.rotate(retire=True)
    assert await verifier.verify_token(old) is not None  # still within the cache's age
    clock.now += 601

    assert await refusal(verifier, old) == "it names a key id the issuer does not publish"
    assert await verifier.verify_token(await authorization_server.token("alice")) is not None


async def test_a_flood_of_unknown_key_ids_costs_the_issuer_one_fetch_per_interval(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    verifier = make_verifier(refetch_interval=30)
    genuine = await authorization_server.token("alice")
    assert await verifier.verify_token(genuine) is not None
    start = await authorization_server.jwks_requests()

    async def flood() -> list[bool]:
        results: list[bool] = []

        async def one() -> None:
            bogus = _with_header(genuine, _header(genuine) | {"kid": secrets.token_hex(8)})
            results.append(await verifier.verify_token(bogus) is None)

        async with anyio.create_task_group() as group:
            for _ in range(100):
                group.start_soon(one)
        return results

    assert all(await flood())
    assert await authorization_server.jwks_requests() == start + 1  # 100 concurrent unknown kids: one fetch
    assert all(await flood())
    assert await authorization_server.jwks_requests() == start + 1  # within the interval: none
    clock.now += 31
    assert all(await flood())
    assert await authorization_server.jwks_requests() == start + 2
    assert await verifier.verify_token(genuine) is not None


# --- discovery and fetching ---------------------------------------------------------


class _WithoutRfc8414(httpx2.AsyncBaseTransport):
    """The provider, as if it published only OpenID Connect discovery."""

    def __init__(self) -> None:
        self._inner = httpx2.AsyncHTTPTransport()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.paths.append(request.url.path)
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx2.Response(404, json={"error": "not_found"})
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_an_issuer_with_only_openid_discovery_is_found_through_it(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    transport = _WithoutRfc8414()
    async with httpx2.AsyncClient(transport=transport) as http:
        verifier = make_verifier(http=http)
        assert await verifier.verify_token(await authorization_server.token("alice")) is not None

    assert transport.paths == [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/jwks",
    ]


async def test_an_unreachable_issuer_refuses_tokens_and_is_retried_at_most_once_per_interval(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    attempts: list[str] = []

    async def record(request: httpx2.Request) -> None:
        attempts.append(request.url.path)

    token = await authorization_server.token("alice")
    async with httpx2.AsyncClient(event_hooks={"request": [record]}) as http:
        verifier = make_verifier(issuer=f"http://127.0.0.1:{free_port()}", http=http, refetch_interval=30)
        for _ in range(5):
            assert await verifier.verify_token(token) is None
        tried = len(attempts)
        clock.now += 31
        assert await verifier.verify_token(token) is None
        with pytest.raises(ConfigurationError, match="could not be used"):
            await verifier.discover()

    assert tried == 2  # both metadata locations, once
    assert len(attempts) == 2 * tried + 2


async def test_an_oversized_key_set_is_not_read_past_its_cap() -> None:
    issuer = "https://issuer.example"

    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx2.Response(200, json={"issuer": issuer, "jwks_uri": f"{issuer}/jwks"})
        return httpx2.Response(200, content=b'{"keys": [' + b" " * (2 * 1024 * 1024) + b"]}")

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(answer)) as http:
        with pytest.raises(ConfigurationError, match="larger than 1048576 bytes"):
            await JwtTokenVerifier(issuer=issuer, resource=RESOURCE, http=http).discover()


def test_settings_that_cannot_work_are_refused_at_construction() -> None:
    good: dict[str, Any] = {"issuer": "https://issuer.example", "resource": "https://mcp.example/mcp"}
    bad_settings: list[dict[str, Any]] = [
        {"issuer": "http://issuer.example"},  # plain HTTP off loopback
        {"issuer": "https://issuer.example/#frag"},
        {"issuer": "https://issuer.example/?tenant=1"},
        {"resource": "mcp.example/mcp"},
        {"algorithms": ["HS256"]},
        {"algorithms": []},
        {"leeway": 3600},
    ]
    for bad in bad_settings:
        with pytest.raises(ConfigurationError):
            JwtTokenVerifier(**(good | bad))


# --- the SDK's side: RFC 9728 metadata, 401 and 403 ---------------------------------


async def test_the_sdk_serves_resource_metadata_and_answers_401_and_403_with_this_verifier(
    authorization_server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier()
    settings = verifier.auth_settings()
    assert str(settings.issuer_url) == authorization_server.issuer  # no trailing slash added
    # Scopes the verifier does not itself require are left to the SDK, which answers 403 for them.
    sdk_scopes = AuthSettings.model_validate(settings.model_dump() | {"required_scopes": ["chat", "admin"]})
    server = MCPServer("oauth-test", auth=sdk_scopes, token_verifier=verifier)
    app = server.streamable_http_app()
    metadata_url = "http://127.0.0.1:8765/.well-known/oauth-protected-resource/mcp"
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}

    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app), base_url="http://127.0.0.1:8765") as http:
        metadata = await http.get("/.well-known/oauth-protected-resource/mcp")
        anonymous = await http.post("/mcp", json=ping)
        bad = await http.post("/mcp", headers={"Authorization": "Bearer not-a-jwt"}, json=ping)
        token = await authorization_server.token("alice", scopes=["chat"])
        narrow = await http.post("/mcp", headers={"Authorization": f"Bearer {token}"}, json=ping)

    assert metadata.status_code == 200
    assert metadata.json()["resource"] == RESOURCE
    assert metadata.json()["authorization_servers"] == [authorization_server.issuer]
    assert metadata.json()["scopes_supported"] == ["chat", "admin"]
    for refused in (anonymous, bad):
        assert refused.status_code == 401
        assert f'resource_metadata="{metadata_url}"' in refused.headers["www-authenticate"]
    assert narrow.status_code == 403
    assert 'error="insufficient_scope"' in narrow.headers["www-authenticate"]
