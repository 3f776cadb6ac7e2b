"""The container image: built from the Containerfile with podman, run as a user would run it.

Heavy (a build, then real containers), so with the end-to-end runs: ``pytest -m load``, which .ci/run
runs after ``.ci/container-setup`` has installed podman and made the local base image. GLOO_BASE_URL
may be plain HTTP only on loopback, so the server reaches its simulator there: either the simulator
runs inside the server's container (``podman exec``) and the test reaches the server through the port
``podman run -p`` publishes on the host's loopback, or the container shares the host's network and
reaches a simulator (or PostgreSQL) that this process runs.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx2
import psycopg
import pytest
from mcp_types import CallToolResult
from starlette.types import Receive, Scope, Send

from gloo_mcp.simulator import SimulatorState, create_app
from gloo_mcp.transports.serving import running_in_thread
from tests.conftest import free_port
from tests.container_image import BuiltImage, ContainerUnavailable, build_image, podman, running_container, until_output
from tests.postgres_server import running_postgres
from tests.test_http import http_client

pytestmark = pytest.mark.load

TOKEN = "a-team-token-of-enough-length"
SIMULATOR_PORT = 8765
GLOO_TIMEOUT = 10
STOP_TIMEOUT = 20
"""Seconds ``podman stop`` waits for the server after SIGTERM before it kills it: longer than GLOO_TIMEOUT + 5 s,
as a deployment's grace period must be, so a call in flight could finish."""


@pytest.fixture(scope="session")
def image() -> BuiltImage:
    try:
        return build_image()
    except ContainerUnavailable as reason:
        pytest.skip(f"no container image can be built here: {reason}")


def _env(**values: str) -> list[str]:
    return [arg for name, value in values.items() for arg in ("-e", f"{name}={value}")]


SERVING_ENV = _env(
    GLOO_MCP_AUTH_TOKEN=TOKEN,
    GLOO_API_KEY="sim-api-key",  # the simulator's own key (gloo-mcp simulator prints it)
    GLOO_BASE_URL=f"http://127.0.0.1:{SIMULATOR_PORT}",
    GLOO_TIMEOUT=str(GLOO_TIMEOUT),
)


async def test_the_image_answers_send_message_over_http_and_exits_0_within_the_grace_period_on_sigterm(
    image: BuiltImage,
) -> None:
    port = free_port()
    # Read-only, as deploy/compose.yaml runs it: only the store's directory (/data) is writable.
    read_only = ["--read-only", "--tmpfs", "/data:rw,mode=1777"]
    with running_container(image.name, "-p", f"127.0.0.1:{port}:8000", *read_only, *SERVING_ENV) as container:
        with until_output(["podman", "logs", "-f", container], "Streamable HTTP on http://0.0.0.0:8000/mcp"):
            pass
        simulator = ["podman", "exec", container, "gloo-mcp", "simulator", "--port", str(SIMULATOR_PORT)]
        with until_output(simulator, "gloo-mcp simulator (NOT Gloo AI) on"):
            async with http_client(f"http://127.0.0.1:{port}/mcp", TOKEN) as client:
                reply = await client.call_tool("send_message", {"query": "What is rest?"})
            started = time.monotonic()
            podman("stop", "-t", str(STOP_TIMEOUT), container, timeout=STOP_TIMEOUT + 30)
            stopped_after = time.monotonic() - started
        state = json.loads(podman("inspect", "--format", "{{json .State}}", container).stdout)
        logs = podman("logs", container).stderr
    assert not reply.is_error, reply.content
    assert reply.structured_content is not None
    assert reply.structured_content["chat_id"] and reply.structured_content["answer"]
    assert stopped_after < STOP_TIMEOUT, f"SIGTERM did not stop the server: killed after {stopped_after:.1f} s"
    assert state["ExitCode"] == 0, f"exit status {state['ExitCode']} after SIGTERM; logs:\n{logs[-2000:]}"
    assert "Traceback" not in logs


class _HeldMessages:
    """The simulator, holding each message request until :attr:`release` is set: a call provably in flight."""

    def __init__(self, sim: SimulatorState) -> None:
        self._app = create_app(sim)
        self.arrived = threading.Event()
        self.release = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/ai/v1/message":
            self.arrived.set()
            await anyio.to_thread.run_sync(self.release.wait)
        await self._app(scope, receive, send)


async def _once_draining(readyz: str) -> httpx2.Response:
    """Poll readiness until it answers 503, as a load balancer's probe would see the stop."""
    async with httpx2.AsyncClient(timeout=5) as http:
        with anyio.fail_after(STOP_TIMEOUT):
            while True:
                response = await http.get(readyz)
                if response.status_code == 503:
                    return response
                await anyio.sleep(0.05)


async def test_a_podman_stop_lets_the_call_in_flight_finish_and_the_container_exits_0(image: BuiltImage) -> None:
    """SIGTERM (the image's STOPSIGNAL) drains: readiness turns 503, the call in flight gets its answer, exit 0."""
    sim = SimulatorState()
    held = _HeldMessages(sim)
    port = free_port()
    serve = ["serve", "--transport", "streamable-http", "--host", "127.0.0.1", "--port", str(port)]
    results: list[CallToolResult] = []
    try:
        # The host network: the server in the container reaches this process's simulator on loopback.
        with running_in_thread(held) as simulator_url:
            env = _env(
                GLOO_MCP_AUTH_TOKEN=TOKEN,
                GLOO_API_KEY=sim.api_key,
                GLOO_BASE_URL=simulator_url,
                GLOO_TIMEOUT=str(GLOO_TIMEOUT),
            )
            with running_container(image.name, "--network", "host", *env, command=serve) as container:
                with until_output(["podman", "logs", "-f", container], "Streamable HTTP on"):
                    pass
                async with AsyncExitStack() as stack:  # whatever fails, `podman stop` is waited for
                    client = await stack.enter_async_context(http_client(f"http://127.0.0.1:{port}/mcp", TOKEN))
                    # As hosts do, list the tools first: the client checks each result against its tool's
                    # output schema, and would otherwise fetch the list after the answer, once draining refuses it.
                    await client.list_tools()

                    async def call() -> None:
                        results.append(await client.call_tool("send_message", {"query": "Still there?"}))

                    async with anyio.create_task_group() as tasks:
                        tasks.start_soon(call)
                        with anyio.fail_after(30):
                            await anyio.to_thread.run_sync(held.arrived.wait)
                        stop = ["podman", "stop", "-t", str(STOP_TIMEOUT), container]
                        stopping = await stack.enter_async_context(await anyio.open_process(stop))
                        readiness = await _once_draining(f"http://127.0.0.1:{port}/readyz")
                        held.release.set()
                    with anyio.fail_after(STOP_TIMEOUT + 30):
                        stop_status = await stopping.wait()
                state = json.loads(podman("inspect", "--format", "{{json .State}}", container).stdout)
                logs = podman("logs", container).stderr
    finally:
        held.release.set()
    (reply,) = results
    assert not reply.is_error, reply.content
    assert reply.structured_content is not None and reply.structured_content["answer"]
    assert readiness.json()["status"] == "draining"
    assert stop_status == 0
    assert state["ExitCode"] == 0, f"exit status {state['ExitCode']} after SIGTERM; logs:\n{logs[-2000:]}"
    assert "Traceback" not in logs


@pytest.fixture
def postgres_url() -> Iterator[str]:
    try:  # not under tmp_path: the server may run as another user, who cannot enter pytest's private directories
        with running_postgres(Path(tempfile.mkdtemp(prefix="gloo-mcp-pg-"))) as url:
            yield url
    except RuntimeError as reason:
        pytest.skip(f"no PostgreSQL server could run here: {reason}")


async def test_the_image_keeps_conversations_in_postgresql_on_the_host_network(
    image: BuiltImage, postgres_url: str
) -> None:
    """deploy/compose.yaml's shape: the image's PostgreSQL driver against a real server (on the host's loopback)."""
    port, simulator_port = free_port(), free_port()
    serve = ["serve", "--transport", "streamable-http", "--host", "127.0.0.1", "--port", str(port)]
    env = [*SERVING_ENV, *_env(GLOO_BASE_URL=f"http://127.0.0.1:{simulator_port}", GLOO_STORE_URL=postgres_url)]
    with running_container(image.name, "--network", "host", *env, command=serve) as container:
        with until_output(["podman", "logs", "-f", container], "Streamable HTTP on"):
            pass
        simulator = ["podman", "exec", container, "gloo-mcp", "simulator", "--port", str(simulator_port)]
        with until_output(simulator, "gloo-mcp simulator (NOT Gloo AI) on"):
            async with http_client(f"http://127.0.0.1:{port}/mcp", TOKEN) as client:
                reply = await client.call_tool("send_message", {"query": "What is rest?"})
    assert not reply.is_error, reply.content
    assert reply.structured_content is not None
    with psycopg.connect(postgres_url) as db:
        found = db.execute(
            "SELECT count(*) FROM gloo_mcp_chats WHERE chat_id = %s", [reply.structured_content["chat_id"]]
        )
        assert found.fetchone() == (1,)


def test_the_image_runs_unprivileged_stops_on_sigterm_and_probes_readiness(image: BuiltImage) -> None:
    inspected = json.loads(podman("image", "inspect", image.name).stdout)[0]
    config = inspected["Config"]
    assert config["User"] == "10001:10001"
    assert config["StopSignal"] == "SIGTERM"
    assert "/readyz" in " ".join(inspected["Healthcheck"]["Test"])
    assert config["Entrypoint"] == ["gloo-mcp"]
    assert config["Cmd"] == ["serve", "--transport", "streamable-http", "--host", "0.0.0.0", "--port", "8000"]


def test_the_image_carries_its_extras_and_a_trust_store_but_no_installer(image: BuiltImage) -> None:
    probe = (
        "import importlib.util as u, json, ssl\n"
        "modules = ('psycopg', 'jwt', 'opentelemetry.sdk', 'pip')\n"
        "print(json.dumps({'modules': {m: u.find_spec(m) is not None for m in modules},"
        " 'cas': ssl.create_default_context().cert_store_stats()['x509_ca']}))"
    )
    done = podman("run", "--rm", "--health-interval", "disable", "--entrypoint", "python3", image.name, "-c", probe)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["modules"] == {"psycopg": True, "jwt": True, "opentelemetry.sdk": True, "pip": False}
    assert found["cas"] > 0  # Gloo is verified against the system trust store: an empty one fails every call


def test_the_image_refuses_to_serve_without_caller_authentication(image: BuiltImage) -> None:
    done = podman("run", "--rm", "--health-interval", "disable", image.name, check=False, timeout=60)
    assert done.returncode == 2
    assert "refusing to start" in done.stderr and "GLOO_MCP_AUTH_TOKEN" in done.stderr


def test_the_healthcheck_reports_ready_once_the_server_answers_readyz(image: BuiltImage) -> None:
    with running_container(image.name, *SERVING_ENV) as container:
        with until_output(["podman", "logs", "-f", container], "Streamable HTTP on"):
            pass
        simulator = ["podman", "exec", container, "gloo-mcp", "simulator", "--port", str(SIMULATOR_PORT)]
        with until_output(simulator, "gloo-mcp simulator (NOT Gloo AI) on"):
            check = podman("healthcheck", "run", container, check=False)
            log = podman("inspect", "--format", "{{json .State.Health}}", container, check=False).stdout
    assert check.returncode == 0, f"healthcheck: {check.stdout.strip()} {log[-1000:]}"
