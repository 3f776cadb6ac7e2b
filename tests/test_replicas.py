"""Two replicas behind a real HAProxy, sharing one real PostgreSQL, signing users in with a real OAuth server.

Each case runs ``gloo-mcp serve --transport streamable-http`` twice (bench/cluster.py): replica
``a`` and ``b`` on their own ports, Debian's haproxy in front (round robin, health-checked on
readiness), one simulated Gloo that each replica reaches through a door of its own, so the
test can tell which replica asked and count every message Gloo was sent. Users are oidc-provider
clients (alice, bob, carol), each one principal. Clients are the MCP SDK's, through HAProxy,
or straight to one replica where a case must say which one answers.

Nothing sleeps to wait: the cases wait for lines (a replica listens, HAProxy sees a server
go DOWN or UP), for requests held at a door, or for process exits, each bounded.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest
from mcp import MCPError
from mcp_types import CallToolResult

from bench.cluster import LOST_SENTENCE, Deployment, HAProxyMissing, running_deployment
from gloo_mcp.simulator import SimulatorState
from tests.oidc_provider import AuthorizationServer
from tests.postgres_server import running_postgres
from tests.test_http import http_client
from tests.test_team import SCOPE

pytestmark = pytest.mark.load  # whole programs: with the end-to-end runs (pytest -m load, .ci/run)

WAIT = 60.0  # the bound on every wait in these cases; none is expected to come near it


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    try:
        with running_postgres(Path(tempfile.mkdtemp(prefix="gloo-mcp-pg-"))) as url:
            yield url
    except RuntimeError as reason:
        pytest.skip(f"no PostgreSQL server could run here: {reason}")


def _fresh_database(base: str) -> str:
    import psycopg

    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def two_replicas(postgres_url: str, issuer: str, *, latency: float = 0.0, **settings: str) -> Iterator[Deployment]:
    """Replicas a and b behind HAProxy, sharing a fresh database, signing users in with ``issuer``."""
    store = _fresh_database(postgres_url)

    def environment(public_url: str) -> dict[str, str]:
        return {
            "GLOO_STORE_URL": store,
            "GLOO_MCP_OAUTH_ISSUER": issuer,
            "GLOO_MCP_RESOURCE_URL": public_url,
            "GLOO_MCP_OAUTH_SCOPES": SCOPE,
            **settings,
        }

    try:
        with running_deployment(
            2,
            workdir=Path(tempfile.mkdtemp(prefix="gloo-mcp-replicas-")),
            settings=environment,
            state=SimulatorState(latency=latency),
        ) as deployment:
            yield deployment
    except HAProxyMissing as reason:
        pytest.skip(str(reason))


async def token(server: AuthorizationServer, user: str, deployment: Deployment) -> str:
    return await server.token(user, scopes=[SCOPE], resource=deployment.url)


def text(result: CallToolResult) -> str:
    return result.content[0].text  # type: ignore[union-attr]


def chat_id(result: CallToolResult) -> str:
    assert not result.is_error, text(result)
    value = result.structured_content["chat_id"]  # type: ignore[index]
    assert isinstance(value, str)
    return value


# --- (a) isolation ---------------------------------------------------------------------------------------------


async def test_two_users_conversations_stay_apart_whichever_replica_answers(
    authorization_server: AuthorizationServer, postgres_url: str
) -> None:
    with two_replicas(postgres_url, authorization_server.issuer) as deployment:
        alice, bob = [await token(authorization_server, user, deployment) for user in ("alice", "bob")]
        a, b = (f"{replica.url}/mcp" for replica in deployment.replicas)
        async with http_client(a, alice) as alice_on_a, http_client(b, alice) as alice_on_b:
            mine = chat_id(await alice_on_a.call_tool("send_message", {"query": "Alice asks on replica a"}))
            continued = await alice_on_b.call_tool("continue_chat", {"chat_id": mine, "query": "and on b"})
        async with http_client(deployment.url, alice) as alice_anywhere:
            for n in range(2):  # round robin: one turn on each replica
                more = await alice_anywhere.call_tool("continue_chat", {"chat_id": mine, "query": f"via HAProxy {n}"})
                assert not more.is_error, text(more)
            history = await alice_anywhere.call_tool("get_chat_history", {"chat_id": mine})
        asked_before_bob = sum(deployment.doors.asked.values())
        refusals: list[str] = []
        unknown: list[str] = []
        bobs_lists: list[list[str]] = []
        for url in (a, b, deployment.url, deployment.url):
            async with http_client(url, bob) as as_bob:
                for tool, arguments in (
                    ("get_chat_history", {"chat_id": mine}),
                    ("continue_chat", {"chat_id": mine, "query": "Bob tries Alice's chat"}),
                ):
                    refused = await as_bob.call_tool(tool, arguments)
                    assert refused.is_error and refused.structured_content is None
                    refusals.append(text(refused))
                    made_up = await as_bob.call_tool(tool, {**arguments, "chat_id": mine[:-4] + "0000"})
                    unknown.append(text(made_up).replace(mine[:-4] + "0000", mine))
                listed = await as_bob.call_tool("list_chats", {})
                bobs_lists.append([c["chat_id"] for c in listed.structured_content["chats"]])  # type: ignore[index]
        async with http_client(deployment.url, bob) as as_bob:
            his = chat_id(await as_bob.call_tool("send_message", {"query": "Bob's own question"}))
        for url in (a, b):
            async with http_client(url, alice) as as_alice:
                listed = await as_alice.call_tool("list_chats", {})
                assert [c["chat_id"] for c in listed.structured_content["chats"]] == [mine]  # type: ignore[index]
                assert (await as_alice.call_tool("get_chat_history", {"chat_id": his})).is_error
    assert not continued.is_error, text(continued)
    assert len(history.structured_content["messages"]) == 8  # type: ignore[index]
    assert refusals == unknown  # Alice's chat reads to Bob exactly like one that does not exist, on every replica
    assert bobs_lists == [[], [], [], []]
    assert deployment.doors.asked[0] >= 1 and deployment.doors.asked[1] >= 1  # both replicas answered Alice
    assert deployment.doors.state.chats[mine].turns == 4  # Bob's attempts never reached Gloo
    assert sum(deployment.doors.asked.values()) == asked_before_bob + 1  # only Bob's own question did


# --- (b) limits held together ----------------------------------------------------------------------------------


async def test_a_limit_of_calls_a_minute_holds_across_both_replicas_together(
    authorization_server: AuthorizationServer, postgres_url: str
) -> None:
    with two_replicas(
        postgres_url, authorization_server.issuer, GLOO_MCP_CALLS_PER_MINUTE="4", GLOO_MCP_CALLS_IN_FLIGHT="2"
    ) as deployment:
        alice, bob = [await token(authorization_server, user, deployment) for user in ("alice", "bob")]
        a, b = (f"{replica.url}/mcp" for replica in deployment.replicas)
        outcomes: list[CallToolResult] = []
        async with (
            http_client(a, alice) as on_a,
            http_client(b, alice) as on_b,
            http_client(deployment.url, alice) as lb,
        ):
            for n, client in enumerate((on_a, on_b, on_a, on_b, on_a, on_b, lb, lb)):
                outcomes.append(await client.call_tool("send_message", {"query": f"Alice's question {n}"}))
        async with http_client(deployment.url, bob) as as_bob:
            bobs = await as_bob.call_tool("send_message", {"query": "Bob's question"})
    assert [o.is_error for o in outcomes] == [False] * 4 + [True] * 4
    for refused in outcomes[4:]:
        assert text(refused).startswith(
            "You have made 4 calls to Gloo in the last minute, the most this server allows each user; try again"
        )
    assert not bobs.is_error  # another user's calls are counted apart
    alices = [(door, query) for door, query in deployment.doors.arrivals if query.startswith("Alice")]
    assert alices == [(n % 2, f"Alice's question {n}") for n in range(4)]  # two on each replica, then none at all


async def test_a_limit_of_calls_in_flight_holds_across_both_replicas_together(
    authorization_server: AuthorizationServer, postgres_url: str
) -> None:
    with two_replicas(postgres_url, authorization_server.issuer, GLOO_MCP_CALLS_IN_FLIGHT="2") as deployment:
        carol = await token(authorization_server, "carol", deployment)
        a, b = (f"{replica.url}/mcp" for replica in deployment.replicas)
        deployment.doors.hold(lambda _door, query: query.startswith("Carol waits"))
        answers: list[CallToolResult] = []

        async def ask(url: str, query: str) -> None:
            async with http_client(url, carol) as client:
                answers.append(await client.call_tool("send_message", {"query": query}))

        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as group:
                group.start_soon(ask, a, "Carol waits on a")
                group.start_soon(ask, b, "Carol waits on b")
                held = await anyio.to_thread.run_sync(lambda: deployment.doors.wait_held(2, timeout=WAIT))
                async with http_client(deployment.url, carol) as client:
                    third = await client.call_tool("send_message", {"query": "A third at once"})
                deployment.doors.release()
            async with http_client(deployment.url, carol) as client:
                later = await client.call_tool("send_message", {"query": "Once they are done"})
    assert sorted(h.door for h in held) == [0, 1]  # one call in flight on each replica
    assert third.is_error and text(third) == (
        "You already have 2 calls to Gloo under way, the most this server allows at once; wait for one to finish, "
        "then try again."
    )
    assert [a.is_error for a in answers] == [False, False] and not later.is_error
    assert deployment.doors.queries["A third at once"] == 0


# --- (c), (d) a steady stream of calls through a rolling restart and a crash --------------------------------------


@dataclass
class Stream:
    """Users calling send_message one call after another through HAProxy, every outcome kept.

    :meth:`paused` holds new calls back and waits for the ones under way, so a test can act
    at a moment when no stream call is in flight (and the only call a crash takes is its own).
    """

    url: str
    tokens: dict[str, str]
    outcomes: list[tuple[str, str | None]] = field(default_factory=list)
    """(query, None if answered, else the sentence it failed with), in the order they ended."""
    _running: int = 0
    _paused: bool = False
    _stopped: bool = False
    _changed: anyio.Condition = field(default_factory=anyio.Condition)

    async def run(self, user: str) -> None:
        async with http_client(self.url, self.tokens[user]) as client:
            n = 0
            while True:
                async with self._changed:
                    while self._paused and not self._stopped:
                        await self._changed.wait()
                    if self._stopped:
                        return
                    self._running += 1
                query = f"{user} streams {n}"
                try:
                    result = await client.call_tool("send_message", {"query": query})
                    self.outcomes.append((query, text(result) if result.is_error else None))
                except MCPError as error:
                    self.outcomes.append((query, error.error.message))
                finally:
                    async with self._changed:
                        self._running -= 1
                        self._changed.notify_all()
                n += 1

    def answered(self, user: str) -> int:
        return sum(1 for query, failure in self.outcomes if query.startswith(user) and failure is None)

    async def wait_answered(self, users: list[str], more: int) -> None:
        """Wait until each of ``users`` has had ``more`` further calls answered."""
        targets = {user: self.answered(user) + more for user in users}
        async with self._changed:
            while any(self.answered(user) < target for user, target in targets.items()):
                await self._changed.wait()

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        async with self._changed:
            self._paused = True
            while self._running:
                await self._changed.wait()
        try:
            yield
        finally:
            async with self._changed:
                self._paused = False
                self._changed.notify_all()

    async def stop(self) -> None:
        async with self._changed:
            self._stopped = True
            self._changed.notify_all()


def stop_and_start(deployment: Deployment, n: int, between: Callable[[], None]) -> None:
    """SIGTERM replica ``n`` as an orchestrator stops it; once it has exited and HAProxy has taken it out, run
    ``between``, start it again on its port and wait until it is back in the rotation (it asks Gloo again)."""
    replica, haproxy, doors = deployment.replicas[n], deployment.haproxy, deployment.doors
    mark = haproxy.mark()
    replica.terminate()
    replica.wait(timeout=WAIT)
    haproxy.wait_server(replica.name, "DOWN", after=mark)
    between()
    mark, asked = haproxy.mark(), doors.asked[n]
    replica.start()
    haproxy.wait_server(replica.name, "UP", after=mark)
    doors.wait_asked(n, asked, timeout=WAIT)


async def test_a_rolling_restart_during_a_steady_stream_of_calls_fails_none_of_them(
    authorization_server: AuthorizationServer, postgres_url: str
) -> None:
    users = ["alice", "bob", "carol"]
    with two_replicas(
        postgres_url, authorization_server.issuer, latency=0.2, GLOO_MCP_CALLS_PER_MINUTE="1000"
    ) as deployment:
        stream = Stream(deployment.url, {user: await token(authorization_server, user, deployment) for user in users})
        with anyio.fail_after(3 * WAIT):
            async with anyio.create_task_group() as group:
                for user in users:
                    group.start_soon(stream.run, user)
                await stream.wait_answered(users, 2)
                for n in range(len(deployment.replicas)):

                    def carried_by_the_other() -> None:
                        anyio.from_thread.run(stream.wait_answered, users, 2)

                    await anyio.to_thread.run_sync(stop_and_start, deployment, n, carried_by_the_other)
                await stream.wait_answered(users, 2)
                await stream.stop()
    failures = [(query, failure) for query, failure in stream.outcomes if failure is not None]
    assert failures == []
    assert [replica.exits for replica in deployment.replicas] == [[0], [0]]  # each drained and exited cleanly
    assert len(stream.outcomes) >= 3 * 8
    assert set(deployment.doors.queries.values()) == {1}  # no call reached Gloo twice


async def test_a_replica_killed_mid_call_fails_that_call_in_one_sentence_and_no_other(
    authorization_server: AuthorizationServer, postgres_url: str
) -> None:
    users = ["alice", "bob"]
    with two_replicas(
        postgres_url, authorization_server.issuer, latency=0.05, GLOO_MCP_CALLS_PER_MINUTE="1000"
    ) as deployment:
        stream = Stream(deployment.url, {user: await token(authorization_server, user, deployment) for user in users})
        carol = await token(authorization_server, "carol", deployment)
        doomed = "Carol's question, in flight when its replica dies"
        deployment.doors.hold(lambda _door, query: query == doomed)
        failure: MCPError | None = None

        async def ask_doomed() -> None:
            nonlocal failure
            with pytest.raises(MCPError) as raised:
                await client.call_tool("send_message", {"query": doomed})
            failure = raised.value

        with anyio.fail_after(3 * WAIT):
            async with http_client(deployment.url, carol) as client, anyio.create_task_group() as group:
                for user in users:
                    group.start_soon(stream.run, user)
                await stream.wait_answered(users, 2)
                group.start_soon(ask_doomed)
                (held,) = await anyio.to_thread.run_sync(lambda: deployment.doors.wait_held(1, timeout=WAIT))
                victim = deployment.replicas[held.door]
                async with stream.paused():  # the doomed call is the only one in flight on the victim
                    victim.kill()
                    await anyio.to_thread.run_sync(lambda: victim.wait(timeout=WAIT))
                await stream.wait_answered(users, 5)  # the stream goes on, on the other replica
                await stream.stop()
            async with http_client(deployment.url, carol) as client:
                after = await client.call_tool("send_message", {"query": "Carol asks again"})
    assert failure is not None and failure.error.message == LOST_SENTENCE
    assert [(query, why) for query, why in stream.outcomes if why is not None] == []
    assert victim.exits == [-9]
    assert deployment.doors.queries[doomed] == 1  # HAProxy did not send it to the other replica
    assert set(deployment.doors.queries.values()) == {1}  # and no call reached Gloo twice
    assert not after.is_error  # Carol's place held by the dead replica waits for its lease; she has others


# --- the benchmark's smoke run -------------------------------------------------------------------------------------


def test_the_replica_benchmark_measures_one_and_two_replicas_without_an_error(postgres_url: str) -> None:
    from bench.replicas import ReplicaSizes, measure_replicas, measure_shared_admission

    sizes = ReplicaSizes("smoke", calls=24, concurrency=6, rounds=1, latency_s=0.05, warmup=6)
    run = measure_replicas(sizes, store=_fresh_database(postgres_url))
    admission = anyio.run(measure_shared_admission, _fresh_database(postgres_url), 50)
    assert [b.replicas for b in run.batches] == [1, 2]
    assert [b.errors for b in run.batches] == [0, 0] and all(b.calls == 24 for b in run.batches)
    assert "replica b" in run.batches[1].cpu_s and run.ratio > 0
    assert admission.one_principal_ms > 0 and admission.many_principals_ms > 0
