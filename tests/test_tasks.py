"""Long answers as Tasks (SEP-2663) over the HTTP app, by raw 2026-07-28 JSON-RPC (tests/tasks_rpc.py).

In process (ASGITransport) against the simulator, with Gloo "thinking" for a second at most.
The official TypeScript Tasks client's run is tests/test_tasks_client.py.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import httpx2
import pytest
from mcp_types import CallToolRequestParams, CallToolResult, ClientCapabilities, TextContent
from pydantic import SecretStr

from gloo_mcp.access.fair_use import FairUse
from gloo_mcp.chats.task_context import gloo_answered
from gloo_mcp.chats.task_store import PURGE_BATCH, TaskRecord, open_task_store
from gloo_mcp.config import Settings
from gloo_mcp.models import ChatReply
from gloo_mcp.server import build_server
from gloo_mcp.server.render import reply_markdown
from gloo_mcp.server.state import AppState
from gloo_mcp.server.tasks import CANCELLED, LOST, NOT_FOUND, STOPPED, TaskIdParams, Tasks, TaskTimings
from gloo_mcp.simulator import SimulatorState, running_simulator
from gloo_mcp.simulator.state import Fault
from tests.chats.test_store import _fresh_database, postgres_url
from tests.conftest import sim_settings, sim_transport
from tests.oidc_provider import AuthorizationServer
from tests.tasks_rpc import TASKS, RawMcp, in_process_app
from tests.test_team import SCOPE, team_server

__all__ = ["postgres_url"]  # the session's PostgreSQL server (tests/test_store.py)

TASK_KEYS = {"taskId", "status", "createdAt", "lastUpdatedAt", "ttlMs", "pollIntervalMs"}


class Clock:
    """Seconds since the epoch that a test moves forward."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def serving(sim: SimulatorState, settings: Settings | None = None, **options: Any) -> AsyncIterator[RawMcp]:
    settings = settings if settings is not None else sim_settings(sim)
    server = build_server(settings, transport=sim_transport(sim), **options)
    async with in_process_app(server, settings) as rpc:
        yield rpc


def shared_store(tmp_path: Path) -> SecretStr:
    return SecretStr(f"sqlite:///{tmp_path / 'shared' / 'chats.db'}")


def without_meta(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key not in ("_meta", "resultType")}


# --- negotiation and the methods' gates (the conformance suite's generic checks) -------------------


async def test_server_discover_advertises_the_tasks_extension_with_empty_settings(sim: SimulatorState) -> None:
    """Conformance: tasks-extension-advertised (and ext-tasks accepts only exactly {})."""
    async with serving(sim) as rpc:
        capabilities = (await rpc.result("server/discover"))["capabilities"]
    assert capabilities["extensions"][TASKS] == {}
    assert "tasks" not in capabilities


@pytest.mark.parametrize("method", ["tasks/get", "tasks/update", "tasks/cancel"])
async def test_a_task_method_without_the_extension_declared_is_missing_a_required_capability(
    sim: SimulatorState, method: str
) -> None:
    """Conformance: sep-2663-tasks-methods-non-declaring."""
    async with serving(sim) as rpc:
        error = await rpc.error(method, {"taskId": "gate-test", "inputResponses": {}}, declare=False)
    assert error["code"] == -32021
    assert error["data"] == {"requiredCapabilities": {"extensions": {TASKS: {}}}}


@pytest.mark.parametrize("method", ["tasks/get", "tasks/update", "tasks/cancel"])
async def test_an_unknown_task_id_is_invalid_params(sim: SimulatorState, method: str) -> None:
    """Conformance: sep-2663-tasks-get-invalid-task-id-32602 (and the same for update and cancel)."""
    async with serving(sim) as rpc:
        error = await rpc.error(method, {"taskId": "nonexistent-12345", "inputResponses": {}})
    assert error == {"code": -32602, "message": NOT_FOUND}


@pytest.mark.parametrize("method", ["tasks/result", "tasks/list"])
async def test_the_removed_task_methods_are_not_found(sim: SimulatorState, method: str) -> None:
    async with serving(sim) as rpc:
        error = await rpc.error(method, {"taskId": "x"})
    assert error["code"] == -32601


async def test_a_task_method_whose_mcp_name_header_is_not_the_task_id_is_refused(sim: SimulatorState) -> None:
    async with serving(sim) as rpc:
        task = await rpc.call("send_message", {"query": "hi"})
        wrong = await rpc.error("tasks/get", {"taskId": task["taskId"]}, headers={"Mcp-Name": "someone-else"})
        await rpc.settle(task["taskId"])
    assert wrong["code"] == -32020


async def test_the_task_methods_do_not_exist_before_2026_07_28(sim: SimulatorState) -> None:
    async with serving(sim) as rpc:
        error = await rpc.error("tasks/get", {"taskId": "x"}, protocol="2025-11-25")
    assert error["code"] == -32601


# --- who gets a task ----------------------------------------------------------------------------


async def test_a_client_that_does_not_opt_in_gets_the_synchronous_result(sim: SimulatorState) -> None:
    async with serving(sim) as rpc:
        modern = await rpc.call("send_message", {"query": "hi"}, declare=False)
        legacy = await rpc.call("send_message", {"query": "hi"}, protocol="2025-11-25")  # no envelope: never a task
    for result in (modern, legacy):
        assert "taskId" not in result and result.get("resultType", "complete") == "complete"
        assert result["structuredContent"]["answer"] and not result.get("isError")


async def test_the_legacy_task_param_is_ignored_without_the_extension(sim: SimulatorState) -> None:
    async with serving(sim) as rpc:
        params = {"name": "send_message", "arguments": {"query": "hi"}, "task": {"ttl": 60000, "pollInterval": 500}}
        result = await rpc.result("tools/call", params, declare=False)
    assert "taskId" not in result and result["structuredContent"]["chat_id"]


async def test_tools_that_do_not_wait_for_gloo_never_become_tasks(sim: SimulatorState) -> None:
    async with serving(sim) as rpc:
        listed = await rpc.call("list_chats", {})
    assert "taskId" not in listed and not listed.get("isError")


# --- the lifecycle -------------------------------------------------------------------------------


async def test_send_message_as_a_task_ends_with_the_synchronous_calls_result(sim: SimulatorState) -> None:
    sim.inject("message", Fault(delay=0.3))
    async with serving(sim) as rpc:
        created = await rpc.call("send_message", {"query": "What is rest?"})
        first = await rpc.get(created["taskId"])  # at once: the task was stored before its id was sent
        done = await rpc.settle(created["taskId"])
        sync = await rpc.call("send_message", {"query": "What is rest?"}, declare=False)
    assert created["resultType"] == "task" and created["status"] == "working"
    assert created.keys() >= TASK_KEYS and not {"task", "ttl", "pollInterval", "requestState"} & created.keys()
    assert created["ttlMs"] == 3_600_000 and created["pollIntervalMs"] == 1000
    assert created["createdAt"].endswith("Z") and created["lastUpdatedAt"] >= created["createdAt"]
    assert first["resultType"] == "complete" and first["taskId"] == created["taskId"]
    assert done["status"] == "completed" and done["lastUpdatedAt"] > created["createdAt"]
    result = done["result"]
    assert result.keys() == sync.keys() - {"_meta"} and result["resultType"] == "complete"
    reply = ChatReply.model_validate(result["structuredContent"])
    assert result["content"] == [{"type": "text", "text": reply_markdown(reply)}]  # both channels, as a sync call


async def test_continue_chat_as_a_task_adds_one_turn(sim: SimulatorState) -> None:
    async with serving(sim) as rpc:
        chat_id = (await rpc.call("send_message", {"query": "hi"}, declare=False))["structuredContent"]["chat_id"]
        created = await rpc.call("continue_chat", {"chat_id": chat_id, "query": "more"})
        done = await rpc.settle(created["taskId"])
    assert done["result"]["structuredContent"]["chat_id"] == chat_id
    assert sim.chats[chat_id].turns == 2


async def test_a_tool_error_completes_the_task_with_the_error_result(sim: SimulatorState) -> None:
    sim.inject("message", Fault(status=400))
    async with serving(sim) as rpc:
        created = await rpc.call("send_message", {"query": "bad"})
        done = await rpc.settle(created["taskId"])
    assert done["status"] == "completed"  # a tool error is a result (isError), not a failed task
    assert done["result"]["isError"] is True and "structuredContent" not in done["result"]


async def test_the_answer_streamed_so_far_is_the_status_message_while_it_works() -> None:
    sim = SimulatorState(chunk_delay=0.05)
    with running_simulator(sim) as url:
        settings = sim_settings(sim, base_url=url, backend="completions", enable_suggestions=False)
        server = build_server(settings)
        async with in_process_app(server, settings) as rpc:
            created = await rpc.call("send_message", {"query": "A long streamed answer"})
            seen = await rpc.wait_for(created["taskId"], lambda t: len(t.get("statusMessage", "")) > 40)
            done = await rpc.settle(created["taskId"])
    answer = done["result"]["structuredContent"]["answer"]
    assert seen["status"] == "working" and answer.startswith(seen["statusMessage"])
    assert seen["lastUpdatedAt"] > created["lastUpdatedAt"]


async def test_tasks_update_is_an_empty_acknowledgement(sim: SimulatorState) -> None:
    async with serving(sim) as rpc:
        created = await rpc.call("send_message", {"query": "hi"})
        ack = await rpc.result("tasks/update", {"taskId": created["taskId"], "inputResponses": {"x": {}}})
        await rpc.settle(created["taskId"])
    assert without_meta(ack) == {} and ack["resultType"] == "complete"


# --- cancel ---------------------------------------------------------------------------------------


async def test_cancel_aborts_the_upstream_request_and_records_no_turn(sim: SimulatorState) -> None:
    async with serving(sim) as rpc:
        chat_id = (await rpc.call("send_message", {"query": "hi"}, declare=False))["structuredContent"]["chat_id"]
        sim.inject("message", Fault(delay=30))
        created = await rpc.call("continue_chat", {"chat_id": chat_id, "query": "slow"})
        ack = await rpc.result("tasks/cancel", {"taskId": created["taskId"]})
        after = await rpc.get(created["taskId"])
        again = await rpc.result("tasks/cancel", {"taskId": created["taskId"]})  # idempotent
        history = await rpc.call("get_chat_history", {"chat_id": chat_id}, declare=False)
    assert without_meta(ack) == {} and ack["resultType"] == "complete" and without_meta(again) == {}
    assert after["status"] == "cancelled" and after["statusMessage"] == CANCELLED
    assert "result" not in after and "error" not in after
    assert sim.aborted["message"] == 1 and sim.requests["message"] == 2  # stopped upstream, never sent again
    assert sim.chats[chat_id].turns == 1 and len(history["structuredContent"]["messages"]) == 2


async def test_cancelling_a_finished_task_leaves_its_answer(sim: SimulatorState) -> None:
    async with serving(sim) as rpc:
        created = await rpc.call("send_message", {"query": "hi"})
        await rpc.settle(created["taskId"])
        await rpc.result("tasks/cancel", {"taskId": created["taskId"]})
        after = await rpc.get(created["taskId"])
    assert after["status"] == "completed" and after["result"]["structuredContent"]["answer"]


async def test_a_cancelled_v2_answer_leaves_no_half_written_turn(tmp_path: Path) -> None:
    sim = SimulatorState()
    with running_simulator(sim) as url:
        settings = sim_settings(sim, base_url=url, backend="completions", enable_suggestions=False)
        async with in_process_app(build_server(settings), settings) as rpc:
            first = await rpc.call("send_message", {"query": "hi"}, declare=False)
            chat_id = first["structuredContent"]["chat_id"]
            sim.chunk_delay = 0.3
            created = await rpc.call("continue_chat", {"chat_id": chat_id, "query": "streamed slowly"})
            await rpc.wait_for(created["taskId"], lambda t: t.get("statusMessage", "").startswith("[Simulated"))
            await rpc.result("tasks/cancel", {"taskId": created["taskId"]})
            after = await rpc.get(created["taskId"])
            sim.chunk_delay = 0
            history = await rpc.call("get_chat_history", {"chat_id": chat_id}, declare=False)
    assert after["status"] == "cancelled"
    assert sim.aborted["completions"] == 1  # the stream was closed mid-answer
    assert [m["role"] for m in history["structuredContent"]["messages"]] == ["user", "assistant"]


# --- ownership, fair use ------------------------------------------------------------------------------


async def test_another_users_task_id_reads_like_an_unknown_one(
    sim: SimulatorState, authorization_server: AuthorizationServer
) -> None:
    alice = await authorization_server.token("alice", scopes=[SCOPE])
    bob = await authorization_server.token("bob", scopes=[SCOPE])
    with team_server(sim, authorization_server.issuer) as base:
        async with (
            httpx2.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {alice}"}) as as_alice,
            httpx2.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {bob}"}) as as_bob,
        ):
            alices, bobs = RawMcp(as_alice), RawMcp(as_bob)
            sim.inject("message", Fault(delay=0.3))
            created = await alices.call("send_message", {"query": "mine"})
            foreign = {m: await bobs.error(m, {"taskId": created["taskId"]}) for m in ("tasks/get", "tasks/cancel")}
            unknown = await bobs.error("tasks/get", {"taskId": "nonexistent-12345"})
            done = await alices.settle(created["taskId"])
    assert foreign == {"tasks/get": unknown, "tasks/cancel": unknown} and unknown["code"] == -32602
    assert done["status"] == "completed"  # bob's cancel did not touch it


async def test_a_task_holds_the_callers_in_flight_place_while_it_runs(sim: SimulatorState) -> None:
    sim.inject("message", Fault(delay=0.5))
    async with serving(sim, fair_use=FairUse(per_minute=0, in_flight=1)) as rpc:
        created = await rpc.call("send_message", {"query": "slow"})
        await rpc.wait_for(created["taskId"], lambda _: sim.requests["message"] == 1)
        refused = await rpc.call("send_message", {"query": "meanwhile"}, declare=False)
        await rpc.settle(created["taskId"])
        after = await rpc.call("send_message", {"query": "after"}, declare=False)
    assert refused["isError"] and "calls to Gloo under way" in refused["content"][0]["text"]
    assert not after.get("isError")


async def test_a_caller_over_the_limit_gets_the_refusal_at_once_and_no_task_row(
    sim: SimulatorState, tmp_path: Path
) -> None:
    settings = sim_settings(sim, store_url=shared_store(tmp_path))
    async with serving(sim, settings, fair_use=FairUse(per_minute=1, in_flight=0)) as rpc:
        created = await rpc.call("send_message", {"query": "the one allowed"})
        await rpc.settle(created["taskId"])
        refused = [await rpc.call("send_message", {"query": f"more {n}"}) for n in range(5)]
    store = await open_task_store(settings.resolved_store_url)
    try:
        rows = await store.count()
    finally:
        await store.aclose()
    assert all(r.get("resultType") != "task" and r["isError"] for r in refused)
    assert all(r["content"][0]["text"].startswith("You have made 1 calls to Gloo in the last minute") for r in refused)
    assert rows == 1 and sim.requests["message"] == 1


async def test_a_task_takes_one_place_a_minute_not_two(sim: SimulatorState) -> None:
    async with serving(sim, fair_use=FairUse(per_minute=2, in_flight=0)) as rpc:
        first = await rpc.call("send_message", {"query": "one"})
        await rpc.settle(first["taskId"])
        second = await rpc.call("send_message", {"query": "two"}, declare=False)
    assert not second.get("isError")  # the task's run counted once: its place was taken when it was created


# --- durable and shared --------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def task_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> SecretStr:
    if request.param == "sqlite":
        return shared_store(tmp_path)
    return SecretStr(_fresh_database(request.getfixturevalue("postgres_url")))


async def test_a_task_started_on_one_replica_is_answered_and_cancelled_through_another(
    sim: SimulatorState, task_store_url: SecretStr
) -> None:
    settings = sim_settings(sim, store_url=task_store_url)
    timings = TaskTimings(watch_interval=0.05)
    async with serving(sim, settings, task_timings=timings) as a, serving(sim, settings, task_timings=timings) as b:
        sim.inject("message", Fault(delay=0.3))
        answered = await a.call("send_message", {"query": "hi"})
        at_once = await b.get(answered["taskId"])
        done = await b.settle(answered["taskId"])
        sim.inject("message", Fault(delay=30))
        slow = await a.call("send_message", {"query": "slow"})
        await b.result("tasks/cancel", {"taskId": slow["taskId"]})  # a's run sees it at its next renewal
        cancelled = await b.settle(slow["taskId"])
    assert at_once["status"] == "working"
    assert done["status"] == "completed" and done["result"]["structuredContent"]["answer"]
    assert cancelled["status"] == "cancelled" and sim.aborted["message"] == 1


async def test_a_finished_answer_outlives_the_server_that_produced_it(
    sim: SimulatorState, task_store_url: SecretStr
) -> None:
    settings = sim_settings(sim, store_url=task_store_url)
    async with serving(sim, settings) as before:
        created = await before.call("send_message", {"query": "hi"})
        answer = (await before.settle(created["taskId"]))["result"]
    async with serving(sim, settings) as after_restart:
        again = await after_restart.get(created["taskId"])
    assert again["status"] == "completed" and again["result"] == answer


async def test_a_stopping_server_lets_its_running_tasks_finish(sim: SimulatorState, tmp_path: Path) -> None:
    settings = sim_settings(sim, store_url=shared_store(tmp_path))
    sim.inject("message", Fault(delay=0.3))
    async with serving(sim, settings) as stopping:
        created = await stopping.call("send_message", {"query": "hi"})
    async with serving(sim, settings) as next_one:
        done = await next_one.get(created["taskId"])
    assert done["status"] == "completed"


async def test_a_task_whose_server_vanished_is_reported_failed_and_never_sent_again(
    sim: SimulatorState, tmp_path: Path
) -> None:
    settings = sim_settings(sim, store_url=shared_store(tmp_path))
    store = await open_task_store(settings.resolved_store_url)
    clock = Clock()
    now = int(clock.now * 1000)
    orphan = TaskRecord(
        "orphan-task", "local", "send_message", "working", None, None, now, now, now + 3_600_000, now - 1, 1000
    )
    await store.create(orphan, now_ms=now)
    await store.aclose()
    async with serving(sim, settings, task_timings=TaskTimings(clock=clock)) as rpc:
        lost = await rpc.get("orphan-task")
    assert lost["status"] == "failed" and lost["statusMessage"] == LOST
    assert lost["error"] == {"code": -32603, "message": LOST}
    assert sim.requests["message"] == 0


async def test_results_expire_after_the_ttl_and_expired_rows_are_deleted(sim: SimulatorState, tmp_path: Path) -> None:
    clock = Clock()
    settings = sim_settings(sim, store_url=shared_store(tmp_path))
    async with serving(sim, settings, task_timings=TaskTimings(clock=clock)) as rpc:
        first = [await rpc.call("send_message", {"query": f"q{i}"}) for i in range(3)]
        for task in first:
            await rpc.settle(task["taskId"])
        clock.now += 3600 - 1
        kept = await rpc.get(first[0]["taskId"])
        clock.now += 1
        expired = await rpc.error("tasks/get", {"taskId": first[0]["taskId"]})
        later = await rpc.call("send_message", {"query": "later"})
        await rpc.settle(later["taskId"])
    store = await open_task_store(settings.resolved_store_url)
    try:
        rows = await store.count()
    finally:
        await store.aclose()
    assert kept["status"] == "completed" and expired == {"code": -32602, "message": NOT_FOUND}
    assert rows == 1 and PURGE_BATCH > 3  # the three expired rows went with the next task


# --- the store on its own ------------------------------------------------------------------------


async def test_the_task_store_keeps_each_owners_tasks_to_itself(task_store_url: SecretStr) -> None:
    store = await open_task_store(task_store_url.get_secret_value())
    try:
        record = TaskRecord("t1", "alice", "send_message", "working", "w", None, 1000, 1000, 10_000, 5000, 1000)
        await store.create(record, now_ms=1000)
        assert await store.get("t1", owner="bob", now_ms=2000) is None
        assert await store.get("t1", owner="alice", now_ms=10_000) is None  # expired
        await store.request_cancel("t1", owner="bob")  # someone else's cancel changes nothing
        assert await store.renew("t1", lease_ms=9000, message="more", now_ms=3000) is False
        await store.request_cancel("t1", owner="alice")
        assert await store.renew("t1", lease_ms=9000, message=None, now_ms=3000) is True
        body = json.dumps({"content": []})
        assert await store.finish("t1", status="completed", message=None, outcome=body, now_ms=4000)
        assert not await store.finish("t1", status="failed", message="x", outcome="{}", now_ms=5000)  # terminal stays
        assert not await store.abandon("t1", message="x", outcome="{}", now_ms=20_000)
        got = await store.get("t1", owner="alice", now_ms=5000)
        assert got is not None and (got.status, got.outcome, got.updated_ms) == ("completed", body, 4000)
        assert await store.renew("t1", lease_ms=9000, message=None, now_ms=6000) is None
    finally:
        await store.aclose()


# --- where a task is not made, and where one stops -------------------------------------------------


async def test_a_server_running_its_most_tasks_answers_the_next_call_synchronously(sim: SimulatorState) -> None:
    sim.inject("message", Fault(delay=0.3))
    async with serving(sim, task_timings=TaskTimings(max_running=1)) as rpc:
        running = await rpc.call("send_message", {"query": "slow"})
        beyond = await rpc.call("send_message", {"query": "next"})
        await rpc.settle(running["taskId"])
    assert running["resultType"] == "task"
    assert "taskId" not in beyond and beyond["structuredContent"]["answer"]


async def test_without_a_task_store_the_call_is_answered_synchronously(sim: SimulatorState) -> None:
    settings = sim_settings(sim, store_url=SecretStr("sqlite:////proc/gloo-mcp-cannot-write-here/chats.db"))
    async with serving(sim, settings) as rpc:
        result = await rpc.call("send_message", {"query": "hi"})
    assert "taskId" not in result and result["structuredContent"]["answer"]


async def test_a_server_that_stops_before_gloo_answers_says_so_in_the_task(sim: SimulatorState, tmp_path: Path) -> None:
    settings = sim_settings(sim, store_url=shared_store(tmp_path))
    sim.inject("message", Fault(delay=30))
    async with serving(sim, settings, task_timings=TaskTimings(drain=0.2)) as stopping:
        created = await stopping.call("send_message", {"query": "slow"})
    async with serving(sim, settings) as next_one:
        stopped = await next_one.get(created["taskId"])
    assert stopped["status"] == "failed" and stopped["statusMessage"] == STOPPED
    assert stopped["error"] == {"code": -32603, "message": STOPPED} and sim.aborted["message"] == 1


@pytest.mark.parametrize("answered", [True, False])
async def test_a_cancel_stops_a_call_only_until_gloo_has_answered(tmp_path: Path, answered: bool) -> None:
    """After Gloo's answer arrived (task_context.gloo_answered), the turn is recorded and returned, never half."""
    state = AppState(Settings(store_url=SecretStr(f"sqlite:///{tmp_path / 'chats.db'}")))
    tasks = Tasks(state, TaskTimings(cancel_wait=0))
    recording, recorded = anyio.Event(), anyio.Event()

    async def call_next(_: object) -> CallToolResult:
        if answered:
            gloo_answered()
        recording.set()
        await recorded.wait()  # the turn being written
        return CallToolResult(content=[TextContent(type="text", text="the answer")])

    capabilities = ClientCapabilities(extensions={TASKS: {}})
    ctx: Any = SimpleNamespace(protocol_version="2026-07-28", session=SimpleNamespace(client_capabilities=capabilities))
    ctx.request = None
    async with tasks.serving():
        params = CallToolRequestParams(name="send_message", arguments={})
        created = await tasks.call_tool(params, ctx, call_next)  # type: ignore[arg-type]
        task_id = TaskIdParams(task_id=created["taskId"])
        await recording.wait()
        await tasks.cancel(ctx, task_id)
        recorded.set()
        with anyio.fail_after(5):
            while (task := await tasks.get(ctx, task_id))["status"] == "working":  # noqa: ASYNC110
                await anyio.sleep(0.01)
    if answered:
        assert task["status"] == "completed" and task["result"]["content"][0]["text"] == "the answer"
    else:
        assert task["status"] == "cancelled" and "result" not in task


async def test_a_subscription_to_task_notifications_needs_the_extension_declared(sim: SimulatorState) -> None:
    async with serving(sim) as rpc:
        params = {"notifications": {"taskIds": ["some-task"]}}
        error = await rpc.error("subscriptions/listen", params, declare=False)
    assert error["code"] == -32021
    assert error["data"] == {"requiredCapabilities": {"extensions": {TASKS: {}}}}


async def test_tasks_work_over_stdio_and_their_answer_outlives_the_process(tmp_path: Path) -> None:
    sim = SimulatorState()
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "stdio-test", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS: {}}},
    }
    with running_simulator(sim) as url:
        env = {**os.environ, "GLOO_BASE_URL": url, "GLOO_API_KEY": sim.api_key, "XDG_DATA_HOME": str(tmp_path)}

        async def session(*requests: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
            lines = [
                json.dumps({"jsonrpc": "2.0", "id": i, "method": m, "params": {**p, "_meta": meta}})
                for i, (m, p) in enumerate(requests, 1)
            ]
            done = await anyio.run_process(
                [sys.executable, "-m", "gloo_mcp"], input="\n".join(lines).encode() + b"\n", env=env, check=True
            )
            return [json.loads(line)["result"] for line in done.stdout.decode().splitlines()]

        (created,) = await session(("tools/call", {"name": "send_message", "arguments": {"query": "hi"}}))
        (later,) = await session(("tasks/get", {"taskId": created["taskId"]}))  # another process, the same store
    assert created["resultType"] == "task"
    assert later["status"] == "completed" and later["result"]["structuredContent"]["chat_id"] in sim.chats
