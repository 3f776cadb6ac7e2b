"""The tools on Completions V2 (GLOO_BACKEND=completions): gloo-mcp keeps the conversation, Gloo streams the answer."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import TextContent

from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState, running_simulator
from gloo_mcp.simulator.content import SIMULATOR_NOTICE
from gloo_mcp.simulator.state import Fault
from tests.conftest import mcp_session, sim_settings

ERAS = pytest.mark.parametrize("mode", ["auto", "legacy"])


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def completions_session(sim: SimulatorState, **overrides: Any) -> Any:
    return mcp_session(sim, backend="completions", **overrides)


def answer_only_session(sim: SimulatorState, **overrides: Any) -> Any:
    """Completions V2 without the follow-up request beside each answer: one request per turn, faults land on it."""
    return completions_session(sim, enable_suggestions=False, **overrides)


async def ask(client: Client, query: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("send_message", {"query": query, **arguments})
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return result.structured_content


@ERAS
async def test_send_continue_and_history_form_one_conversation_kept_by_gloo_mcp(sim: SimulatorState, mode: str) -> None:
    async with completions_session(sim, mode=mode) as client:
        first = await ask(client, "How do I find meaning?")
        second = await client.call_tool("continue_chat", {"chat_id": first["chat_id"], "query": "Say more."})
        history = await client.call_tool("get_chat_history", {"chat_id": first["chat_id"]})
    assert first["chat_id"].startswith("gm-") and first["answer"].startswith(SIMULATOR_NOTICE)
    assert not second.is_error and second.structured_content is not None
    assert "Following up (question 2)" in second.structured_content["answer"]  # Gloo got the whole conversation
    assert not history.is_error and history.structured_content is not None
    messages = history.structured_content["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert [m["content"] for m in messages[::2]] == ["How do I find meaning?", "Say more."]
    assert history.structured_content["title"] == "How do I find meaning?"
    # two answers, each with a follow-up request beside it
    assert sim.requests["completions"] == 4 and sim.requests["message"] == 0 and not sim.chats


async def test_publishers_ground_the_answer_and_citations_become_sources(sim: SimulatorState) -> None:
    async with completions_session(sim) as client:
        reply = await ask(client, "What is hope?", publishers=["Example Press"], sources_limit=2)
    assert len(reply["sources"]) == 2
    assert {s["publisher"] for s in reply["sources"]} == {"Example Press"}
    assert all(s["url"].startswith("https://example.org/") and s["title"] and s["snippet"] for s in reply["sources"])


async def test_history_survives_a_server_restart(sim: SimulatorState) -> None:
    async with completions_session(sim) as client:
        chat_id = (await ask(client, "Remember this question"))["chat_id"]
    async with completions_session(sim) as restarted:
        history = await restarted.call_tool("get_chat_history", {"chat_id": chat_id})
        more = await restarted.call_tool("continue_chat", {"chat_id": chat_id, "query": "Still there?"})
    assert history.structured_content is not None and len(history.structured_content["messages"]) == 2
    assert not more.is_error and "Following up (question 2)" in more.structured_content["answer"]  # type: ignore[index]


async def test_streamed_answer_arrives_as_progress_that_adds_up_to_the_reply(sim: SimulatorState) -> None:
    pieces: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        pieces.append(message or "")

    async with completions_session(sim, heartbeat_interval=30) as client:
        result = await client.call_tool("send_message", {"query": "Stream it"}, progress_callback=on_progress)
    assert result.structured_content is not None
    assert len(pieces) > 3 and "".join(pieces) == result.structured_content["answer"]


async def test_a_mid_stream_error_is_a_clean_tool_error_and_records_nothing(sim: SimulatorState) -> None:
    sim.inject("completions", Fault(mid_stream_error=True))
    async with answer_only_session(sim) as client:
        result = await client.call_tool("send_message", {"query": "Fail halfway"})
        listed = await client.call_tool("list_chats", {})
    assert result.is_error and result.structured_content is None
    assert (
        "stopped mid-answer" in text(result) and "PROVIDER_UNAVAILABLE" in text(result) and "try again" in text(result)
    )
    assert sim.requests["completions"] == 1  # a stream that began is not blindly repeated
    assert listed.structured_content == {"chats": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"model": "gloo-openai-gpt-5-mini", "model_family": "openai"}, "not model and model_family"),
        ({"model_family": "google", "auto_routing": True}, "not model_family and auto_routing"),
        ({"auto_routing": False}, "auto_routing=false needs a model or a model_family"),
        ({"tradition": "not_faith_specific"}, "only for grounded answers"),
        ({"publishers": ["Example Press", "Sample Ministries"]}, "one publisher at a time"),
    ],
)
async def test_invalid_routing_is_rejected_before_any_request(
    sim: SimulatorState, arguments: dict[str, Any], expected: str
) -> None:
    async with completions_session(sim) as client:
        result = await client.call_tool("send_message", {"query": "hi", **arguments})
    assert result.is_error and expected in text(result)
    assert sim.requests.total() == 0


async def test_a_model_family_and_tradition_reach_gloo(sim: SimulatorState) -> None:
    async with answer_only_session(sim) as client:
        reply = await ask(client, "Explain grace", model="gloo-google-gemini-2.5-pro", tradition="catholic")
    assert reply["answer"].startswith(SIMULATOR_NOTICE)
    assert sim.requests["completions"] == 1


async def test_an_unknown_model_is_gloos_clear_error(sim: SimulatorState) -> None:
    async with completions_session(sim) as client:
        result = await client.call_tool("send_message", {"query": "hi", "model": "gloo-nope"})
    assert result.is_error and "HTTP 400" in text(result) and "Unknown model" in text(result)


async def test_routing_options_on_the_message_backend_say_how_to_use_them(sim: SimulatorState) -> None:
    async with mcp_session(sim) as client:
        result = await client.call_tool("send_message", {"query": "hi", "model_family": "anthropic"})
    assert result.is_error and "GLOO_BACKEND=completions" in text(result)
    assert sim.requests.total() == 0


async def test_an_unknown_completions_chat_points_to_list_chats(sim: SimulatorState) -> None:
    async with completions_session(sim) as client:
        result = await client.call_tool("continue_chat", {"chat_id": "gm-unknown", "query": "hi"})
    assert result.is_error and "list_chats" in text(result) and "send_message" in text(result)
    assert sim.requests.total() == 0


async def test_a_completions_chat_read_on_the_message_backend_says_which_backend_holds_it(sim: SimulatorState) -> None:
    async with completions_session(sim) as client:
        chat_id = (await ask(client, "Kept locally"))["chat_id"]
    async with mcp_session(sim) as client:
        result = await client.call_tool("get_chat_history", {"chat_id": chat_id})
    assert result.is_error and "GLOO_BACKEND=completions" in text(result)


async def test_cancelling_mid_stream_closes_the_stream_and_frees_the_connection() -> None:
    sim = SimulatorState(chunk_delay=0.15)
    with running_simulator(sim) as url:
        server = build_server(sim_settings(sim, base_url=url, backend="completions", enable_suggestions=False))
        async with Client(server) as client:
            with anyio.move_on_after(0.5):
                await client.call_tool("send_message", {"query": "A long streamed answer"})
            with anyio.fail_after(5):
                while not sim.aborted["completions"]:  # noqa: ASYNC110 - set on the simulator's thread
                    await anyio.sleep(0.05)
            sim.chunk_delay = 0
            with anyio.fail_after(10):
                after = await client.call_tool("send_message", {"query": "Next"})
    assert sim.aborted["completions"] == 1
    assert not after.is_error


@asynccontextmanager
async def both_backends(sim: SimulatorState) -> AsyncIterator[tuple[Client, Client]]:
    async with mcp_session(sim) as message, completions_session(sim) as completions:
        yield message, completions


async def test_list_chats_finds_conversations_from_both_backends_newest_first(sim: SimulatorState) -> None:
    async with both_backends(sim) as (message, completions):
        old = await ask(message, "An older question about rest")
        new = await ask(completions, "A newer question about hope")
        listed = await completions.call_tool("list_chats", {})
        filtered = await message.call_tool("list_chats", {"query": "REST"})
    assert listed.structured_content is not None
    chats = listed.structured_content["chats"]
    assert [(c["chat_id"], c["backend"]) for c in chats] == [
        (new["chat_id"], "completions"),
        (old["chat_id"], "message"),
    ]
    assert [c["title"] for c in chats] == ["A newer question about hope", "An older question about rest"]
    assert [c["chat_id"] for c in filtered.structured_content["chats"]] == [old["chat_id"]]  # type: ignore[index]
    assert old["chat_id"] in text(listed) and "completions" in text(listed)


async def test_list_chats_pages_with_a_cursor(sim: SimulatorState) -> None:
    async with completions_session(sim) as client:
        ids = [(await ask(client, f"Question {n}"))["chat_id"] for n in range(5)]
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(5):
            page = await client.call_tool("list_chats", {"limit": 2, **({"cursor": cursor} if cursor else {})})
            assert page.structured_content is not None
            seen += [c["chat_id"] for c in page.structured_content["chats"]]
            cursor = page.structured_content["next_cursor"]
            if cursor is None:
                break
        bad = await client.call_tool("list_chats", {"cursor": "not-a-cursor"})
    assert seen == list(reversed(ids))
    assert bad.is_error and "omit it" in text(bad)


async def test_continuing_a_chat_moves_it_to_the_top(sim: SimulatorState) -> None:
    async with completions_session(sim) as client:
        first = await ask(client, "First")
        await ask(client, "Second")
        await client.call_tool("continue_chat", {"chat_id": first["chat_id"], "query": "Back to the first"})
        listed = await client.call_tool("list_chats", {})
    assert listed.structured_content is not None
    assert listed.structured_content["chats"][0]["chat_id"] == first["chat_id"]


async def test_chats_resource_and_chat_id_completion_know_the_conversations(sim: SimulatorState) -> None:
    from mcp_types import ResourceTemplateReference

    async with completions_session(sim, mode="legacy") as client:
        reply = await ask(client, "Completion source")
        index = await client.read_resource("gloo://chats")
        completion = await client.complete(
            ResourceTemplateReference(type="ref/resource", uri="gloo://chats/{chat_id}"),
            {"name": "chat_id", "value": "gm-"},
        )
    assert reply["chat_id"] in index.contents[0].text  # type: ignore[union-attr]
    assert reply["chat_id"] in completion.completion.values


async def test_list_models_reads_the_public_catalogue_once_and_filters_by_family(sim: SimulatorState) -> None:
    async with mcp_session(sim, client_id=None, client_secret=None) as client:  # no credentials needed
        everything = await client.call_tool("list_models", {})
        anthropic = await client.call_tool("list_models", {"family": "anthropic"})
    assert everything.structured_content is not None and anthropic.structured_content is not None
    ids = [m["id"] for m in everything.structured_content["models"]]
    assert "gloo-anthropic-claude-sonnet-4.5" in ids and len(ids) == 5
    assert {m["family"] for m in anthropic.structured_content["models"]} == {"Anthropic"}
    assert sim.requests["models"] == 1  # cached


async def test_a_store_failure_after_gloo_answered_still_hands_over_the_answer(
    sim: SimulatorState, tmp_path: Any
) -> None:
    from gloo_mcp.chats.backends import CompletionsBackend
    from gloo_mcp.chats.store import LOCAL_OWNER, open_store
    from gloo_mcp.errors import StoreError
    from gloo_mcp.gloo.client import GlooClient
    from gloo_mcp.gloo.routing import Routing
    from gloo_mcp.models import MessageOptions
    from tests.conftest import sim_transport

    class FullDisk:
        """A real store whose writes fail, as on a full disk."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        async def record_turn(self, *args: Any, **kwargs: Any) -> None:
            raise StoreError("The conversation store failed (database or disk is full); try again.")

    store = await open_store(f"sqlite:///{tmp_path / 'chats.db'}")
    client = GlooClient.open(sim_settings(sim, backend="completions"), sim_transport(sim))
    backend = CompletionsBackend(client, FullDisk(store))  # type: ignore[arg-type]
    with pytest.raises(StoreError) as raised:
        await backend.send(
            "Keep my answer", owner=LOCAL_OWNER, chat_id=None, options=MessageOptions(), routing=Routing()
        )
    await client.aclose()
    await store.aclose()
    assert "disk is full" in raised.value.message and "not saved" in raised.value.message
    assert SIMULATOR_NOTICE in raised.value.message  # the answer itself is in the message


async def test_without_a_usable_store_the_message_backend_still_answers_and_list_chats_says_why(
    sim: SimulatorState, tmp_path: Any
) -> None:
    from pydantic import SecretStr

    (tmp_path / "blocker").write_text("a file where the store's directory should be")
    unusable = SecretStr(f"sqlite:///{tmp_path / 'blocker' / 'chats.db'}")
    async with mcp_session(sim, store_url=unusable) as client:
        reply = await client.call_tool("send_message", {"query": "Still answered?"})
        listed = await client.call_tool("list_chats", {})
    assert not reply.is_error
    assert listed.is_error and "GLOO_STORE_URL" in text(listed)


# --- odd answers: each is one sentence or a usable reply, never the SDK's opaque crash ---------------------

SSE, JSON = "text/event-stream", "application/json"
PATHS = pytest.mark.parametrize("path", ["sse", "json"])
NOTE = "[gloo-mcp: the answer stopped early, so it may be incomplete:"


def raw(body: bytes, content_type: str, *, gzipped: bool = False) -> Fault:
    """Answer the next completion with exactly ``body`` (compressed on the wire, then decoded in 1 MiB pieces)."""
    if gzipped:
        return Fault(
            malformed=True,
            body=gzip.compress(body),
            headers={"Content-Type": content_type, "Content-Encoding": "gzip"},
        )
    return Fault(malformed=True, body=body, headers={"Content-Type": content_type})


def events(*items: object) -> bytes:
    """An SSE body: each item a JSON value (or a raw string) as one event."""
    return b"".join(f"data: {i if isinstance(i, str) else json.dumps(i)}\n\n".encode() for i in items)


def answer(path: str, text: str = "Hello.", *, choices: list[Any] | None = None, **fields: Any) -> Fault:
    """A complete answer in ``path``'s shape; ``choices`` are placed before the one that carries ``text``."""
    if path == "json":
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        return raw(json.dumps({"id": "gen-1", **fields, "choices": [*(choices or []), choice]}).encode(), JSON)
    head = {"id": "gen-1", **fields, "choices": choices or []}
    last = {
        "id": fields.get("id", "gen-1"),
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}],
    }
    return raw(events(head, last), SSE)


def piece(text: str) -> dict[str, Any]:
    return {"id": "gen-1", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


@PATHS
async def test_an_html_answer_is_one_sentence_and_records_nothing(sim: SimulatorState, path: str) -> None:
    html = b"<html><body>Bad gateway</body></html>"
    sim.inject("completions", raw(html, JSON) if path == "json" else raw(b"data: " + html + b"\n\n", SSE))
    async with answer_only_session(sim) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
        listed = await client.call_tool("list_chats", {})
    expected = {
        "json": "Gloo answered with a body that is not a JSON object (application/json, 37 bytes); try again later.",
        "sse": "Gloo's answer stream carried an event that is not JSON; try again later.",
    }[path]
    assert result.is_error and text(result) == expected
    assert sim.requests["completions"] == 1
    assert listed.structured_content == {"chats": [], "next_cursor": None}


@PATHS
async def test_a_choice_that_is_not_an_object_is_skipped(sim: SimulatorState, path: str) -> None:
    sim.inject("completions", answer(path, "Hello.", choices=["junk", 7]))
    async with answer_only_session(sim) as client:
        reply = await ask(client, "hi")
    assert reply["answer"] == "Hello."
    assert sim.requests["completions"] == 1


@PATHS
async def test_a_citation_with_a_numeric_url_keeps_the_url_as_text(sim: SimulatorState, path: str) -> None:
    citations = [{"item_title": "Hope", "url": 404}, {"title": 1984, "url": {"odd": True}}, 7]
    sim.inject("completions", answer(path, citations=citations))
    async with answer_only_session(sim) as client:
        reply = await ask(client, "hi")
    assert [(s["title"], s["url"]) for s in reply["sources"]] == [("Hope", "404"), ("1984", None)]
    assert sim.requests["completions"] == 1


@PATHS
async def test_a_completion_id_that_is_not_a_string_is_replaced_by_one_of_gloo_mcps(
    sim: SimulatorState, path: str
) -> None:
    sim.inject("completions", answer(path, id={"not": "an id"}))
    async with answer_only_session(sim) as client:
        reply = await ask(client, "hi")
        history = await client.call_tool("get_chat_history", {"chat_id": reply["chat_id"]})
    assert reply["answer"] == "Hello." and reply["message_id"].startswith("gm-")
    assert history.structured_content is not None
    assert history.structured_content["messages"][1]["message_id"] == reply["message_id"]
    assert sim.requests["completions"] == 1


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        (b"data: <html>oops</html>\n\n", "Gloo's answer stream carried an event that is not JSON.]"),
        (b"", "the stream ended before Gloo finished the answer.]"),
        (b": keep-alive\n" * (9 * 1024 * 1024 // 13), "the stream passed 8 MiB and the rest was discarded.]"),
    ],
    ids=["an event that is not JSON", "an early end", "more than the cap"],
)
async def test_text_followed_by_a_stream_gone_bad_is_handed_over_with_a_note(
    sim: SimulatorState, tail: bytes, reason: str
) -> None:
    sim.inject("completions", raw(events(piece("Grace is "), piece("a gift")) + tail, SSE, gzipped=True))
    async with answer_only_session(sim) as client:
        reply = await ask(client, "What is grace?")
        history = await client.call_tool("get_chat_history", {"chat_id": reply["chat_id"]})
    assert reply["answer"].startswith("Grace is a gift\n\n" + NOTE) and reply["answer"].endswith(reason)
    assert history.structured_content is not None
    assert history.structured_content["messages"][1]["content"] == reply["answer"]  # stored as it was shown
    assert sim.requests["completions"] == 1


async def test_a_stream_that_ends_before_any_text_is_one_sentence(sim: SimulatorState) -> None:
    sim.inject("completions", raw(events({"id": "gen-1", "choices": []}) + b": bye\n\n", SSE))
    async with answer_only_session(sim) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
    assert result.is_error and text(result) == "Gloo's answer stream ended before any text arrived; try again."
    assert sim.requests["completions"] == 1


async def test_a_catalogue_entry_nested_too_deep_to_write_out_is_skipped(sim: SimulatorState) -> None:
    deep = "[" * 900 + "]" * 900
    catalogue = '{"data": [{"id": "gloo-deep", "pricing": DEEP}, {"id": "gloo-plain", "family": "Anthropic"}]}'
    catalogue = catalogue.replace("DEEP", deep)
    sim.inject("models", raw(catalogue.encode(), JSON))
    async with mcp_session(sim, client_id=None, client_secret=None) as client:
        listed = await client.call_tool("list_models", {})
    assert not listed.is_error and listed.structured_content is not None
    assert [m["id"] for m in listed.structured_content["models"]] == ["gloo-plain"]
    assert sim.requests["models"] == 1
