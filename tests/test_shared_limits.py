"""Shared fair use: the limits hold across replicas counting in one real PostgreSQL, and fail closed without it.

Each "replica" is a :class:`SharedFairUse` with a connection of its own, as two processes
would have. Most cases decide on a fake clock passed to the database (seconds since the
epoch), so a minute of traffic takes no time; the database's own clock is used where
nothing waits on it. Two replica processes behind a real HAProxy: tests/test_replicas.py.
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import Client
from pydantic import SecretStr

from gloo_mcp.access.fair_use import Admission, FairUse
from gloo_mcp.access.shared_limits import LEASE_GRACE_SECONDS, LIMITS_UNAVAILABLE, SharedFairUse, fair_use_for
from gloo_mcp.config import load_settings
from gloo_mcp.errors import ConfigurationError, RateLimitedError, StoreError
from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from tests.conftest import free_port, sim_settings, sim_transport
from tests.postgres_server import PostgresServer, running_postgres_server
from tests.test_fail_closed import BASE_ENV, TOKEN

T0 = 1_800_000_000.0  # seconds since the epoch, on a whole second
LEASE = 60.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    try:
        with running_postgres_server(Path(tempfile.mkdtemp(prefix="gloo-mcp-pg-"))) as server:
            yield server
    except RuntimeError as reason:
        pytest.skip(f"no PostgreSQL server could run here: {reason}")


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    """A database of its own for each test, so tests share the server but not the tables."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"


@asynccontextmanager
async def replicas(
    url: str, count: int = 2, *, per_minute: int = 0, in_flight: int = 0, clock: FakeClock | None = None
) -> AsyncIterator[list[SharedFairUse]]:
    limiters = [
        SharedFairUse(url, per_minute=per_minute, in_flight=in_flight, lease=LEASE, holder=f"replica-{n}", clock=clock)
        for n in range(count)
    ]
    try:
        yield limiters
    finally:
        for limiter in limiters:
            await limiter.aclose()


async def call(limits: Admission, principal: str) -> None:
    async with limits.admit(principal):
        pass


async def refusal(limits: Admission, principal: str) -> RateLimitedError:
    with pytest.raises(RateLimitedError) as refused:
        await call(limits, principal)
    return refused.value


def rows(url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(url) as db:
        row = db.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


async def test_two_replicas_allow_a_principal_its_calls_a_minute_once_between_them(database: str) -> None:
    clock = FakeClock()
    async with replicas(database, per_minute=3, clock=clock) as (a, b):
        await call(a, "alice")
        clock.now = T0 + 20
        await call(b, "alice")
        await call(a, "alice")
        clock.now = T0 + 45.5
        refused = [await refusal(b, "alice"), await refusal(a, "alice")]
        await call(b, "bob")  # another principal's calls are counted apart
        clock.now = T0 + 61  # the first call has left the window (counted in whole seconds: 60 to 61 s)
        await call(b, "alice")
        again = await refusal(a, "alice")
    sentence = (  # FairUse's, word for word; the wait is up to a second longer (whole seconds, never over the limit)
        "You have made 3 calls to Gloo in the last minute, the most this server allows each user; try again in "
        "about 16 s."
    )
    assert [r.message for r in refused] == [sentence] * 2
    assert (refused[0].status, refused[0].retry_after) == (None, 16)
    assert again.retry_after == 20  # the second call, at T0 + 20, leaves at T0 + 81


async def test_calls_racing_on_two_replicas_are_admitted_exactly_up_to_the_limit(database: str) -> None:
    admitted: list[str] = []
    async with replicas(database, per_minute=10) as (a, b):  # the database's clock: the burst takes well under 60 s
        await call(a, "warm-up")  # both connected and the schema in place: the race is between admissions
        await call(b, "warm-up")

        async def one(limits: SharedFairUse) -> None:
            try:
                await call(limits, "alice")
            except RateLimitedError:
                return
            admitted.append(limits.holder)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for n in range(40):
                    group.start_soon(one, a if n % 2 else b)
    assert len(admitted) == 10  # 20 tried on each replica; whichever won, the other's were counted against them


async def test_calls_in_flight_are_capped_across_replicas_and_each_finished_call_gives_its_place_back(
    database: str,
) -> None:
    clock = FakeClock()
    async with replicas(database, in_flight=2, clock=clock) as (a, b):
        async with a.admit("alice"), b.admit("alice"):
            refused = [await refusal(a, "alice"), await refusal(b, "alice")]
            await call(b, "bob")
            assert rows(database, "gloo_mcp_calls_in_flight") == 2
        await call(a, "alice")
        async with b.admit("alice"):
            await call(a, "alice")  # one in flight, one more allowed
    local = FairUse(per_minute=0, in_flight=2)
    async with local.admit("alice"), local.admit("alice"):
        expected = await refusal(local, "alice")
    assert [r.message for r in refused] == [expected.message] * 2
    assert (refused[0].status, refused[0].retry_after) == (None, None)
    assert rows(database, "gloo_mcp_calls_in_flight") == 0


async def test_the_places_of_a_replica_killed_mid_call_come_back_when_their_leases_end(database: str) -> None:
    clock = FakeClock()
    async with replicas(database, in_flight=1, clock=clock) as (doomed, survivor):
        calls_under_way = AsyncExitStack()
        await calls_under_way.enter_async_context(doomed.admit("alice"))
        await doomed.aclose()  # its process is gone: the place is never given back
        clock.now = T0 + LEASE - 1
        still_held = await refusal(survivor, "alice")
        clock.now = T0 + LEASE
        await call(survivor, "alice")
    assert "1 calls to Gloo under way" in still_held.message


async def test_a_cancelled_call_gives_its_place_back(database: str) -> None:
    async with replicas(database, 1, in_flight=1) as (limits,):
        with anyio.move_on_after(0):  # cancelled as it starts
            async with limits.admit("alice"):
                await anyio.sleep_forever()
        with anyio.CancelScope() as scope:
            async with limits.admit("alice"):
                scope.cancel()  # cancelled while it holds its place
                await anyio.sleep_forever()
        await call(limits, "alice")
    assert rows(database, "gloo_mcp_calls_in_flight") == 0


async def test_the_tables_hold_about_a_minute_of_traffic_without_a_sweep(database: str) -> None:
    clock = FakeClock()
    most = 0
    async with replicas(database, per_minute=5, in_flight=2, clock=clock) as (a, b):
        for n in range(1_500):  # a new caller every 0.2 s, for 300 s of the fake clock
            clock.now = T0 + n * 0.2
            await call(a if n % 2 else b, f"user-{n}")
            if n % 100 == 99:
                most = max(most, rows(database, "gloo_mcp_call_counts"))
        clock.now += 120  # two quiet minutes: every row left is a minute old
        for n in range(40):  # each admission, admitted or refused, takes up to 8 of anyone's leftovers
            await (call(a, "late") if n < 5 else refusal(a, "late"))
    assert most <= 306 + 8  # the callers of the last 61 s, and at most a batch of leftovers
    assert rows(database, "gloo_mcp_call_counts") == 1  # the late caller's second
    assert rows(database, "gloo_mcp_calls_in_flight") == 0


async def test_while_postgresql_is_down_every_call_is_refused_in_one_sentence_and_admitted_once_it_is_back(
    postgres: PostgresServer, database: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gloo_mcp.access import shared_limits

    monkeypatch.setattr(shared_limits, "RECONNECT_FIRST", 0.0)  # no back-off: the test decides when to try
    monkeypatch.setattr(shared_limits, "RECONNECT_MOST", 0.0)
    async with replicas(database, 1, per_minute=100, in_flight=4) as (limits,):
        await call(limits, "alice")
        with caplog.at_level(logging.WARNING, logger="gloo_mcp.access.shared_limits"):
            postgres.stop()
            try:
                with anyio.fail_after(30):
                    failures = []
                    for _ in range(3):
                        with pytest.raises(StoreError) as refused:
                            await call(limits, "alice")
                        failures.append(refused.value.message)
            finally:
                postgres.start()
            with anyio.fail_after(30):
                await call(limits, "alice")
    assert failures == [LIMITS_UNAVAILABLE] * 3
    said = [r.getMessage() for r in caplog.records if r.name == "gloo_mcp.access.shared_limits"]
    assert len(said) == 2, said  # once when it went away, once when it came back
    assert "did not answer" in said[0] and "answers again" in said[1]
    assert "gloo@" not in " ".join(said)  # the URL's user information stays out of the log


async def test_an_unreachable_database_refuses_without_naming_it_to_the_caller() -> None:
    limits = SharedFairUse(
        f"postgresql://gloo:hunter2secret@127.0.0.1:{free_port()}/db", per_minute=1, in_flight=1, lease=LEASE
    )
    with pytest.raises(StoreError) as refused:
        await call(limits, "alice")
    assert refused.value.message == LIMITS_UNAVAILABLE
    assert "hunter2secret" not in repr(limits)


async def test_a_tool_call_over_the_shared_limit_is_a_tool_error_and_never_reaches_gloo(database: str) -> None:
    sim = SimulatorState()
    settings = sim_settings(sim, store_url=SecretStr(database))
    async with replicas(database, per_minute=2) as (a, b):
        outcomes = []
        for limits in (a, b, a):
            server = build_server(settings, transport=sim_transport(sim), fair_use=limits)
            async with Client(server) as client:  # type: ignore[arg-type]
                outcomes.append(await client.call_tool("send_message", {"query": "What is rest?"}))
    assert [o.is_error for o in outcomes] == [False, False, True]
    assert "You have made 2 calls to Gloo in the last minute" in outcomes[2].content[0].text  # type: ignore[union-attr]
    assert outcomes[2].structured_content is None
    assert sim.requests["message"] == 2


async def test_while_the_shared_limits_cannot_be_checked_a_tool_call_never_reaches_gloo() -> None:
    sim = SimulatorState()
    unreachable = f"postgresql://gloo@127.0.0.1:{free_port()}/db"
    limits = SharedFairUse(unreachable, per_minute=60, in_flight=4, lease=LEASE)
    server = build_server(sim_settings(sim), transport=sim_transport(sim), fair_use=limits)
    async with Client(server) as client:  # type: ignore[arg-type]
        result = await client.call_tool("send_message", {"query": "What is rest?"})
    assert result.is_error and result.content[0].text == LIMITS_UNAVAILABLE  # type: ignore[union-attr]
    assert sim.requests["message"] == 0


@pytest.mark.parametrize(
    ("environment", "shared", "said"),
    [
        ({"GLOO_STORE_URL": "postgresql://gloo:pw@db.example:5432/team"}, True, "counted together by every replica"),
        (
            {"GLOO_STORE_URL": "postgresql://gloo:pw@db.example:5432/team", "GLOO_MCP_SHARED_LIMITS": "OFF"},
            False,
            "this replica alone (GLOO_MCP_SHARED_LIMITS=off)",
        ),
        ({"GLOO_STORE_URL": "sqlite:////tmp/x/chats.db"}, False, "this process alone: the store is SQLite"),
        ({"GLOO_MCP_CALLS_PER_MINUTE": "0", "GLOO_MCP_CALLS_IN_FLIGHT": "0"}, False, "no fair-use limits"),
    ],
)
def test_the_limiter_is_shared_exactly_when_the_store_is_postgresql_unless_turned_off(
    environment: dict[str, str], shared: bool, said: str
) -> None:
    limits, line = fair_use_for(load_settings(environment, env_file=Path("/nonexistent/.env")))
    assert isinstance(limits, SharedFairUse) is shared
    assert said in line
    assert ":pw@" not in line
    if isinstance(limits, SharedFairUse):
        assert line.endswith("using postgresql://db.example:5432/team")
        assert limits.lease == 50 + LEASE_GRACE_SECONDS == 60  # GLOO_TIMEOUT's default, and the grace


def test_an_unknown_shared_limits_setting_names_the_variable() -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_settings({"GLOO_MCP_SHARED_LIMITS": "sometimes"}, env_file=Path("/nonexistent/.env"))
    assert "GLOO_MCP_SHARED_LIMITS" in refused.value.message and "'auto' or 'off'" in refused.value.message


def announced(env: dict[str, str]) -> list[str]:
    """What ``gloo-mcp serve --transport streamable-http`` says on stderr up to its fair-use line, once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gloo_mcp", "serve", "--transport", "streamable-http", "--port", str(free_port())],
        env=BASE_ENV | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    said = b""
    deadline = time.monotonic() + 60
    try:
        while b"\n" not in said.partition(b"gloo-mcp: fair-use limits")[2]:
            remaining = deadline - time.monotonic()
            assert remaining > 0 and process.poll() is None, said.decode(errors="replace")
            if select.select([process.stderr], [], [], remaining)[0]:
                said += os.read(process.stderr.fileno(), 65536)
    finally:
        process.terminate()
        process.communicate(timeout=30)
    return said.decode().splitlines()


def test_a_server_on_postgresql_says_at_start_up_that_every_replica_counts_the_limits_together(
    database: str, tmp_path: Path
) -> None:
    lines = announced(
        {"GLOO_MCP_AUTH_TOKEN": TOKEN, "GLOO_API_KEY": "k", "XDG_DATA_HOME": str(tmp_path), "GLOO_STORE_URL": database}
    )
    (line,) = [line for line in lines if line.startswith("gloo-mcp: fair-use limits")]
    where = database.replace("gloo@", "")
    assert line == (
        f"gloo-mcp: fair-use limits (4 calls in flight, 60 calls a minute, each user) are counted together by every "
        f"replica using {where}"
    )
    assert "Streamable HTTP on" in lines[lines.index(line) - 1]  # said once it listens, after the address


@pytest.mark.load  # one more server process: with the end-to-end runs (pytest -m load, .ci/run)
def test_a_server_told_not_to_share_says_at_start_up_that_each_replica_counts_alone(
    database: str, tmp_path: Path
) -> None:
    env = {"GLOO_API_KEY": "k", "XDG_DATA_HOME": str(tmp_path), "GLOO_STORE_URL": database}
    lines = announced(env | {"GLOO_MCP_SHARED_LIMITS": "off"})
    assert any("counted by this replica alone (GLOO_MCP_SHARED_LIMITS=off)" in line for line in lines)
