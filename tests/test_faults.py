"""The fault matrix: every upstream fault, driven through a real MCP session against the simulator.

Each row asserts what the agent sees *and* how many requests reached each endpoint, so a
duplicated message POST or an unbounded retry fails the row. Retries wait on a fake
sleep; the deadline rows use a short GLOO_TIMEOUT and really wait (well under a second).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent

from gloo_mcp.gloo.retry import RetryPolicy
from gloo_mcp.server import build_server
from gloo_mcp.simulator import Fault, SimulatorState, running_simulator
from gloo_mcp.simulator.state import Endpoint
from tests.conftest import FakeSleep, mcp_session, sim_settings

MAYBE = "may or may not have been recorded"


def text(result: CallToolResult) -> str:
    return next(c.text for c in result.content if isinstance(c, TextContent))


@dataclass
class Row:
    name: str
    endpoint: Endpoint
    faults: list[Fault]
    ok: bool
    counts: dict[str, int]
    says: str | tuple[str, ...] = ""
    waits: list[float] | None = None
    tool: str = "send_message"
    settings: dict[str, Any] = field(default_factory=dict)


HUGE = b'{"chat_id": "c1", "message": "' + b"x" * (9 * 1024 * 1024) + b'"}'

MATRIX = [
    Row(
        "429 Retry-After seconds",
        "message",
        [Fault(status=429, headers={"Retry-After": "3"})],
        True,
        {"message": 2},
        waits=[3.0],
    ),
    Row(
        "429 X-RateLimit-Reset delta",
        "message",
        [Fault(status=429, headers={"X-RateLimit-Reset": "4"})],
        True,
        {"message": 2},
        waits=[4.0],
    ),
    Row(
        "429 Retry-After capped",
        "message",
        [Fault(status=429, headers={"Retry-After": "3600"})],
        True,
        {"message": 2},
        waits=[30.0],
    ),
    Row("429 without a named wait backs off", "message", [Fault(status=429)], True, {"message": 2}, waits=[0.25]),
    Row("429 persistent", "message", [Fault(status=429)] * 9, False, {"message": 4}, says="rate-limiting"),
    Row("503 twice then ok", "message", [Fault(status=503)] * 2, True, {"message": 3}, waits=[0.25, 0.5]),
    Row("503 persistent", "message", [Fault(status=503)] * 9, False, {"message": 4}, says="unavailable right now"),
    Row(
        "500 after recording on POST",
        "message",
        [Fault(status=500, after_processing=True)],
        False,
        {"message": 1},
        says=MAYBE,
    ),
    Row("502 on POST", "message", [Fault(status=502)], False, {"message": 1}, says=MAYBE),
    Row("504 on POST", "message", [Fault(status=504)], False, {"message": 1}, says=MAYBE),
    Row("403", "message", [Fault(status=403)], False, {"message": 1}, says="HTTP 403"),
    Row(
        "422",
        "message",
        [Fault(status=422, body=b'{"detail": [{"loc": ["body", "query"], "msg": "bad"}]}')],
        False,
        {"message": 1},
        says="(query: bad)",
    ),
    Row(
        "401 persistent after refresh",
        "message",
        [Fault(status=401)] * 3,
        False,
        {"message": 2, "token": 2},
        says="rejected the credentials",
    ),
    Row("malformed JSON", "message", [Fault(malformed=True)], False, {"message": 1}, says=("not a JSON object", MAYBE)),
    Row(
        "HTML instead of JSON",
        "message",
        [Fault(malformed=True, body=b"<html>oops</html>")],
        False,
        {"message": 1},
        says=("not a JSON object", MAYBE),
    ),
    Row(
        "missing fields",
        "message",
        [Fault(malformed=True, body=b'{"success": true}')],
        False,
        {"message": 1},
        says=("chat_id, message", MAYBE),
    ),
    Row(
        "malformed JSON on history read",
        "chat",
        [Fault(malformed=True)],
        False,
        {"chat": 1},
        tool="get_chat_history",
        says="not a JSON object (application/json, 12 bytes); try again later.",
    ),
    Row(
        "success false",
        "message",
        [Fault(malformed=True, body=b'{"success": false, "chat_id": "c1", "message": ""}')],
        False,
        {"message": 1},
        says="success: false",
    ),
    Row(
        "huge body",
        "message",
        [Fault(malformed=True, body=HUGE)],
        False,
        {"message": 1},
        says=("exceeded 8 MiB (after decompression)", MAYBE),
    ),
    Row("503 with a huge body, then ok", "message", [Fault(status=503, body=HUGE)], True, {"message": 2}),
    Row("token endpoint 503 then ok", "token", [Fault(status=503)], True, {"token": 2, "message": 1}),
    Row(
        "token endpoint 503 with a huge body, then ok",
        "token",
        [Fault(status=503, body=HUGE)],
        True,
        {"token": 2, "message": 1},
    ),
    Row(
        "token endpoint 500 persistent",
        "token",
        [Fault(status=500)] * 9,
        False,
        {"token": 4, "message": 0},
        says="unavailable",
    ),
    Row(
        "token endpoint malformed",
        "token",
        [Fault(malformed=True)],
        False,
        {"token": 1, "message": 0},
        says="without a usable access token",
    ),
    Row(
        "502 then 504 on history read",
        "chat",
        [Fault(status=502), Fault(status=504)],
        True,
        {"chat": 3},
        tool="get_chat_history",
    ),
    Row(
        "503 persistent on history read",
        "chat",
        [Fault(status=503)] * 9,
        False,
        {"chat": 4},
        tool="get_chat_history",
        says="unavailable",
    ),
]


async def call(client: Client, tool: str, chat_id: str) -> CallToolResult:
    if tool == "get_chat_history":
        return await client.call_tool(tool, {"chat_id": chat_id})
    return await client.call_tool(tool, {"query": "Where is hope?"})


@pytest.mark.parametrize("row", MATRIX, ids=[r.name for r in MATRIX])
async def test_fault_matrix(row: Row) -> None:
    sim, sleep = SimulatorState(), FakeSleep()
    retry = RetryPolicy(sleep=sleep, random=lambda: 0.5)
    async with mcp_session(sim, retry=retry, **row.settings) as client:
        chat_id = ""
        if row.endpoint == "chat":
            seeded = await client.call_tool("send_message", {"query": "seed"})
            assert seeded.structured_content is not None
            chat_id = seeded.structured_content["chat_id"]
            sim.requests.clear()
        sim.inject(row.endpoint, *row.faults)
        result = await call(client, row.tool, chat_id)
    if row.ok:
        assert not result.is_error, text(result)
        assert result.structured_content is not None
    else:
        assert result.is_error and result.structured_content is None
        for says in (row.says,) if isinstance(row.says, str) else row.says:
            assert says in text(result), text(result)
        assert "Traceback" not in text(result) and "\n" not in text(result)
    for endpoint, count in row.counts.items():
        assert sim.requests[endpoint] == count, f"{endpoint}: {dict(sim.requests)}"  # type: ignore[index]
    if row.waits is not None:
        assert sleep.waits == row.waits


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"Retry-After": "45"}, "try again in about 45 s."),
        ({"Retry-After": "150"}, "try again in about 3 min."),
        ({"Retry-After": "3600"}, "try again in about 1 h."),
        ({"Retry-After": "1000000000"}, "try again later (Gloo asked for more than an hour)."),
        ({"Retry-After": "inf"}, "try again later (Gloo asked for more than an hour)."),
        ({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, "try again later (Gloo asked for more than an hour)."),
        ({"X-RateLimit-Reset": "1e300"}, "try again later (Gloo asked for more than an hour)."),
        ({"Retry-After": "nan"}, "try again shortly."),
        ({"Retry-After": "-5"}, "try again shortly."),
    ],
    ids=["45 s", "150 s", "an hour", "a billion s", "inf", "year 9999", "reset 1e300", "nan", "negative"],
)
async def test_a_429_names_a_human_wait_never_an_absurd_number(headers: dict[str, str], says: str) -> None:
    sim, sleep = SimulatorState(), FakeSleep()
    sim.inject("message", *[Fault(status=429, headers=headers)] * 9)
    async with mcp_session(sim, retry=RetryPolicy(sleep=sleep, random=lambda: 0.5)) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
    assert result.is_error and text(result).endswith(says), text(result)
    assert sim.requests["message"] == 4
    assert len(sleep.waits) == 3 and all(0 <= wait <= 30 for wait in sleep.waits)


async def test_a_source_field_nested_too_deep_to_write_out_is_left_out_and_the_answer_arrives() -> None:
    sim = SimulatorState()
    deep = "[" * 900 + "]" * 900
    body = '{"chat_id": "c1", "message": "Hope.", "sources": [{"title": "Psalms", "shape": DEEP, "page": 3}]}'
    body = body.replace("DEEP", deep)
    sim.inject("message", Fault(malformed=True, body=body.encode()))
    async with mcp_session(sim) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    assert result.structured_content["sources"] == [
        {"title": "Psalms", "url": None, "publisher": None, "snippet": None, "page": 3}
    ]
    assert sim.requests["message"] == 1


async def test_retry_after_as_an_http_date_is_honoured() -> None:
    sim, sleep = SimulatorState(), FakeSleep()
    in_5s = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    sim.inject("message", Fault(status=429, headers={"Retry-After": in_5s}))
    async with mcp_session(sim, retry=RetryPolicy(sleep=sleep)) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
    assert not result.is_error
    assert len(sleep.waits) == 1 and 3.0 <= sleep.waits[0] <= 5.0


async def test_the_message_failed_after_recording_is_visible_in_history() -> None:
    sim = SimulatorState()
    async with mcp_session(sim, retry=RetryPolicy(sleep=FakeSleep())) as client:
        first = await client.call_tool("send_message", {"query": "first"})
        assert first.structured_content is not None
        chat_id = first.structured_content["chat_id"]
        sim.inject("message", Fault(status=500, after_processing=True))
        failed = await client.call_tool("continue_chat", {"chat_id": chat_id, "query": "second"})
        history = await client.call_tool("get_chat_history", {"chat_id": chat_id})
    assert failed.is_error and MAYBE in text(failed)
    assert history.structured_content is not None
    assert [m["content"] for m in history.structured_content["messages"] if m["role"] == "user"] == ["first", "second"]


async def test_a_slow_answer_ends_in_a_timeout_naming_gloo_timeout_and_aborts_upstream() -> None:
    sim = SimulatorState()
    sim.inject("message", Fault(delay=30))
    async with mcp_session(sim, timeout=0.3) as client:
        with anyio.fail_after(10):
            result = await client.call_tool("send_message", {"query": "hi"})
    assert result.is_error
    assert "GLOO_TIMEOUT (0.3 s)" in text(result) and MAYBE in text(result)
    assert sim.requests["message"] == 1 and sim.aborted["message"] == 1


async def test_a_slow_history_read_times_out_without_the_maybe_recorded_warning() -> None:
    sim = SimulatorState()
    async with mcp_session(sim, timeout=0.3) as client:
        seeded = await client.call_tool("send_message", {"query": "seed"})
        assert seeded.structured_content is not None
        sim.inject("chat", Fault(delay=30))
        result = await client.call_tool("get_chat_history", {"chat_id": seeded.structured_content["chat_id"]})
    assert result.is_error
    assert text(result) == "Gloo did not answer within GLOO_TIMEOUT (0.3 s); try again, or raise GLOO_TIMEOUT."


async def test_a_slow_token_exchange_counts_against_the_same_deadline() -> None:
    sim = SimulatorState()
    sim.inject("token", Fault(delay=30))
    async with mcp_session(sim, timeout=0.3) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
    assert result.is_error and "GLOO_TIMEOUT" in text(result) and MAYBE not in text(result)
    assert sim.requests["message"] == 0


async def test_a_wait_longer_than_the_deadline_allows_is_not_slept() -> None:
    sim, sleep = SimulatorState(), FakeSleep()
    sim.inject("message", Fault(status=429, headers={"Retry-After": "20"}))
    async with mcp_session(sim, retry=RetryPolicy(sleep=sleep), timeout=5) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
    assert result.is_error and "try again in about 20 s" in text(result)
    assert sleep.waits == [] and sim.requests["message"] == 1


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_host_cancellation_aborts_the_upstream_request_and_the_server_keeps_serving(mode: str) -> None:
    sim = SimulatorState()
    sim.inject("message", Fault(delay=30))
    async with mcp_session(sim, mode=mode) as client:
        with anyio.move_on_after(0.3):
            await client.call_tool("send_message", {"query": "slow"})
        with anyio.fail_after(5):
            after = await client.call_tool("send_message", {"query": "next"})
    assert not after.is_error
    assert sim.aborted["message"] == 1  # the slow request was torn down, not left running
    assert sim.requests["message"] == 2 and len(sim.chats) == 1


@asynccontextmanager
async def loopback_session(sim: SimulatorState) -> AsyncIterator[Client]:
    """The server talking real TCP to the simulator under uvicorn, for faults only a socket can show."""
    with running_simulator(sim) as url:
        settings = sim_settings(sim, base_url=url)
        async with Client(build_server(settings, retry=RetryPolicy(sleep=FakeSleep()))) as client:
            yield client


async def test_a_connection_dropped_mid_body_on_post_is_not_repeated() -> None:
    sim = SimulatorState()
    sim.inject("message", Fault(drop=True))
    async with loopback_session(sim) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
    assert result.is_error and MAYBE in text(result) and "connection to Gloo broke" in text(result)
    assert sim.requests["message"] == 1


async def test_a_connection_dropped_mid_body_on_history_is_retried() -> None:
    sim = SimulatorState()
    async with loopback_session(sim) as client:
        seeded = await client.call_tool("send_message", {"query": "seed"})
        assert seeded.structured_content is not None
        sim.inject("chat", Fault(drop=True))
        result = await client.call_tool("get_chat_history", {"chat_id": seeded.structured_content["chat_id"]})
    assert not result.is_error
    assert sim.requests["chat"] == 2


async def test_an_unreachable_gloo_is_retried_a_bounded_number_of_times() -> None:
    sleep = FakeSleep()
    settings = sim_settings(SimulatorState(), base_url="http://127.0.0.1:9")
    async with Client(build_server(settings, retry=RetryPolicy(sleep=sleep))) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
    assert result.is_error and "Could not reach Gloo at http://127.0.0.1:9" in text(result)
    assert len(sleep.waits) == 3  # four attempts in all
