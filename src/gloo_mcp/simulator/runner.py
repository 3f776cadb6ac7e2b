"""Serve the simulator with uvicorn on 127.0.0.1, in the foreground or on a background thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from gloo_mcp.simulator.app import create_app
from gloo_mcp.simulator.state import SimulatorState

__all__ = ["running_simulator", "serve_forever"]

LOOPBACK = "127.0.0.1"


def _server(state: SimulatorState) -> uvicorn.Server:
    config = uvicorn.Config(create_app(state), log_level="warning", lifespan="off", access_log=False)
    return uvicorn.Server(config)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle + delayed-ACK stalls (~40 ms a request)
    sock.bind((host, port))
    return sock


@contextmanager
def running_simulator(state: SimulatorState | None = None, *, port: int = 0) -> Iterator[str]:
    """Run the simulator on a background thread for the duration of the block; yields its base URL."""
    sim = state if state is not None else SimulatorState()
    sock = _bind(LOOPBACK, port)
    server = _server(sim)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="gloo-simulator", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the Gloo simulator failed to start")
            threading.Event().wait(0.01)
        yield f"http://{LOOPBACK}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_forever(state: SimulatorState, *, host: str = LOOPBACK, port: int = 8765) -> None:
    """Serve in the foreground until interrupted (``gloo-mcp simulator``)."""
    sock = _bind(host, port)
    try:
        _server(state).run(sockets=[sock])
    finally:
        sock.close()
