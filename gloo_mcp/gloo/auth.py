"""Bearer tokens for Gloo: a fixed API key, or OAuth2 client credentials cached and refreshed.

The client-credentials provider keeps one token for the whole process, refreshes it a
minute before it expires, and lets exactly one exchange run when many calls need a token
at once (the others wait for that exchange instead of starting their own).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

import httpx2
from pydantic import SecretStr, ValidationError

from gloo_mcp.errors import AuthenticationError, BadResponseError, GlooError, error_from_status
from gloo_mcp.gloo.bodies import read_detail, read_limited
from gloo_mcp.gloo.wire import TokenResponse
from gloo_mcp.telemetry import traced_token_fetch

__all__ = ["ApiKeyProvider", "ClientCredentialsProvider", "TokenProvider"]

logger = logging.getLogger(__name__)

REFRESH_MARGIN_SECONDS = 60.0


class TokenProvider(Protocol):
    """Hands out the bearer token for the next request."""

    @property
    def can_refresh(self) -> bool:
        """Whether :meth:`invalidate` followed by :meth:`token` can yield a different token."""
        ...

    async def token(self) -> str: ...

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after Gloo rejected it, so the next :meth:`token` fetches a new one."""
        ...


class ApiKeyProvider:
    """An API key sent as the bearer on every call; there is nothing to exchange or refresh."""

    def __init__(self, key: SecretStr) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "ApiKeyProvider(key='**********')"

    @property
    def can_refresh(self) -> bool:
        return False

    async def token(self) -> str:
        return self._key.get_secret_value()

    def invalidate(self, token: str) -> None:
        return None


class ClientCredentialsProvider:
    """OAuth2 client credentials against ``{base}/oauth2/token`` with HTTP Basic, scope ``api/access``."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._refresh_margin = refresh_margin
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"ClientCredentialsProvider(token_url={self._token_url!r}, client_id={self._client_id!r})"

    @property
    def can_refresh(self) -> bool:
        return True

    def _fresh(self) -> str | None:
        if self._token is not None and self._clock() < self._expires_at - self._refresh_margin:
            return self._token
        return None

    async def token(self) -> str:
        cached = self._fresh()
        if cached is not None:
            return cached
        async with self._lock:  # held only for the exchange itself, never across a Gloo request
            cached = self._fresh()  # another caller may have refreshed while we waited
            if cached is not None:
                return cached
            token, lifetime = await self._exchange()
            self._token = token
            self._expires_at = self._clock() + lifetime
            return token

    def invalidate(self, token: str) -> None:
        if self._token == token:  # a stale 401 must not throw away a newer token
            self._token = None

    async def _exchange(self) -> tuple[str, float]:
        """One client-credentials exchange; the answer is read with the same bound as every other upstream body."""
        logger.debug("exchanging client credentials for a token at %s", self._token_url)
        request = self._http.stream(
            "POST",
            self._token_url,
            data={"grant_type": "client_credentials", "scope": "api/access"},
            auth=httpx2.BasicAuth(self._client_id, self._client_secret.get_secret_value()),
            headers={"Accept": "application/json"},
        )
        async with traced_token_fetch(request, self._token_url) as response:  # span, timing, count (telemetry.py)
            status = response.status_code
            if status in (400, 401, 403):
                raise AuthenticationError(
                    f"Gloo's token endpoint refused the client credentials (HTTP {status}); check "
                    "GLOO_CLIENT_ID and GLOO_CLIENT_SECRET (create them in Gloo AI Studio → API Credentials).",
                    status=status,
                )
            if status != 200:
                error: GlooError = error_from_status(status, await read_detail(response))
                raise error
            body = await read_limited(response)
        try:
            parsed = TokenResponse.model_validate_json(body)
        except ValidationError:
            raise BadResponseError(
                "Gloo's token endpoint answered without a usable access token; try again, and run "
                "`gloo-mcp check` if it persists."
            ) from None
        return parsed.access_token, parsed.expires_in
