"""Serve the simulator with uvicorn on 127.0.0.1, in the foreground or on a background thread."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from gloo_mcp.simulator.app import create_app
from gloo_mcp.simulator.state import SimulatorState
from gloo_mcp.transports.serving import LOOPBACK, running_in_thread, serve_in_foreground

__all__ = ["running_simulator", "serve_forever"]


@contextmanager
def running_simulator(state: SimulatorState | None = None, *, port: int = 0) -> Iterator[str]:
    """Run the simulator on a background thread for the duration of the block; yields its base URL."""
    app = create_app(state if state is not None else SimulatorState())
    with running_in_thread(app, port=port, lifespan="off") as url:
        yield url


def serve_forever(
    state: SimulatorState, *, host: str = LOOPBACK, port: int = 8765, on_bound: Callable[[int], None] | None = None
) -> None:
    """Serve in the foreground until interrupted (``gloo-mcp simulator``).

    Raises :class:`~gloo_mcp.transports.serving.PortInUseError` when the port is taken (before ``on_bound`` runs).
    """
    serve_in_foreground(create_app(state), host=host, port=port, lifespan="off", on_bound=on_bound)
