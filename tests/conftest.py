"""Shared fixtures: an in-process simulator reached over real HTTP (ASGI), and MCP sessions on it."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from gloo_mcp.config import Settings
from gloo_mcp.gloo.client import GlooClient
from gloo_mcp.gloo.retry import RetryPolicy
from gloo_mcp.server import DEFAULT_HEARTBEAT_INTERVAL, build_server
from gloo_mcp.simulator import SimulatorState, create_app

if TYPE_CHECKING:
    from tests.oidc_provider import AuthorizationServer

SIM_BASE_URL = "https://gloo.simulator.test"
TOOL_NAMES = {"send_message", "continue_chat", "get_chat_history", "list_chats", "list_models"}

# The default conversation store lives in the user's data directory: never the real one in tests.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="gloo-mcp-tests-")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """With GLOO_MCP_NO_SKIPS set (.ci/run does), a skipped test fails: CI must run everything."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("GLOO_MCP_NO_SKIPS") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, but GLOO_MCP_NO_SKIPS forbids skips: {report.longrepr}"


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets an empty default store (in-process servers read XDG_DATA_HOME when they open it)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FakeSleep:
    """Records requested waits instead of waiting, so retry tests take no time."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(scope="session")
def authorization_server() -> Iterator[AuthorizationServer]:
    """A real OAuth authorization server (oidc-provider on loopback), shared by the tests that sign users in."""
    from tests.oidc_provider import ProviderUnavailable, running_authorization_server

    try:
        with running_authorization_server() as server:
            yield server
    except ProviderUnavailable as exc:
        pytest.skip(f"no authorization server for the OAuth tests: {exc}")


@pytest.fixture
def sim() -> SimulatorState:
    return SimulatorState()


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def retry(sleep: FakeSleep) -> RetryPolicy:
    return RetryPolicy(sleep=sleep, random=lambda: 0.5)


def sim_settings(sim: SimulatorState, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "base_url": SIM_BASE_URL,
        "client_id": sim.client_id,
        "client_secret": SecretStr(sim.client_secret),
    }
    values.update(overrides)
    return Settings(**values)


def sim_transport(sim: SimulatorState) -> httpx2.ASGITransport:
    return httpx2.ASGITransport(app=create_app(sim))


@pytest.fixture
def make_client(sim: SimulatorState, retry: RetryPolicy) -> Callable[..., GlooClient]:
    def make(**overrides: Any) -> GlooClient:
        return GlooClient.open(sim_settings(sim, **overrides), sim_transport(sim), retry=retry)

    return make


@asynccontextmanager
async def mcp_session(
    sim: SimulatorState,
    *,
    mode: str = "auto",
    retry: RetryPolicy | None = None,
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
    **overrides: Any,
) -> AsyncIterator[Client]:
    """An in-process MCP client session on a gloo-mcp server that talks HTTP to the simulator."""
    server = build_server(
        sim_settings(sim, **overrides), transport=sim_transport(sim), retry=retry, heartbeat_interval=heartbeat_interval
    )
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        yield client
