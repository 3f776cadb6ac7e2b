"""Clients cannot exhaust the HTTP server: request deadlines, the connection bound, 405 on GET, the body cap.

Against a real uvicorn on a loopback socket, with small limits. A raw socket shows what a
misbehaving client sees; every wait is bounded by a socket timeout or ``anyio.fail_after``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from uvicorn.protocols.http.h11_impl import H11Protocol

from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from gloo_mcp.simulator.state import Fault
from gloo_mcp.transports import serving
from gloo_mcp.transports.http_app import DEFAULT_MAX_REQUEST_BODY_SIZE, HttpOptions, build_http_app
from gloo_mcp.transports.serving import DEFAULT_LIMITS, ConnectionLimits, running_in_thread
from tests.conftest import sim_settings, sim_transport

WAIT = 10.0  # the longest any test waits for the server to act; a deadline under test is far shorter
LEGACY_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
GET_HEALTH = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
GET_HEALTH_AND_CLOSE = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@contextmanager
def serving_http(
    sim: SimulatorState,
    limits: ConnectionLimits = DEFAULT_LIMITS,
    *,
    max_request_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
    heartbeat_interval: float = 5.0,
) -> Iterator[str]:
    """gloo-mcp's HTTP app under uvicorn on a loopback port, with ``limits``; yields the base URL."""
    settings = sim_settings(sim)
    server = build_server(settings, transport=sim_transport(sim), heartbeat_interval=heartbeat_interval)
    app = build_http_app(server, settings, HttpOptions(), max_request_body_size=max_request_body_size)
    with running_in_thread(app, limits=limits) as base_url:
        yield base_url


@asynccontextmanager
async def mcp_client(url: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(timeout=WAIT) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def connect(base_url: str) -> socket.socket:
    host, _, port = base_url.removeprefix("http://").rpartition(":")
    return socket.create_connection((host, int(port)), timeout=WAIT)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a socket timeout fails the test)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length body, leaving the connection open."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-response"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-response"
        body += chunk
    return head


@contextmanager
def held_connections(base_url: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` kept-alive connections, each having been served once (so the server has accepted them)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            socks.append(connect(base_url))
            socks[-1].sendall(GET_HEALTH)
            assert read_response(socks[-1]).startswith(b"HTTP/1.1 200")
        yield socks
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl"],
    ids=["nothing", "part of a head"],
)
def test_a_client_that_stalls_before_finishing_its_headers_is_disconnected(sim: SimulatorState, sent: bytes) -> None:
    with serving_http(sim, ConnectionLimits(header_timeout=0.2)) as base_url, closing(connect(base_url)) as sock:
        sock.sendall(sent)
        assert read_until_closed(sock) == b""


def test_trickling_a_follow_up_request_on_a_kept_alive_connection_is_disconnected(sim: SimulatorState) -> None:
    # uvicorn's own keep-alive timer stops at the first byte of the next request: the header deadline takes over
    limits = ConnectionLimits(header_timeout=0.2, idle_timeout=60)
    with serving_http(sim, limits) as base_url, closing(connect(base_url)) as sock:
        sock.sendall(GET_HEALTH)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /hea")
        assert read_until_closed(sock) == b""


def test_a_client_that_stalls_while_sending_its_body_is_disconnected(sim: SimulatorState) -> None:
    with serving_http(sim, ConnectionLimits(body_timeout=0.2)) as base_url, closing(connect(base_url)) as sock:
        host = base_url.removeprefix("http://").encode()
        sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n" % host)
        sock.sendall(b"Content-Length: 100\r\n\r\n" + b'{"jsonrpc": "2.0", ')
        assert read_until_closed(sock) == b""


def test_an_idle_kept_alive_connection_is_closed(sim: SimulatorState) -> None:
    with serving_http(sim, ConnectionLimits(idle_timeout=1)) as base_url, closing(connect(base_url)) as sock:
        sock.sendall(GET_HEALTH)
        assert read_until_closed(sock).startswith(b"HTTP/1.1 200")


def test_beyond_the_connection_limit_a_new_connection_gets_503_with_retry_after(sim: SimulatorState) -> None:
    limits = ConnectionLimits(max_connections=2, idle_timeout=60)
    with serving_http(sim, limits) as base_url:
        with held_connections(base_url, 2) as held:
            with closing(connect(base_url)) as refused:
                refused.sendall(GET_HEALTH)
                answer = read_until_closed(refused)  # the 503, then a clean close: no reset
            for sock in held:  # the server closes them, and forgets them before the client sees the close
                sock.sendall(GET_HEALTH_AND_CLOSE)
                assert read_until_closed(sock).startswith(b"HTTP/1.1 200")
        with closing(connect(base_url)) as later:
            later.sendall(GET_HEALTH_AND_CLOSE)
            served = read_until_closed(later)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    assert b"\r\nretry-after: 5" in head.lower()
    assert body.decode().endswith("retry in a few seconds.\n")
    assert served.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_a_non_post_request_to_mcp_gets_405_and_post_is_still_served(sim: SimulatorState, method: str) -> None:
    with serving_http(sim) as base_url:
        async with httpx2.AsyncClient(timeout=WAIT) as http:
            refused = await http.request(method, f"{base_url}/mcp", headers={"Accept": "text/event-stream"})
            served = await http.post(f"{base_url}/mcp", json=TOOLS_LIST, headers=LEGACY_HEADERS)
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert refused.json()["error"] == "method_not_allowed"
    assert served.status_code == 200


async def test_a_long_progress_stream_is_not_cut_by_the_request_deadlines(sim: SimulatorState) -> None:
    sim.inject("message", Fault(delay=1.0))  # five times the deadlines below
    limits = ConnectionLimits(header_timeout=0.2, body_timeout=0.2)
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    with serving_http(sim, limits, heartbeat_interval=0.1) as base_url:
        async with mcp_client(f"{base_url}/mcp") as client:
            with anyio.fail_after(WAIT):
                result = await client.call_tool("send_message", {"query": "slow"}, progress_callback=on_progress)
    assert not result.is_error and len(seen) >= 3


async def test_an_oversized_body_gets_413(sim: SimulatorState) -> None:
    padding = "x" * 2048

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the cap applies as the body arrives
        yield b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": "'
        yield padding.encode() + b'"}}'

    with serving_http(sim, max_request_body_size=1024) as base_url:
        async with httpx2.AsyncClient(timeout=WAIT) as http:
            declared = await http.post(
                f"{base_url}/mcp", json={**TOOLS_LIST, "params": {"pad": padding}}, headers=LEGACY_HEADERS
            )
            streamed = await http.post(f"{base_url}/mcp", content=chunked(), headers=LEGACY_HEADERS)
            fitting = await http.post(f"{base_url}/mcp", json=TOOLS_LIST, headers=LEGACY_HEADERS)
    assert declared.status_code == 413 and streamed.status_code == 413
    assert fitting.status_code == 200


def test_if_uvicorns_protocol_changes_shape_the_server_falls_back_to_uvicorns_limits(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delattr(H11Protocol, "on_response_complete")
    with caplog.at_level(logging.WARNING, logger="gloo_mcp.transports.serving"):
        protocol, limit_concurrency = serving._http_protocol(ConnectionLimits(max_connections=7))
    assert protocol == "h11" and limit_concurrency == 8
    assert "without request deadlines" in caplog.text
