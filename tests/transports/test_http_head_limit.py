"""A request head over 16 KiB is refused with 431 before the app sees it, complete or not, however it arrives.

Against gloo-mcp's real HTTP app under uvicorn on a loopback socket, wrapped in a recorder
that notes every request reaching the app (its auth layer included). A raw socket sends
what no well-behaved client would; every wait is bounded by the socket timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr
from starlette.types import Receive, Scope, Send

from gloo_mcp.access.oauth import JwtTokenVerifier
from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from gloo_mcp.transports import serving
from gloo_mcp.transports.http_app import HttpOptions, build_http_app
from gloo_mcp.transports.serving import running_in_thread
from tests.conftest import sim_settings, sim_transport
from tests.oidc_provider import RESOURCE
from tests.transports.test_http_limits import (
    LEGACY_HEADERS,
    TOOLS_LIST,
    WAIT,
    connect,
    read_response,
    read_until_closed,
)

TOKEN = "s3cret-shared-team-token-for-tests"
ISSUER = "http://127.0.0.1:9/issuer"  # never contacted: a token this long is refused before any key is fetched
LIMIT = serving._MAX_HEAD_BYTES


@contextmanager
def recorded_server(sim: SimulatorState, auth: str | None = None) -> Iterator[tuple[str, list[str]]]:
    """The HTTP app (``auth``: None, "shared token" or "oauth") on loopback; yields its URL and the paths it saw."""
    overrides: dict[str, Any] = {}
    verifier = None
    if auth == "shared token":
        overrides["mcp_auth_token"] = SecretStr(TOKEN)
    elif auth == "oauth":
        overrides.update(oauth_issuer=ISSUER, resource_url=RESOURCE, oauth_scopes=("chat",))
        verifier = JwtTokenVerifier(issuer=ISSUER, resource=RESOURCE)
    settings = sim_settings(sim, **overrides)
    app = build_http_app(build_server(settings, transport=sim_transport(sim), oauth=verifier), settings, HttpOptions())
    reached: list[str] = []

    async def recorder(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            reached.append(scope["path"])
        await app(scope, receive, send)

    with running_in_thread(recorder) as base_url:
        yield base_url, reached


def head(base_url: str, *lines: str, method: str = "GET", path: str = "/health", keep_alive: bool = False) -> bytes:
    """A request head; unless ``keep_alive``, asking to close, so a wrongly served request ends the read at once."""
    host = base_url.removeprefix("http://")
    close = [] if keep_alive else ["Connection: close"]
    return "\r\n".join([f"{method} {path} HTTP/1.1", f"Host: {host}", *close, *lines, "", ""]).encode()


def padded_head(base_url: str, size: int, path: str = "/health") -> bytes:
    """A complete GET head of exactly ``size`` bytes, padded with an ``X-Padding`` header."""
    bare = head(base_url, "X-Padding: ", path=path)
    return head(base_url, "X-Padding: " + "p" * (size - len(bare)), path=path)


def assert_refused_as_too_large(answer: bytes) -> None:
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"\r\nconnection: close" in status.lower()
    assert body.count(b".") == 1 and body.endswith(b".\n") and b"16 KiB" in body


@pytest.mark.parametrize("writes", [1, 2, 40], ids=["in one write", "in two writes", "in forty writes"])
def test_a_complete_20_kib_header_is_refused_with_431_without_reaching_the_app(
    sim: SimulatorState, writes: int
) -> None:
    with recorded_server(sim) as (base_url, reached), closing(connect(base_url)) as sock:
        request = padded_head(base_url, 20 * 1024)
        step = -(-len(request) // writes)
        for start in range(0, len(request), step):
            sock.sendall(request[start : start + step])
        answer = read_until_closed(sock)
    assert_refused_as_too_large(answer)
    assert reached == []


def test_a_20_kib_header_pipelined_behind_a_served_request_is_refused_without_reaching_the_app(
    sim: SimulatorState,
) -> None:
    with recorded_server(sim) as (base_url, reached), closing(connect(base_url)) as sock:
        sock.sendall(head(base_url, keep_alive=True) + padded_head(base_url, 20 * 1024, path="/mcp"))
        answer = read_until_closed(sock)
    responses = [b"HTTP/1.1 " + response for response in answer.split(b"HTTP/1.1 ")[1:]]
    assert [response[:12] for response in responses] == [b"HTTP/1.1 200", b"HTTP/1.1 431"]
    assert_refused_as_too_large(responses[1])
    assert reached == ["/health"]


def test_a_head_over_16_kib_still_missing_its_end_is_refused_with_431_at_once(sim: SimulatorState) -> None:
    with recorded_server(sim) as (base_url, reached), closing(connect(base_url)) as sock:
        sock.sendall(head(base_url).removesuffix(b"\r\n") + b"X-Padding: " + b"p" * (20 * 1024))
        answer = read_until_closed(sock)  # well before the 10 s head deadline, which would close without a word
    assert_refused_as_too_large(answer)
    assert reached == []


@pytest.mark.parametrize("auth", ["oauth", "shared token"])
def test_a_60_kb_authorization_header_is_refused_before_the_auth_layer_sees_it(
    sim: SimulatorState, auth: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.DEBUG, logger="gloo_mcp"),
        recorded_server(sim, auth) as (base_url, reached),
        closing(connect(base_url)) as sock,
    ):
        lines = [f"Authorization: Bearer {'a' * 60_000}", "Content-Type: application/json", "Content-Length: 2"]
        sock.sendall(head(base_url, *lines, method="POST", path="/mcp") + b"{}")
        answer = read_until_closed(sock)
    assert_refused_as_too_large(answer)
    assert reached == []
    assert [r for r in caplog.records if r.name in ("gloo_mcp.access.oauth", "gloo_mcp.transports.http_app")] == []


def test_a_head_of_exactly_16_kib_is_served_and_one_byte_more_is_refused(sim: SimulatorState) -> None:
    with recorded_server(sim) as (base_url, reached):
        with closing(connect(base_url)) as sock:
            sock.sendall(padded_head(base_url, LIMIT))
            fitting = read_response(sock)
        with closing(connect(base_url)) as sock:
            sock.sendall(padded_head(base_url, LIMIT + 1))
            over = read_until_closed(sock)
    assert fitting.startswith(b"HTTP/1.1 200 ")
    assert_refused_as_too_large(over)
    assert reached == ["/health"]


async def test_a_request_with_an_8_kib_header_is_still_served(sim: SimulatorState) -> None:
    with recorded_server(sim, "shared token") as (base_url, reached):
        headers = {**LEGACY_HEADERS, "Authorization": f"Bearer {TOKEN}", "X-Trace-Context": "t" * (8 * 1024)}
        async with httpx2.AsyncClient(timeout=WAIT) as http:
            served = await http.post(f"{base_url}/mcp", json=TOOLS_LIST, headers=headers)
            again = await http.post(f"{base_url}/mcp", json=TOOLS_LIST, headers=headers)  # the same connection, kept
    assert served.status_code == 200 and again.status_code == 200
    assert reached == ["/mcp", "/mcp"]
