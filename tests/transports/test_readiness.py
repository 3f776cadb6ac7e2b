"""Readiness (``/readyz``) on a real socket: each check, its secret-free sentence, recovery, caching, drain."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from pydantic import SecretStr

from gloo_mcp.access.oauth import JwtTokenVerifier
from gloo_mcp.config import Settings
from gloo_mcp.errors import UpstreamUnavailableError
from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from gloo_mcp.transports.drain import Drain
from gloo_mcp.transports.http_app import HttpOptions, build_http_app
from gloo_mcp.transports.readiness import CACHE_TTL, GLOO_WINDOW, Readiness
from gloo_mcp.transports.serving import running_in_thread
from tests.access.test_oauth_claims import ISSUER, LocalIssuer
from tests.conftest import SIM_BASE_URL, free_port, sim_settings, sim_transport
from tests.oidc_provider import RESOURCE
from tests.postgres_server import PostgresServer, running_postgres_server

PASSWORD = "pg-s3cret-pass"
CHECKS = ["config", "store", "issuer", "gloo"]


class CountingTransport(httpx2.AsyncBaseTransport):
    """The simulator's transport, counting the requests to Gloo's origin (``GET /``, what readiness sends)."""

    def __init__(self, sim: SimulatorState) -> None:
        self._inner = sim_transport(sim)
        self.origin_requests = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/":
            self.origin_requests += 1
        return await self._inner.handle_async_request(request)


class Unreachable(httpx2.AsyncBaseTransport):
    """A network on which nothing answers."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)


@contextmanager
def replica(
    sim: SimulatorState,
    *,
    settings: Settings | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    oauth: JwtTokenVerifier | None = None,
    drain: Drain | None = None,
    readiness_ttl: float = CACHE_TTL,
) -> Iterator[str]:
    """gloo-mcp's HTTP app under uvicorn on loopback; yields its base URL."""
    settings = settings if settings is not None else sim_settings(sim)
    server = build_server(settings, transport=transport or sim_transport(sim), oauth=oauth)
    app = build_http_app(server, settings, HttpOptions(), oauth=oauth, drain=drain, readiness_ttl=readiness_ttl)
    with running_in_thread(app) as base:
        yield base


def local_issuer_verifier() -> JwtTokenVerifier:
    return JwtTokenVerifier(
        issuer=ISSUER, resource=RESOURCE, http=httpx2.AsyncClient(transport=LocalIssuer().transport())
    )


def issuer_that_is_down() -> JwtTokenVerifier:
    return JwtTokenVerifier(issuer=ISSUER, resource=RESOURCE, http=httpx2.AsyncClient(transport=Unreachable()))


async def readyz(base: str) -> httpx2.Response:
    async with httpx2.AsyncClient(timeout=10) as http:
        return await http.get(f"{base}/readyz")


def failing(body: dict[str, Any]) -> dict[str, str]:
    return {name: check["reason"] for name, check in body["checks"].items() if not check["ok"]}


async def test_a_healthy_replica_is_ready_and_reports_each_check(sim: SimulatorState) -> None:
    with replica(sim, oauth=local_issuer_verifier()) as base:
        response = await readyz(base)
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready" and body["version"]
    assert list(body["checks"]) == CHECKS
    assert all(check == {"ok": True, "reason": None} for check in body["checks"].values())
    assert response.headers["cache-control"] == "no-store"


async def test_a_replica_whose_store_and_issuer_are_down_is_not_ready_naming_both_without_secrets(
    sim: SimulatorState, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens there: the database is down, or the password could not be tried
    store_url = f"postgresql://gloo:{PASSWORD}@127.0.0.1:{port}/postgres"
    settings = sim_settings(sim, store_url=SecretStr(store_url))
    with replica(sim, settings=settings, oauth=issuer_that_is_down()) as base:
        response = await readyz(base)
        async with httpx2.AsyncClient() as http:
            health = await http.get(f"{base}/health")
    body = response.json()
    assert response.status_code == 503 and body["status"] == "not_ready"
    reasons = failing(body)
    assert list(reasons) == ["store", "issuer"]
    assert reasons["store"].startswith("The conversation store cannot be opened or does not answer;")
    assert reasons["issuer"].startswith(f"The OAuth issuer {ISSUER} has given no usable signing keys")
    assert all(reason.count(". ") == 0 and reason.endswith(".") for reason in reasons.values())  # one sentence each
    assert PASSWORD not in response.text and str(port) not in response.text  # neither secret nor location
    assert PASSWORD not in caplog.text  # the log says where, never with the password
    assert f"127.0.0.1:{port}" in caplog.text
    assert health.status_code == 200  # liveness: the process serves, so nothing should restart it


async def test_a_replica_that_cannot_reach_gloo_is_not_ready(sim: SimulatorState) -> None:
    with replica(sim, transport=Unreachable()) as base:
        response = await readyz(base)
    assert response.status_code == 503
    assert failing(response.json()) == {
        "gloo": f"Gloo at {SIM_BASE_URL} has not answered since the server started; check GLOO_BASE_URL, the "
        "network and any proxy in the way."
    }


async def test_a_replica_without_credentials_is_not_ready_and_says_so(sim: SimulatorState) -> None:
    with replica(sim, settings=Settings(base_url=SIM_BASE_URL)) as base:
        response = await readyz(base)
    assert response.status_code == 503
    assert failing(response.json()) == {"config": "No Gloo credentials are configured."}


async def test_a_replica_turns_ready_by_itself_once_its_store_opens(sim: SimulatorState, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the store's directory should be")
    settings = sim_settings(sim, store_url=SecretStr(f"sqlite:///{blocker / 'chats.db'}"))
    with replica(sim, settings=settings, readiness_ttl=0) as base:
        before = await readyz(base)
        blocker.unlink()
        after = await ready_again(base)
    assert before.status_code == 503 and list(failing(before.json())) == ["store"]
    assert "blocker" not in before.text
    assert after.json()["status"] == "ready"


async def ready_again(base: str) -> httpx2.Response:
    """/readyz, asked again until it answers 200 (bounded: a failed store is retried within about 2 s)."""
    with anyio.fail_after(20):
        while True:
            response = await readyz(base)
            if response.status_code == 200:
                return response
            await anyio.sleep(0.1)


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    try:
        with running_postgres_server(Path(tempfile.mkdtemp(prefix="gloo-mcp-pg-"))) as server:
            yield server
    except RuntimeError as reason:
        pytest.skip(f"no PostgreSQL server could run here: {reason}")


@pytest.mark.load  # a PostgreSQL server stopped and started: with the end-to-end runs
async def test_a_replica_is_not_ready_while_postgresql_is_down_and_ready_again_once_it_is_back(
    sim: SimulatorState, postgres: PostgresServer
) -> None:
    settings = sim_settings(sim, store_url=SecretStr(postgres.url))
    with replica(sim, settings=settings, readiness_ttl=0) as base:
        up = await readyz(base)
        postgres.stop()
        down = await readyz(base)
        postgres.start()
        back = await ready_again(base)
    assert up.status_code == 200, up.json()
    assert down.status_code == 503 and list(failing(down.json())) == ["store"]
    assert back.json()["status"] == "ready"


@pytest.mark.load  # a PostgreSQL server: with the end-to-end runs
async def test_a_replica_whose_postgresql_login_is_refused_is_not_ready_and_the_password_stays_secret(
    sim: SimulatorState, postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    refused = postgres.url.replace("postgresql://gloo@", f"postgresql://nobody-here:{PASSWORD}@")
    with replica(sim, settings=sim_settings(sim, store_url=SecretStr(refused))) as base:
        response = await readyz(base)
    assert response.status_code == 503 and list(failing(response.json())) == ["store"]
    assert "nobody-here" in caplog.text  # the log says what the server refused
    assert PASSWORD not in caplog.text and PASSWORD not in response.text


async def test_a_storm_of_probes_costs_one_look_at_gloo_and_never_a_chat_or_a_token(sim: SimulatorState) -> None:
    counting = CountingTransport(sim)
    with replica(sim, transport=counting) as base:
        async with httpx2.AsyncClient(timeout=10) as http:
            statuses: list[int] = []

            async def probe() -> None:
                statuses.append((await http.get(f"{base}/readyz")).status_code)

            async with anyio.create_task_group() as storm:
                for _ in range(40):
                    storm.start_soon(probe)
            for _ in range(10):
                await probe()
    assert statuses == [200] * 50
    assert counting.origin_requests == 1  # one evaluation, shared by the storm and cached for the rest
    assert sim.requests.total() == 0  # no token fetched, no message sent, nothing read


async def test_a_draining_replica_is_not_ready_at_once(sim: SimulatorState) -> None:
    drain = Drain()
    with replica(sim, drain=drain) as base:
        before = await readyz(base)
        drain.begin()
        during = await readyz(base)
    assert before.status_code == 200
    assert during.status_code == 503 and during.json()["status"] == "draining"
    assert "shutting down" in during.json()["reason"]


class FakeServing:
    """The server's state as readiness sees it: a store that answers, and a Gloo that answers when told to."""

    def __init__(self) -> None:
        self.gloo_answers = True

    async def store(self) -> FakeServing:
        return self

    async def ping(self) -> None:
        return None

    def ready_client(self) -> FakeServing:
        return self

    async def reach(self) -> str:
        if not self.gloo_answers:
            raise UpstreamUnavailableError("Could not reach Gloo.")
        return "answered"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_gloo_counts_as_reachable_for_a_minute_after_it_last_answered(sim: SimulatorState) -> None:
    serving, clock = FakeServing(), FakeClock()
    readiness = Readiness(sim_settings(sim), state=lambda: serving, drain=Drain(), cache_ttl=0, clock=clock)
    first, _ = await readiness.report()
    serving.gloo_answers = False
    clock.now += GLOO_WINDOW - 1
    within, _ = await readiness.report()
    clock.now += 2
    beyond, body = await readiness.report()
    assert (first, within, beyond) == (200, 200, 503)
    assert failing(body)["gloo"].startswith(f"Gloo at {SIM_BASE_URL} has not answered for over 60 s;")
