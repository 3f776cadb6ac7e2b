"""The pool's cheaper readability check: installed on the real client, and still right about closed sockets."""

from __future__ import annotations

import anyio
import httpcore2
import httpx2
from anyio.abc import SocketStream

from gloo_mcp.config import Settings
from gloo_mcp.gloo.client import build_http_client
from gloo_mcp.gloo.network import _PollingBackend

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


def test_the_process_client_uses_the_polling_backend() -> None:
    client = build_http_client(Settings(api_key="k"))  # type: ignore[arg-type]
    pool = client._transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool._network_backend, _PollingBackend)


async def test_an_idle_connection_is_unreadable_until_the_server_closes_it() -> None:
    closed = anyio.Event()

    async def serve(stream: SocketStream) -> None:
        async with stream:
            await closed.wait()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        stream = await _PollingBackend().connect_tcp("127.0.0.1", port)
        assert stream.get_extra_info("is_readable") is False
        closed.set()
        with anyio.fail_after(5):
            while not stream.get_extra_info("is_readable"):  # noqa: ASYNC110 - polling the check under test
                await anyio.sleep(0.01)
        await stream.aclose()
        group.cancel_scope.cancel()


async def test_a_kept_alive_connection_the_server_dropped_is_replaced_not_reused() -> None:
    """Request, server closes the idle connection, request again: the second must not fail."""
    connections = 0

    async def serve(stream: SocketStream) -> None:
        nonlocal connections
        connections += 1
        async with stream:  # keep-alive promised, then dropped while idle
            await stream.receive()
            await stream.send(RESPONSE)
            await anyio.sleep(0.05)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        settings = Settings(api_key="k", base_url=f"http://127.0.0.1:{port}")  # type: ignore[arg-type]
        async with build_http_client(settings) as http:
            first = await http.get("/")
            await anyio.sleep(0.3)
            second = await http.get("/")
        group.cancel_scope.cancel()
    assert first.text == second.text == "ok" and connections == 2


def test_a_client_with_an_injected_transport_is_left_alone() -> None:
    client = build_http_client(Settings(api_key="k"), httpx2.MockTransport(lambda r: httpx2.Response(200)))  # type: ignore[arg-type]
    assert not isinstance(getattr(client._transport, "_pool", None), httpcore2.AsyncConnectionPool)
