"""GlooClient: the one place that talks HTTP to Gloo's chat API.

One instance per process, over one pooled ``httpx2.AsyncClient``. Every call runs inside
a deadline (``GLOO_TIMEOUT``), gets its bearer from a :class:`~gloo_mcp.gloo.auth.TokenProvider`,
retries only what is safe (see :mod:`gloo_mcp.gloo.retry`), and turns every failure into a
:class:`~gloo_mcp.errors.GlooError` whose text an agent can act on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Self, TypeVar

import anyio
import httpx2
from pydantic import BaseModel, ValidationError

from gloo_mcp.config import DEFAULT_BASE_URL, Settings
from gloo_mcp.errors import (
    BadResponseError,
    GlooError,
    MaybeProcessedError,
    UpstreamUnavailableError,
    error_from_status,
    unreadable,
)
from gloo_mcp.gloo.auth import ApiKeyProvider, ClientCredentialsProvider, TokenProvider
from gloo_mcp.gloo.bodies import HISTORY_BODY_BYTES, json_object, read_buffer, read_detail, read_limited
from gloo_mcp.gloo.chat_scan import ChatScan
from gloo_mcp.gloo.network import install_fast_readable_check
from gloo_mcp.gloo.request import GlooRequest, ReadBody
from gloo_mcp.gloo.retry import RetryPolicy, server_named_wait
from gloo_mcp.gloo.wire import WireMessageReply
from gloo_mcp.models import ChatReply, MessageOptions
from gloo_mcp.telemetry import traced_gloo_request

__all__ = ["SIMULATOR_NOTE", "GlooClient", "GlooRequest", "MessageOptions", "ReadBody", "build_http_client", "parse"]

logger = logging.getLogger(__name__)

MESSAGE_PATH = "/ai/v1/message"
CHAT_PATH = "/ai/v1/chat"
CONNECT_TIMEOUT = 10.0
POOL_SIZE = 64
"""Upstream connections, all kept alive: a burst of up to 64 concurrent calls waits on no
connection, and later bursts reuse them instead of opening new ones."""
SIMULATOR_NOTE = "the gloo-mcp simulator, not Gloo AI"
"""How :meth:`GlooClient.reach` names an origin that answers ``X-Gloo-Simulator: true``."""
_PROBE_CHAT_ID = "c00000000-0000-0000-0000-gloo-mcp-check"
_USER_AGENT = "gloo-mcp/0.1"


def build_http_client(settings: Settings, transport: httpx2.AsyncBaseTransport | None = None) -> httpx2.AsyncClient:
    """The process's one pooled HTTP client. Proxy variables and ``SSL_CERT_FILE`` apply (``trust_env``)."""
    client = httpx2.AsyncClient(
        base_url=settings.base_url,
        timeout=httpx2.Timeout(settings.timeout, connect=min(CONNECT_TIMEOUT, settings.timeout)),
        limits=httpx2.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE),
        headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
        transport=transport,
        trust_env=True,
    )
    if transport is None:
        install_fast_readable_check(client)
    return client


class _Outcome(Exception):
    """One failed attempt: the error to report and whether trying again is safe."""

    def __init__(
        self,
        error: GlooError,
        *,
        retryable: bool,
        headers: Mapping[str, str] | None = None,
        stale_token: bool = False,
        reached: bool = True,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable
        self.headers = headers
        self.stale_token = stale_token  # Gloo rejected our bearer: a fresh token may fix it
        self.reached = reached  # False: the attempt never reached Gloo (no connection, no token)


class GlooClient:
    """Typed access to Gloo's chat endpoints for the MCP tools."""

    def __init__(
        self,
        settings: Settings,
        http: httpx2.AsyncClient,
        *,
        tokens: TokenProvider | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self._http = http
        self._tokens = tokens if tokens is not None else _token_provider(settings, http)
        self._retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        return f"GlooClient(base_url={self.settings.base_url!r}, auth={self.settings.auth_mode!r})"

    @classmethod
    def open(
        cls,
        settings: Settings,
        transport: httpx2.AsyncBaseTransport | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> Self:
        """A client with its own pooled HTTP client; close it with :meth:`aclose`."""
        return cls(settings, build_http_client(settings, transport), retry=retry)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- the chat API ---------------------------------------------------------------

    async def send_message(self, query: str, *, chat_id: str | None = None, options: MessageOptions) -> ChatReply:
        """Ask Gloo ``query``, in a new chat or appended to ``chat_id``.

        Raises ChatNotFoundError for an unknown chat and MaybeProcessedError when the
        message may have been recorded although no answer arrived.
        """
        resolved = options.resolve(self.settings)
        suggestions = int(resolved.enable_suggestions)
        body: dict[str, Any] = {
            "query": query,
            "character_limit": resolved.character_limit,
            "sources_limit": resolved.sources_limit,
            "publishers": list(resolved.publishers),
            "stream": False,
            "enable_suggestions": suggestions,
        }
        if chat_id is not None:
            body["chat_id"] = chat_id
        request = GlooRequest(
            "POST",
            MESSAGE_PATH,
            params={"enable_suggestions": suggestions},
            payload=body,
            chat_id=chat_id,
            records_turn=True,
        )
        data = await self.execute(request)
        try:
            wire = parse(WireMessageReply, data, what="message reply")
        except BadResponseError as exc:
            raise request.answer_error(exc) from None
        if not wire.success:
            raise MaybeProcessedError(
                "Gloo reported that it could not answer (success: false); the question may have been recorded — "
                "call get_chat_history to check, then try again."
            )
        if chat_id is not None and wire.chat_id != chat_id:
            raise request.unreadable(f"Gloo answered in chat {wire.chat_id[:80]!r} instead of {chat_id!r}")
        return wire.to_reply()

    async def get_chat(self, chat_id: str) -> ChatScan:
        """The whole conversation ``chat_id``, read once and parsed a page at a time; ChatNotFoundError if unknown.

        Read under :data:`HISTORY_BODY_BYTES`, not the usual cap: Gloo sends whole chats only. The body is held
        once, as it arrived (:func:`~gloo_mcp.gloo.bodies.read_buffer`), and scanned in place.
        """

        async def read(response: httpx2.Response) -> object:
            body = await read_buffer(response, limit=HISTORY_BODY_BYTES)
            return ChatScan.of(body, response.headers.get("content-type", ""))

        scan = await self.call("GET", CHAT_PATH, params={"chat_id": chat_id}, chat_id=chat_id, read=read)
        assert isinstance(scan, ChatScan)
        return scan

    async def reach(self) -> str:
        """Prove Gloo's origin answers HTTP (DNS, TCP, TLS, proxy), without credentials.

        Any status counts: the point is that a server answered. A server that says it is the
        simulator (``X-Gloo-Simulator: true``) is named as such (:data:`SIMULATOR_NOTE`).
        Transport failures raise the same UpstreamUnavailableError a tool call would show.
        """
        started = anyio.current_time()
        try:
            async with self._http.stream("GET", "/", headers={"Accept": "*/*"}) as response:
                status = response.status_code  # the body is never read: only the status matters here
                simulator = response.headers.get("x-gloo-simulator", "").lower() == "true"
        except httpx2.TransportError as exc:
            raise self._unreachable(exc) from None
        elapsed_ms = (anyio.current_time() - started) * 1000
        note = f"; it is {SIMULATOR_NOTE}" if simulator else ""
        return f"{self.settings.base_url} answered (HTTP {status} in {elapsed_ms:.0f} ms){note}"

    async def verify_credentials(self) -> str:
        """Prove the credentials work on the configured backend's API without creating anything.

        Message API: read a chat id that cannot exist; Gloo's "not found" (FastAPI's
        ``{"detail": …}`` with 404, or 422 should it refuse the id's shape) means it accepted
        the bearer. Completions V2: send a request it must reject as invalid (no messages),
        which costs nothing; its 400/422 error body means it accepted the bearer. Only an
        answer shaped like Gloo's counts: a web page's 404 or a proxy's error page raises
        BadResponseError pointing at GLOO_BASE_URL. A 401 or 403 raises AuthenticationError.
        """
        if self.settings.backend == "completions":
            probe = "a request Completions V2 rejects as empty"
            status, kind, body = await self._probe(
                GlooRequest("POST", "/ai/v2/chat/completions", payload={"messages": [], "auto_routing": True})
            )
            expected = status in (400, 422)
        else:
            probe = "a read of a non-existent chat"
            status, kind, body = await self._probe(GlooRequest("GET", CHAT_PATH, params={"chat_id": _PROBE_CHAT_ID}))
            expected = status in (404, 422)
        shaped = isinstance(body, dict) and ("detail" in body or "error" in body)
        if not (expected and shaped):
            if status in (401, 403, 429) or (status >= 500 and shaped):
                raise error_from_status(status, body)
            raise BadResponseError(
                f"{self.settings.base_url} did not answer like Gloo ({probe} got HTTP {status}, {kind}); check "
                f"GLOO_BASE_URL: Gloo's is an origin such as {DEFAULT_BASE_URL}, without a path.",
                status=status,
            )
        if self.settings.auth_mode == "api_key":
            return f"Gloo accepted the API key ({probe}; nothing was created)"
        return f"Gloo issued a token for the client credentials and accepted it ({probe}; nothing was created)"

    async def _probe(self, request: GlooRequest) -> tuple[int, str, object]:
        """One authenticated request for ``check``, not retried: status, content type, JSON body (None if not JSON)."""
        self.settings.require_credentials()
        with anyio.move_on_after(self.settings.timeout):
            try:
                headers = {"Authorization": f"Bearer {await self._tokens.token()}"}
                async with self._stream(request, headers) as response:
                    kind = response.headers.get("content-type", "").split(";")[0].strip()[:60] or "no content type"
                    return response.status_code, kind, await read_detail(response)
            except httpx2.TransportError as exc:
                raise self._unreachable(exc) from None
        raise request.timed_out(self.settings.timeout, reached=False)

    # --- one request, with deadline, auth refresh and safe retries -------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        payload: Mapping[str, Any] | None = None,
        chat_id: str | None = None,
        records_turn: bool = False,
        read: ReadBody | None = None,
        authenticated: bool = True,
    ) -> object:
        """:meth:`execute` the :class:`~gloo_mcp.gloo.request.GlooRequest` these fields describe."""
        return await self.execute(
            GlooRequest(
                method,
                path,
                params=params or {},
                payload=payload,
                chat_id=chat_id,
                records_turn=records_turn,
                read=read,
                authenticated=authenticated,
            )
        )

    async def execute(self, request: GlooRequest) -> object:
        """One Gloo request with the deadline, auth refresh and safe retries.

        ``request.read`` consumes a 2xx response itself (a stream); by default the body is
        read (bounded) as a JSON object. A GlooError it raises ends the call, unretried. A 2xx
        body that cannot be read ends a request that records a turn in MaybeProcessedError
        (Gloo probably recorded the message), any other in BadResponseError.
        """
        if request.authenticated:
            self.settings.require_credentials()
        reached = False  # whether any attempt may have reached Gloo (and, for a turn, recorded it)
        deadline = self._retry.monotonic() + self.settings.timeout
        with anyio.move_on_after(self.settings.timeout):
            refreshed = False
            attempt = 0
            while True:
                attempt += 1
                earlier = reached
                try:
                    headers, token = await self._credentials(request)
                    reached = True  # from here on Gloo may be handling it
                    return await self._attempt(request, headers, token, attempt)
                except _Outcome as outcome:
                    reached = earlier or outcome.reached
                    error = outcome.error
                    if outcome.stale_token and self._tokens.can_refresh and not refreshed:
                        refreshed = True
                        logger.info("Gloo answered 401; refreshing the token and retrying once")
                        continue
                    if not outcome.retryable or attempt >= self._retry.max_attempts:
                        raise error from None
                    delay = self._retry.delay(attempt, outcome.headers)
                    if self._retry.monotonic() + delay >= deadline:
                        raise error from None  # waiting would only end in a timeout
                    logger.info(
                        "attempt %d of %s %s failed (%s); retrying in %.2f s",
                        attempt,
                        request.method,
                        request.path,
                        type(error).__name__,
                        delay,
                    )
                    await self._retry.sleep(delay)
        raise request.timed_out(self.settings.timeout, reached=reached)

    async def _credentials(self, request: GlooRequest) -> tuple[dict[str, str], str]:
        """The request's headers and the bearer in them ("" when it is not authenticated)."""
        if not request.authenticated:
            return {}, ""
        try:
            token = await self._tokens.token()
        except GlooError as exc:  # the token exchange is idempotent: transient failures may be retried
            raise _Outcome(exc, retryable=_transient_status(exc.status), reached=False) from None
        except httpx2.TransportError as exc:
            raise _Outcome(self._unreachable(exc), retryable=True, reached=False) from None
        return {"Authorization": f"Bearer {token}"}, token

    def _stream(self, request: GlooRequest, headers: Mapping[str, str]) -> AbstractAsyncContextManager[httpx2.Response]:
        return self._http.stream(
            request.method, request.path, params=request.params, json=request.payload, headers=headers
        )

    async def _attempt(self, request: GlooRequest, headers: Mapping[str, str], token: str, attempt: int) -> object:
        """Send ``request`` once; its answer, or an :class:`_Outcome` saying what failed and whether to try again."""
        try:
            # one CLIENT span per request, a child of the SDK's span for the MCP request (telemetry.py)
            async with traced_gloo_request(
                self._stream(request, headers),
                self.settings,
                request.method,
                request.path,
                attempt=attempt,
                payload=request.payload,
            ) as response:
                ok = 200 <= response.status_code < 300
                if not ok:
                    detail = await read_detail(response)
                else:
                    try:
                        if request.read is not None:
                            return await request.read(response)
                        body = await read_limited(response)
                    except GlooError as exc:  # an unreadable answer, or an in-band failure after it began
                        raise _Outcome(request.answer_error(exc), retryable=False) from None
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:  # never reached Gloo: safe to repeat
            raise _Outcome(self._unreachable(exc), retryable=True, reached=False) from None
        except httpx2.TransportError as exc:
            raise _Outcome(request.broken(exc), retryable=request.idempotent) from None
        status = response.status_code
        if ok:
            try:
                return json_object(body, response.headers.get("content-type", ""))
            except GlooError as exc:
                raise request.answer_error(exc) from None
        if status == 401 and request.authenticated:
            self._tokens.invalidate(token)
        retry_after = server_named_wait(response.headers, now=self._retry.wall_clock()) if status == 429 else None
        raise _Outcome(
            request.status_error(status, detail, retry_after=retry_after),
            retryable=request.retryable_status(status),
            headers=response.headers,
            stale_token=request.authenticated and status == 401,
        )

    def _unreachable(self, exc: httpx2.TransportError) -> UpstreamUnavailableError:
        logger.info("could not reach Gloo: %s", type(exc).__name__)
        return UpstreamUnavailableError(
            f"Could not reach Gloo at {self.settings.base_url} ({type(exc).__name__}); check GLOO_BASE_URL, the "
            "network, and HTTPS_PROXY / SSL_CERT_FILE if a proxy or private CA is in the way."
        )


def _token_provider(settings: Settings, http: httpx2.AsyncClient) -> TokenProvider:
    if settings.api_key is not None:
        return ApiKeyProvider(settings.api_key)
    if settings.client_id is not None and settings.client_secret is not None:
        return ClientCredentialsProvider(http, settings.token_url, settings.client_id, settings.client_secret)
    return _NoCredentials()


class _NoCredentials:
    """Stands in when nothing is configured; calls fail earlier, in ``require_credentials``."""

    can_refresh = False

    async def token(self) -> str:
        raise RuntimeError("no credentials configured")  # unreachable: require_credentials runs first

    def invalidate(self, token: str) -> None:
        return None


def _transient_status(status: int | None) -> bool:
    return status is not None and (status >= 500 or status == 429)


_M = TypeVar("_M", bound=BaseModel)


def parse(model: type[_M], data: object, *, what: str) -> _M:
    """Validate upstream ``data`` as ``model``; missing or malformed fields are :func:`~gloo_mcp.errors.unreadable`
    (a request that records a turn reports that through ``GlooRequest.answer_error``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) or "body" for err in exc.errors()})[:3]
        raise unreadable(f"Gloo's {what} is missing or has malformed fields ({', '.join(fields)})") from None
