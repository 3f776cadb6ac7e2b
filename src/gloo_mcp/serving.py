"""Run an ASGI app under uvicorn: in the foreground (commands) or on a thread (tests, demo, benchmarks).

Both the simulator and the Streamable HTTP server go through here, so both get the same
socket options and the same quiet, stderr-only logging.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

__all__ = ["LOOPBACK", "running_in_thread", "serve_in_foreground"]

LOOPBACK = "127.0.0.1"

Lifespan = Literal["on", "off"]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle + delayed-ACK stalls (~40 ms a request)
    sock.bind((host, port))
    return sock


def _server(app: ASGIApp, lifespan: Lifespan, log_level: str) -> uvicorn.Server:
    # log_config=None: uvicorn keeps its hands off logging, so our stderr handler and
    # secret-redacting filter see its records like everyone else's.
    config = uvicorn.Config(app, lifespan=lifespan, log_level=log_level.lower(), log_config=None, access_log=False)
    return uvicorn.Server(config)


@contextmanager
def running_in_thread(
    app: ASGIApp, *, host: str = LOOPBACK, port: int = 0, lifespan: Lifespan = "on", log_level: str = "warning"
) -> Iterator[str]:
    """Serve ``app`` on a background thread for the duration of the block; yields its base URL."""
    sock = _bind(host, port)
    server = _server(app, lifespan, log_level)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the HTTP server failed to start")
            threading.Event().wait(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_in_foreground(
    app: ASGIApp, *, host: str, port: int, lifespan: Lifespan = "on", log_level: str = "warning"
) -> None:
    """Serve until interrupted."""
    sock = _bind(host, port)
    try:
        _server(app, lifespan, log_level).run(sockets=[sock])
    finally:
        sock.close()
