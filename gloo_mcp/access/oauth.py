"""Who is calling over HTTP: OAuth 2.1 JWT access tokens, checked against the issuer's published keys.

gloo-mcp acts as an OAuth resource server. The SDK's bearer middleware hands each
request's token to :class:`JwtTokenVerifier` (the SDK's ``TokenVerifier`` hook); a token
is accepted only when all of these hold:

- its signature verifies with a key from the issuer's JWKS, under an algorithm from an
  allow-list of asymmetric algorithms that also matches the key's type (never ``none``,
  never HMAC, so a public key can never serve as a shared secret);
- ``iss`` is the configured issuer, exactly;
- ``aud`` (a string or a list) names this server's resource URL (RFC 8707; a trailing
  slash aside);
- ``exp``, ``nbf`` and ``iat`` (where present) are JSON numbers, and ``exp`` is in the
  future and ``nbf``/``iat`` are not, give or take a small leeway (:data:`DEFAULT_LEEWAY`);
- ``sub`` is present, and the scopes (``scope``, space-separated, or ``scp``) include
  every required scope.

The issuer's keys are found through its metadata (RFC 8414, else OpenID Connect
discovery), whose ``issuer`` must equal the configured one, and cached. An unknown key
id triggers at most one re-fetch per ``refetch_interval`` seconds, shared by every
request waiting on it, so key rotation works and a flood of made-up key ids costs the
issuer one request. The cache is also refreshed every ``keys_max_age`` seconds, so a key
the issuer withdraws stops working. Every fetch is bounded in time and bytes.

Expiry is decided here, with the leeway, and nowhere else: the SDK's bearer middleware
re-checks ``AccessToken.expires_at`` against its own clock with no leeway, and would
refuse, silently, a token accepted here in the seconds after its ``exp``; for such a token
``expires_at`` is the end of the leeway instead (see :meth:`JwtTokenVerifier.verify_token`).

Refusals are logged at INFO with the reason, never the token. The upstream Gloo
credentials play no part here: clients neither send nor receive them.

Needs ``cryptography`` (the ``team`` extra: ``pip install 'gloo-mcp[team]'``); without
it the module imports, and constructing a verifier raises ConfigurationError.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

import anyio
import httpx2
import jwt
from jwt.algorithms import has_crypto
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings

from gloo_mcp.config import Settings
from gloo_mcp.errors import ConfigurationError

__all__ = [
    "DEFAULT_ALGORITHMS",
    "DEFAULT_LEEWAY",
    "DEFAULT_REFETCH_INTERVAL",
    "JwtTokenVerifier",
    "verifier_from_settings",
]

logger = logging.getLogger(__name__)

# The key type (and curves) each accepted algorithm needs. Nothing symmetric is here, and
# a token's algorithm must match both this list and the key it names.
_KEY_TYPES: Final[Mapping[str, tuple[str, frozenset[str] | None]]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}
# The public members of each key type: a JWKS entry is reduced to these before use, so
# stray private or unknown members never reach the JOSE library.
_PUBLIC_MEMBERS: Final[Mapping[str, tuple[str, ...]]] = {
    "RSA": ("kty", "n", "e"),
    "EC": ("kty", "crv", "x", "y"),
    "OKP": ("kty", "crv", "x"),
}

DEFAULT_ALGORITHMS: Final = ("RS256", "PS256", "ES256", "EdDSA")
"""What issuers sign access tokens with in practice. RS384/512, PS384/512 and ES384/512 may be added."""
DEFAULT_LEEWAY: Final = 30.0
"""Seconds of clock difference tolerated on ``exp``, ``nbf`` and ``iat``."""
DEFAULT_REFETCH_INTERVAL: Final = 30.0
"""The least time between two key-set fetches caused by unknown key ids (or failed fetches)."""
DEFAULT_KEYS_MAX_AGE: Final = 600.0
"""How long a fetched key set is used before it is fetched again."""
MAX_DOCUMENT_BYTES: Final = 1024 * 1024
"""The most read of the issuer's metadata or key set."""
MAX_TOKEN_CHARS: Final = 16 * 1024
"""Longer bearer tokens are refused unread."""
MAX_KEYS: Final = 100
"""Key-set entries beyond this many are ignored."""
_FETCH_DEADLINE = 10.0
_USER_AGENT = "gloo-mcp/0.1"


class _FetchError(Exception):
    """The issuer's metadata or keys could not be had; the text says why (no secrets in it)."""


class _UnknownKey:
    """The token names a key id the cached key set does not have."""


_UNKNOWN_KEY: Final = _UnknownKey()


class _KeySet:
    """One fetched JWKS: the usable public signing keys, and the JOSE-library keys made from them so far."""

    def __init__(self, keys: list[dict[str, str]], fetched_at: float) -> None:
        self.keys = keys
        self.fetched_at = fetched_at
        self._prepared: dict[tuple[int, str], jwt.PyJWK] = {}

    @classmethod
    def parse(cls, document: object, fetched_at: float) -> Self:
        """The signing keys in a JWKS document; unusable entries (symmetric, encryption-only, malformed) are skipped."""
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise _FetchError("the key set is not a JSON object with a list of keys")
        keys: list[dict[str, str]] = []
        for entry in document["keys"][:MAX_KEYS]:
            if isinstance(entry, dict) and (key := _public_signing_key(entry)) is not None:
                keys.append(key)
        return cls(keys, fetched_at)

    def find(self, kid: str | None, alg: str) -> jwt.PyJWK | _UnknownKey | str:
        """The key to check a token with, :data:`_UNKNOWN_KEY`, or the reason no key fits."""
        if kid is None:
            # Without a key id a token may only be checked when exactly one key could have signed it.
            candidates = [i for i, key in enumerate(self.keys) if _fits(key, alg)]
            if len(candidates) != 1:
                return "it names no key id (kid) and the issuer does not publish exactly one such key"
        else:
            named = [i for i, key in enumerate(self.keys) if key.get("kid") == kid]
            if not named:
                return _UNKNOWN_KEY
            candidates = [i for i in named if _fits(self.keys[i], alg)]
            if not candidates:
                return f"its algorithm {alg} does not fit the type of the key it names"
        index = candidates[0]
        prepared = self._prepared.get((index, alg))
        if prepared is None:
            members = _PUBLIC_MEMBERS[_KEY_TYPES[alg][0]]
            key = {name: value for name, value in self.keys[index].items() if name in members}
            try:
                prepared = jwt.PyJWK(key, algorithm=alg)
            except jwt.PyJWTError:
                return "the issuer's key it names is malformed"
            self._prepared[(index, alg)] = prepared
        return prepared


def _public_signing_key(entry: Mapping[str, object]) -> dict[str, str] | None:
    kty = entry.get("kty")
    if not isinstance(kty, str) or kty not in _PUBLIC_MEMBERS:
        return None  # "oct" (a shared secret) and unknown types are never used
    if entry.get("use", "sig") != "sig":
        return None
    ops = entry.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None
    key: dict[str, str] = {}
    for name in (*_PUBLIC_MEMBERS[kty], "kid", "alg"):
        value = entry.get(name)
        if value is None and name in ("kid", "alg"):
            continue
        if not isinstance(value, str) or not value:
            return None
        key[name] = value
    return key


def _fits(key: Mapping[str, str], alg: str) -> bool:
    kty, curves = _KEY_TYPES[alg]
    if key["kty"] != kty or key.get("alg", alg) != alg:
        return False
    return curves is None or key.get("crv") in curves


def _check_url(url: str, what: str) -> None:
    """HTTPS (plain HTTP only on loopback), absolute, without a fragment; raises ConfigurationError."""
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ConfigurationError(f"The {what} must be an https:// URL (http:// only on loopback), not {url!r}.")
    if not parts.hostname or parts.fragment:
        raise ConfigurationError(f"The {what} must be an absolute URL without a #fragment, not {url!r}.")


def _metadata_urls(issuer: str) -> list[str]:
    """Where the issuer's metadata may be, in the order the MCP authorization spec tries them."""
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    if not path:
        return [f"{origin}/.well-known/oauth-authorization-server", f"{origin}/.well-known/openid-configuration"]
    return [
        f"{origin}/.well-known/oauth-authorization-server{path}",  # RFC 8414 §3.1: inserted before the path
        f"{origin}/.well-known/openid-configuration{path}",
        f"{origin}{path}/.well-known/openid-configuration",  # OpenID Connect Discovery: appended
    ]


def _scopes(claims: Mapping[str, Any]) -> list[str] | None:
    """The scopes in ``scope`` (space-separated) or ``scp`` (a list, or space-separated); None when malformed."""
    value = claims.get("scope", claims.get("scp"))
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return None


class JwtTokenVerifier:
    """Checks bearer tokens for the SDK: the ``TokenVerifier`` protocol of ``mcp.server.auth.provider``.

    ``issuer`` is the authorization server's issuer identifier, compared exactly with the
    ``iss`` of each token and the ``issuer`` of its metadata. ``resource`` is this server's
    own URL as clients reach it (e.g. ``https://mcp.example.com/mcp``), which tokens must
    name as their audience. ``http`` is the client for the issuer's metadata and keys
    (one is made, and closed by :meth:`aclose`, when none is given); ``clock`` paces the
    re-fetching of keys (token times are checked against the wall clock).

    Raises ConfigurationError for settings that cannot work: a non-HTTPS issuer or resource
    (HTTP is allowed on loopback), an algorithm that is not asymmetric or not known, an
    out-of-range leeway, or a missing ``cryptography`` package.
    """

    def __init__(
        self,
        *,
        issuer: str,
        resource: str,
        required_scopes: Iterable[str] = (),
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        leeway: float = DEFAULT_LEEWAY,
        refetch_interval: float = DEFAULT_REFETCH_INTERVAL,
        keys_max_age: float = DEFAULT_KEYS_MAX_AGE,
        http: httpx2.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not has_crypto:
            raise ConfigurationError(
                "OAuth access tokens need the 'cryptography' package: install gloo-mcp with the team extra "
                "(pip install 'gloo-mcp[team]')."
            )
        _check_url(issuer, "OAuth issuer URL")
        if urlsplit(issuer).query:
            raise ConfigurationError(f"The OAuth issuer URL must not have a query string, not {issuer!r}.")
        _check_url(resource, "resource URL of this server")
        self._algorithms = tuple(dict.fromkeys(algorithms))
        unknown = [alg for alg in self._algorithms if alg not in _KEY_TYPES]
        if unknown or not self._algorithms:
            raise ConfigurationError(
                f"Token algorithms must be chosen from {', '.join(_KEY_TYPES)} (asymmetric only); "
                f"not {', '.join(unknown) or 'none at all'}."
            )
        if not 0 <= leeway <= 300:
            raise ConfigurationError(f"The token time leeway must be between 0 and 300 seconds, not {leeway}.")
        self._issuer = issuer
        self._resource = resource
        bare = resource.rstrip("/")
        self._audiences = (bare, f"{bare}/")
        self._required_scopes = tuple(dict.fromkeys(required_scopes))
        self._leeway = leeway
        self._refetch_interval = refetch_interval
        self._keys_max_age = keys_max_age
        self._clock = clock
        self._owns_http = http is None
        self._http = http if http is not None else _default_http_client()
        self._lock = anyio.Lock()
        self._jwks_uri: str | None = None
        self._keys: _KeySet | None = None
        self._attempts = 0  # key-set fetches tried, successful or not
        self._next_unknown_key_fetch = float("-inf")
        self._next_retry = float("-inf")

    def __repr__(self) -> str:
        return f"JwtTokenVerifier(issuer={self._issuer!r}, resource={self._resource!r})"

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def resource(self) -> str:
        return self._resource

    @property
    def required_scopes(self) -> tuple[str, ...]:
        return self._required_scopes

    def auth_settings(self, *, required_scopes: Iterable[str] | None = None) -> AuthSettings:
        """The SDK's ``AuthSettings`` for this verifier: pass both to ``MCPServer(auth=..., token_verifier=...)``.

        The SDK then serves RFC 9728 metadata naming the issuer and the scopes, answers
        401 with a ``resource_metadata`` pointer, (``validate_token_resource``) checks each
        accepted token's resource once more, and answers a valid token that lacks one of
        ``required_scopes`` (default: the verifier's) with 403 ``insufficient_scope``.
        """
        scopes = list(self._required_scopes if required_scopes is None else required_scopes)
        return AuthSettings.model_validate(
            {  # validated from strings: AuthSettings keeps a path-less URL without a trailing slash
                "issuer_url": self._issuer,
                "resource_server_url": self._resource,
                "required_scopes": scopes or None,
                "validate_token_resource": True,
            }
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this verifier made it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def discover(self) -> None:
        """Fetch the issuer's metadata and keys now, e.g. at startup.

        Raises ConfigurationError naming what failed (unreachable, wrong issuer, no usable
        keys). Not needed for :meth:`verify_token`, which fetches on first use.
        """
        async with self._lock:
            self._attempts += 1
            try:
                self._keys = await self._fetch_keys()
            except _FetchError as exc:
                raise ConfigurationError(f"The OAuth issuer {self._issuer} could not be used: {exc}.") from None
        if not self._keys.keys:
            raise ConfigurationError(f"The OAuth issuer {self._issuer} publishes no usable signing keys.")

    async def keys_ready(self) -> bool:
        """Whether tokens can be checked now: signing keys are loaded, or fetching them works (readiness probes).

        Keys missing or due for a refresh are fetched as a token would fetch them, under the
        same rate limit (a failing issuer is asked at most every ``refetch_interval`` seconds);
        keys fetched before are kept, and count, when a refresh fails.
        """
        keys = self._keys
        if keys is None or self._clock() - keys.fetched_at >= self._keys_max_age:
            await self._refresh(self._attempts, unknown_key=False)
            keys = self._keys
        return keys is not None and bool(keys.keys)

    async def verify_token(self, token: str) -> AccessToken | None:
        """The access the bearer ``token`` grants, or None when it is refused (the reason is logged at INFO).

        ``expires_at`` is the token's ``exp`` in whole seconds, except for a token accepted
        within the leeway after its ``exp`` (or in the second before it): then it is the end
        of that leeway, so the SDK's own check of ``expires_at`` (no leeway, nothing logged)
        cannot refuse what this verifier accepted.
        """
        try:
            return await self._verify(token)
        except _Refused as refusal:
            logger.info("bearer token refused: %s", refusal.reason)
            return None

    async def _verify(self, token: str) -> AccessToken:
        if len(token) > MAX_TOKEN_CHARS:
            raise _Refused(f"it is longer than {MAX_TOKEN_CHARS} characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _Refused("it is not a well-formed signed JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self._algorithms:
            shown = repr(alg)[:40] if isinstance(alg, str) else "missing or malformed"
            raise _Refused(f"its algorithm {shown} is not allowed ({', '.join(self._algorithms)})")
        if kid is not None and not isinstance(kid, str):
            raise _Refused("its key id (kid) is not a string")
        key = await self._key_for(kid, alg)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self._audiences,
                issuer=self._issuer,
                options={
                    "require": ["exp", "iss", "aud", "sub"],
                    "enforce_minimum_key_length": True,
                    # Times are checked below, once the claims are known to be numbers: PyJWT
                    # would take "exp": "99999999999" (a string) through int().
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise _Refused(_decode_failure(exc, issuer=self._issuer, resource=self._resource)) from None
        expires_at = self._check_times(claims, time.time())
        return self._access(token, claims, expires_at)

    def _check_times(self, claims: Mapping[str, Any], now: float) -> int:
        """The ``expires_at`` to report (see :meth:`verify_token`); raises _Refused for a bad or out-of-time claim."""
        for name in ("exp", "nbf", "iat"):
            if name in claims and not _is_numeric_date(claims[name]):
                raise _Refused(f"its {name} claim is not a number of seconds (NumericDate)")
        exp: float = claims["exp"]
        nbf: float | None = claims.get("nbf")
        iat: float | None = claims.get("iat")
        if exp <= now - self._leeway:
            raise _Refused("it has expired")
        if nbf is not None and nbf > now + self._leeway:
            raise _Refused("it is not valid yet")
        if iat is not None and iat > now + self._leeway:
            raise _Refused("its issue time (iat) is in the future")
        if exp > now + 1:
            return int(exp)
        # Accepted within the leeway (or in its last second): the SDK, which compares
        # expires_at with its own clock in whole seconds, is told the end of the leeway.
        return math.ceil(exp + self._leeway)

    def _access(self, token: str, claims: dict[str, Any], expires_at: int) -> AccessToken:
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise _Refused("its subject (sub) is empty")
        scopes = _scopes(claims)
        if scopes is None:
            raise _Refused("its scope claim is malformed")
        missing = [scope for scope in self._required_scopes if scope not in scopes]
        if missing:
            raise _Refused(f"it lacks the required scope(s) {' '.join(missing)}")
        client_id = next(
            (value for name in ("client_id", "azp") if isinstance(value := claims.get(name), str) and value), subject
        )
        return AccessToken(
            token=token,
            client_id=client_id,
            scopes=scopes,
            expires_at=expires_at,
            resource=self._resource,
            subject=subject,
            claims=claims,
        )

    async def _key_for(self, kid: str | None, alg: str) -> jwt.PyJWK:
        seen = self._attempts
        keys = self._keys
        if keys is None or self._clock() - keys.fetched_at >= self._keys_max_age:
            await self._refresh(seen, unknown_key=False)
            keys = self._keys
            if keys is None:
                raise _Refused("the issuer's signing keys could not be fetched")
        found = keys.find(kid, alg)
        if isinstance(found, _UnknownKey):
            # The issuer may have rotated its keys: look again, unless someone just did.
            await self._refresh(seen, unknown_key=True)
            keys = self._keys
            found = keys.find(kid, alg) if keys is not None else _UNKNOWN_KEY
        if isinstance(found, _UnknownKey):
            raise _Refused("it names a key id the issuer does not publish")
        if isinstance(found, str):
            raise _Refused(found)
        return found

    async def _refresh(self, seen: int, *, unknown_key: bool) -> None:
        """Fetch the key set once for everyone waiting, within the rate limits; failures keep the old keys."""
        async with self._lock:
            if self._attempts != seen:
                return  # a fetch ran while this caller waited: its result is the answer
            now = self._clock()
            if unknown_key:
                if now < self._next_unknown_key_fetch:
                    return
                self._next_unknown_key_fetch = now + self._refetch_interval
            elif now < self._next_retry:
                return
            self._attempts += 1
            try:
                self._keys = await self._fetch_keys()
            except _FetchError as exc:
                self._next_retry = now + self._refetch_interval
                kept = "keeping the keys fetched before" if self._keys is not None else "no keys yet"
                logger.warning("could not fetch the signing keys of %s (%s): %s", self._issuer, kept, exc)

    async def _fetch_keys(self) -> _KeySet:
        if self._jwks_uri is None:
            self._jwks_uri = await self._discover_jwks_uri()
        try:
            document = await self._get_json(self._jwks_uri, "key set")
        except _FetchError:
            self._jwks_uri = None  # the metadata may have moved it: discover again next time
            raise
        return _KeySet.parse(document, self._clock())

    async def _discover_jwks_uri(self) -> str:
        problems: list[str] = []
        for url in _metadata_urls(self._issuer):
            try:
                metadata = await self._get_json(url, "metadata")
            except _FetchError as exc:
                problems.append(str(exc))
                continue
            if not isinstance(metadata, dict):
                raise _FetchError(f"its metadata at {url} is not a JSON object")
            if metadata.get("issuer") != self._issuer:
                shown = repr(metadata.get("issuer"))[:200]
                raise _FetchError(f"its metadata at {url} names the issuer {shown}, not {self._issuer!r}")
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise _FetchError(f"its metadata at {url} has no jwks_uri")
            try:
                _check_url(jwks_uri, "issuer's jwks_uri")
            except ConfigurationError as exc:
                raise _FetchError(exc.message) from None
            return jwks_uri
        raise _FetchError("; ".join(problems))

    async def _get_json(self, url: str, what: str) -> object:
        """GET ``url`` as JSON, with a deadline and at most :data:`MAX_DOCUMENT_BYTES` read."""
        body = bytearray()
        try:
            with anyio.fail_after(_FETCH_DEADLINE):
                async with self._http.stream("GET", url, headers={"Accept": "application/json"}) as response:
                    if response.status_code != 200:
                        raise _FetchError(f"its {what} at {url} answered HTTP {response.status_code}")
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_DOCUMENT_BYTES:
                            raise _FetchError(f"its {what} at {url} is larger than {MAX_DOCUMENT_BYTES} bytes")
        except TimeoutError:
            raise _FetchError(f"its {what} at {url} did not arrive within {_FETCH_DEADLINE:.0f} s") from None
        except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
            raise _FetchError(f"its {what} at {url} could not be read ({type(exc).__name__})") from None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise _FetchError(f"its {what} at {url} is not JSON") from None


class _Refused(Exception):
    """The token is not accepted; ``reason`` says why without quoting it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _is_numeric_date(value: object) -> bool:
    """A JSON number (RFC 7519 NumericDate): not a string, not a boolean, not NaN or an infinity."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _decode_failure(exc: jwt.PyJWTError, *, issuer: str, resource: str) -> str:
    if isinstance(exc, jwt.InvalidAudienceError):  # the expected value, so an admin can compare a decoded token
        return f"it was issued for another resource (aud); the audience expected is {resource}"
    if isinstance(exc, jwt.InvalidIssuerError):
        return f"it was issued by another issuer (iss); the issuer expected is {issuer}"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "its signature does not verify"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"it lacks the {exc.claim} claim"
    return f"it is invalid ({type(exc).__name__})"


def _default_http_client() -> httpx2.AsyncClient:
    """A client for the issuer's documents: no redirects followed; proxy variables and SSL_CERT_FILE apply."""
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(_FETCH_DEADLINE, connect=5.0),
        follow_redirects=False,
        trust_env=True,
        headers={"User-Agent": _USER_AGENT},
    )


def verifier_from_settings(settings: Settings) -> JwtTokenVerifier | None:
    """The verifier an HTTP server signs users in with, or None without ``GLOO_MCP_OAUTH_ISSUER``.

    Raises ConfigurationError (the server then refuses to start) for a half or doubly
    configured sign-in: an issuer without this server's resource URL or the reverse, or
    OAuth and the shared ``GLOO_MCP_AUTH_TOKEN`` at once. Scopes are checked by the SDK
    from ``AuthSettings`` (so a token lacking one gets 403, not 401).
    """
    if settings.oauth_issuer is None and settings.resource_url is None:
        return None
    if settings.oauth_issuer is None or settings.resource_url is None:
        missing = "GLOO_MCP_OAUTH_ISSUER" if settings.oauth_issuer is None else "GLOO_MCP_RESOURCE_URL"
        raise ConfigurationError(
            f"{missing} is not set; per-user sign-in needs both GLOO_MCP_OAUTH_ISSUER (the authorization server) and "
            "GLOO_MCP_RESOURCE_URL (this server's public MCP URL, e.g. https://mcp.example.com/mcp)."
        )
    if settings.mcp_auth_token is not None:
        raise ConfigurationError(
            "GLOO_MCP_AUTH_TOKEN and GLOO_MCP_OAUTH_ISSUER are both set; choose one way to authenticate callers "
            "(OAuth gives each user their own conversations)."
        )
    return JwtTokenVerifier(issuer=settings.oauth_issuer, resource=settings.resource_url)
