"""The simulator keeps Gloo's HTTP contract: auth, validation, status codes, and honest labelling."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Literal

import httpx2
import pytest

from gloo_mcp.simulator import Fault, SimulatorState, create_app
from gloo_mcp.simulator.content import SIMULATOR_NOTICE
from gloo_mcp.simulator.state import parse_fault_spec


@pytest.fixture
async def http(sim: SimulatorState) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=create_app(sim)), base_url="http://sim") as c:
        yield c


async def bearer(http: httpx2.AsyncClient, sim: SimulatorState) -> dict[str, str]:
    r = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "api/access"},
        auth=(sim.client_id, sim.client_secret),
    )
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    return {"Authorization": f"Bearer {body['access_token']}"}


async def test_token_endpoint_checks_basic_credentials(http: httpx2.AsyncClient, sim: SimulatorState) -> None:
    wrong = await http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=(sim.client_id, "x"))
    assert wrong.status_code == 401
    bad_grant = await http.post(
        "/oauth2/token", data={"grant_type": "password"}, auth=(sim.client_id, sim.client_secret)
    )
    assert bad_grant.status_code == 400
    form = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": sim.client_id, "client_secret": sim.client_secret},
    )
    assert form.status_code == 200


async def test_tokens_expire(http: httpx2.AsyncClient, sim: SimulatorState) -> None:
    now = [1000.0]
    sim.clock = lambda: now[0]
    headers = await bearer(http, sim)
    assert (await http.post("/ai/v1/message", json={"query": "hi"}, headers=headers)).status_code == 200
    now[0] += sim.token_lifetime
    assert (await http.post("/ai/v1/message", json={"query": "hi"}, headers=headers)).status_code == 401


async def test_message_requires_a_bearer(http: httpx2.AsyncClient) -> None:
    r = await http.post("/ai/v1/message", json={"query": "hi"})
    assert r.status_code == 401 and r.json() == {"detail": "Not authenticated"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "hi", "character_limit": -1}, "character_limit"),
        ({"query": "hi", "sources_limit": 101}, "sources_limit"),
        ({"query": "hi", "publishers": "Example Press"}, "publishers"),
        ({"query": "hi", "enable_suggestions": 2}, "enable_suggestions"),
    ],
)
async def test_message_validation_answers_422_naming_the_field(
    http: httpx2.AsyncClient, sim: SimulatorState, body: dict[str, object], field: str
) -> None:
    r = await http.post("/ai/v1/message", json=body, headers=await bearer(http, sim))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == field


async def test_message_answers_in_gloo_shape_and_says_it_is_simulated(
    http: httpx2.AsyncClient, sim: SimulatorState
) -> None:
    r = await http.post(
        "/ai/v1/message?enable_suggestions=1",
        json={"query": "hi", "character_limit": 1000, "sources_limit": 3, "publishers": []},
        headers=await bearer(http, sim),
    )
    body = r.json()
    assert r.headers["x-gloo-simulator"] == "true"
    assert set(body) >= {
        "chat_id",
        "query_id",
        "message_id",
        "timestamp",
        "success",
        "message",
        "sources",
        "suggestions",
    }
    assert body["message"].startswith(SIMULATOR_NOTICE)
    assert "+" not in body["timestamp"] and "Z" not in body["timestamp"]  # naive, as Gloo sends
    assert len(body["sources"]) == 3


async def test_the_same_question_gets_the_same_answer(http: httpx2.AsyncClient, sim: SimulatorState) -> None:
    headers = await bearer(http, sim)
    a = (await http.post("/ai/v1/message", json={"query": "Where is hope?"}, headers=headers)).json()
    b = (await http.post("/ai/v1/message", json={"query": "Where is hope?"}, headers=headers)).json()
    assert (a["message"], a["sources"], a["suggestions"]) == (b["message"], b["sources"], b["suggestions"])


async def test_query_parameter_turns_suggestions_off(http: httpx2.AsyncClient, sim: SimulatorState) -> None:
    r = await http.post(
        "/ai/v1/message?enable_suggestions=0",
        json={"query": "hi", "enable_suggestions": 1},
        headers=await bearer(http, sim),
    )
    assert r.json()["suggestions"] == []


async def test_streaming_sends_deltas_then_the_final_reply(http: httpx2.AsyncClient, sim: SimulatorState) -> None:
    async with http.sse(
        "/ai/v1/message", method="POST", json={"query": "hi", "stream": True}, headers=await bearer(http, sim)
    ) as events:
        received = [(e.event, e.json()) async for e in events]
    deltas = "".join(data["text"] for event, data in received if event == "delta")
    final = received[-1]
    assert final[0] == "final" and final[1]["message"] == deltas


async def test_history_of_unknown_chat_is_404(http: httpx2.AsyncClient, sim: SimulatorState) -> None:
    r = await http.get("/ai/v1/chat", params={"chat_id": "cnope"}, headers=await bearer(http, sim))
    assert r.status_code == 404 and r.json() == {"detail": "Chat not found"}


async def test_injected_faults_apply_once_each_in_order(http: httpx2.AsyncClient, sim: SimulatorState) -> None:
    headers = await bearer(http, sim)
    sim.inject("message", Fault(status=503, headers={"Retry-After": "3"}), Fault(status=429))
    first = await http.post("/ai/v1/message", json={"query": "hi"}, headers=headers)
    second = await http.post("/ai/v1/message", json={"query": "hi"}, headers=headers)
    third = await http.post("/ai/v1/message", json={"query": "hi"}, headers=headers)
    assert (first.status_code, first.headers["retry-after"]) == (503, "3")
    assert (second.status_code, third.status_code) == (429, 200)
    assert sim.requests["message"] == 3


async def test_root_says_plainly_that_this_is_a_simulator(http: httpx2.AsyncClient) -> None:
    body = (await http.get("/")).json()
    assert body["simulator"] is True and "not from Gloo" in body["notice"]


@pytest.mark.parametrize(
    ("kind", "unit", "media_type"),
    [("json", b" ", "application/json"), ("sse", b": keep-alive\n", "text/event-stream")],
    ids=["json", "sse"],
)
async def test_a_gzip_bomb_is_small_on_the_wire_and_inflates_to_the_size_asked(
    http: httpx2.AsyncClient, sim: SimulatorState, kind: Literal["json", "sse"], unit: bytes, media_type: str
) -> None:
    sim.inject("token", Fault(bomb=kind, bomb_size=64 * 1024 * 1024))
    async with http.stream("POST", "/oauth2/token") as response:
        wire = b"".join([part async for part in response.aiter_raw()])
    assert response.headers["content-encoding"] == "gzip" and response.headers["content-type"].startswith(media_type)
    inflater, inflated, head = zlib.decompressobj(zlib.MAX_WBITS | 16), 0, b""
    pending = wire
    while pending:  # inflate in bounded pieces, as a careful client would
        piece = inflater.decompress(pending, 1024 * 1024)
        head, inflated, pending = head or piece[:64], inflated + len(piece), inflater.unconsumed_tail
    assert inflater.eof and len(wire) * 256 < inflated  # well over 256:1
    assert 64 * 1024 * 1024 <= inflated < 65 * 1024 * 1024 and head == (unit * 64)[:64]
    assert sim.requests["token"] == 1


def test_bomb_faults_can_be_named_on_the_command_line() -> None:
    endpoint, faults = parse_fault_spec("completions=bomb,ssebomb")
    assert endpoint == "completions" and [f.bomb for f in faults] == ["json", "sse"]
