"""The simulator's Completions V2 contract over HTTP: validation, envelopes, streaming, citations, catalogue."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from gloo_mcp.simulator import Fault, SimulatorState, create_app
from gloo_mcp.simulator.content import SIMULATOR_NOTICE

ASK = [{"role": "user", "content": "What is hope?"}]


@pytest.fixture
async def http(sim: SimulatorState) -> AsyncIterator[httpx2.AsyncClient]:
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=create_app(sim)), base_url="https://sim.test", headers=headers
    ) as client:
        yield client


def chunks(response: httpx2.Response) -> list[dict[str, Any]]:
    data = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    return [json.loads(item) for item in data]


async def test_a_completion_is_openai_shaped_with_gloos_routing_fields(http: httpx2.AsyncClient) -> None:
    response = await http.post("/ai/v2/chat/completions", json={"messages": ASK, "auto_routing": True})
    body = response.json()
    assert response.status_code == 200 and body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"].startswith(SIMULATOR_NOTICE)
    assert body["choices"][0]["finish_reason"] == "stop" and body["usage"]["total_tokens"] > 0
    assert body["provider"] == "Gloo AI" and body["routing_mechanism"] == "auto_routing" and "routing_tier" in body


async def test_direct_model_selection_has_no_routing_tier(http: httpx2.AsyncClient) -> None:
    body = (
        await http.post(
            "/ai/v2/chat/completions",
            json={"messages": ASK, "model": "gloo-openai-gpt-5-mini", "auto_routing": False, "tradition": "catholic"},
        )
    ).json()
    assert body["model"] == "gloo-openai-gpt-5-mini" and body["model_family"] == "OpenAI"
    assert body["routing_mechanism"] == "direct_model_selection" and "routing_tier" not in body
    assert body["tradition"] == "catholic"


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({}, "Exactly one of auto_routing, model or model_family"),
        ({"auto_routing": True, "model_family": "openai"}, "Exactly one"),
        ({"model": "gloo-unknown"}, "Unknown model"),
        ({"model_family": "cobol"}, "model_family must be one of"),
        ({"auto_routing": True, "tradition": "not_faith_specific"}, "tradition must be one of"),
        ({"auto_routing": True, "temperature": 3}, "temperature"),
        ({"auto_routing": True, "max_tokens": 0}, "max_tokens"),
        ({"auto_routing": True, "messages": []}, "messages must be a non-empty list"),
    ],
)
async def test_invalid_requests_get_the_v2_error_envelope(
    http: httpx2.AsyncClient, fields: dict[str, Any], complaint: str
) -> None:
    response = await http.post("/ai/v2/chat/completions", json={"messages": ASK, **fields})
    error = response.json()["error"]
    assert response.status_code == 400 and complaint in error["message"]
    assert (error["code"], error["name"], error["fault"], error["retryable"]) == (
        1001,
        "INVALID_REQUEST",
        "client",
        False,
    )


async def test_a_missing_bearer_is_401_in_the_envelope(sim: SimulatorState) -> None:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=create_app(sim)), base_url="https://s") as bare:
        response = await bare.post("/ai/v2/chat/completions", json={"messages": ASK, "auto_routing": True})
    assert response.status_code == 401 and response.json()["error"]["retryable"] is False


async def test_a_stream_ends_at_the_first_finish_reason_without_done(http: httpx2.AsyncClient) -> None:
    response = await http.post("/ai/v2/chat/completions", json={"messages": ASK, "auto_routing": True, "stream": True})
    events = chunks(response)
    assert response.headers["content-type"].startswith("text/event-stream") and "[DONE]" not in response.text
    finishes = [c["choices"][0]["finish_reason"] for c in events]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1])
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in events)
    assert text.startswith(SIMULATOR_NOTICE) and events[0]["choices"][0]["delta"]["role"] == "assistant"


async def test_grounded_citations_arrive_first_from_the_named_publisher(http: httpx2.AsyncClient) -> None:
    response = await http.post(
        "/ai/v2/chat/completions/grounded",
        json={
            "messages": ASK,
            "auto_routing": True,
            "stream": True,
            "rag_publisher": "Sample Ministries",
            "sources_limit": 2,
            "include_citations": True,
        },
    )
    events = chunks(response)
    assert events[0]["choices"] == [] and len(events[0]["citations"]) == 2
    assert {c["publisher"] for c in events[0]["citations"]} == {"Sample Ministries"}
    assert all(c["item_url"].startswith("https://example.org/") for c in events[0]["citations"])


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [({"sources_limit": 11}, "sources_limit"), ({"rag_publisher": "nobody"}, "Unknown rag_publisher")],
)
async def test_grounded_validation(http: httpx2.AsyncClient, fields: dict[str, Any], complaint: str) -> None:
    response = await http.post(
        "/ai/v2/chat/completions/grounded", json={"messages": ASK, "auto_routing": True, **fields}
    )
    assert response.status_code == 400 and complaint in response.json()["error"]["message"]


async def test_a_mid_stream_fault_ends_with_an_in_band_error(http: httpx2.AsyncClient, sim: SimulatorState) -> None:
    sim.inject("completions", Fault(mid_stream_error=True))
    response = await http.post("/ai/v2/chat/completions", json={"messages": ASK, "auto_routing": True, "stream": True})
    last = chunks(response)[-1]
    assert last["choices"][0]["finish_reason"] == "error" and last["error"]["retryable"] is True


async def test_the_model_catalogue_needs_no_bearer(sim: SimulatorState) -> None:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=create_app(sim)), base_url="https://s") as bare:
        response = await bare.get("/platform/v2/models")
    models = response.json()["data"]
    assert response.status_code == 200 and {m["family"] for m in models} >= {"Anthropic", "OpenAI", "Google"}
    assert all({"id", "context_window", "max_output_tokens", "supports_tools"} <= set(m) for m in models)
