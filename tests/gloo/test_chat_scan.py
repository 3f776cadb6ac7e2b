"""A chat's history read holds its body once: peak memory near the body's size, never a multiple of the cap.

Gloo hands over whole chats (no paging), so the history read has a 64 MiB cap. Peaks are
the process's Python allocations while the call runs (tracemalloc, as in
tests/test_upstream_bounds.py: a memory bound, not a time bound). Bodies are built before
tracing starts and sent gzip-compressed, so what is counted is what gloo-mcp holds: the
inflated body, where each message lies, and the page it returns.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from gloo_mcp.chats.paging import scan_page
from gloo_mcp.errors import BadResponseError
from gloo_mcp.gloo.bodies import HISTORY_BODY_BYTES
from gloo_mcp.gloo.chat_scan import MESSAGE_BYTES, MESSAGE_NESTING, ChatScan
from gloo_mcp.gloo.retry import RetryPolicy
from gloo_mcp.simulator import Fault, SimulatorState
from tests.conftest import FakeSleep, mcp_session
from tests.test_upstream_bounds import assert_one_sentence, text, traced_call

MIB = 1024 * 1024
SPARE = 9 / 8
"""A bytearray grows with an eighth to spare: the most the buffer can hold beyond the body."""
EMOJI = "\U0001f600"
"""One in each message: decoded whole, the body would take 4 bytes a character as a Python string."""


def chat_body(size: int, *, chat_id: str = "cbig") -> tuple[bytes, int]:
    """A Gloo chat body of about ``size`` bytes of realistic turns (UTF-8, an emoji in each), and its message count."""
    head = json.dumps({"chat_id": chat_id, "title": f"Big {EMOJI}", "created_at": "2026-01-01T00:00:00"})
    parts = [head[:-1].encode(), b', "messages": [']
    total, n = 0, 0
    while total < size:
        message = {
            "role": "user" if n % 2 == 0 else "kallm",
            "message": f"turn {n} {EMOJI} " + "words " * 600,
            "message_id": f"m{n}",
            "query_id": f"q{n // 2}",
            "timestamp": "2026-01-01T00:00:00",
            "sources": [{"title": "A [bracketed] {title}", "url": 'https://example.org/\\"', "snippet": "]}"}],
            "suggestions": ["Why?"],
        }
        parts.append((b", " if n else b"") + json.dumps(message, ensure_ascii=False).encode())
        total += len(parts[-1])
        n += 1
    parts.append(b"]}")
    return b"".join(parts), n


def gzipped(body: bytes) -> Fault:
    return Fault(malformed=True, body=gzip.compress(body, 6), headers={"Content-Encoding": "gzip"})


def cursor(before: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": before}).encode()).decode().rstrip("=")


async def test_a_60_mib_chat_is_paged_holding_little_more_than_its_body(sim: SimulatorState) -> None:
    body, count = chat_body(60 * MIB)
    async with mcp_session(sim) as client:
        seeded = await client.call_tool("send_message", {"query": "seed"})
        assert seeded.structured_content is not None
        chat_id = seeded.structured_content["chat_id"]
        sim.inject("chat", gzipped(body))
        newest, peak = await traced_call(client, "get_chat_history", {"chat_id": chat_id})
        oldest, _ = await traced_call(client, "get_chat_history", {"chat_id": chat_id, "cursor": cursor(2)})
    assert not newest.is_error, text(newest)
    page = newest.structured_content
    assert page is not None and page["total_messages"] == count and page["title"] == f"Big {EMOJI}"
    assert page["messages"][-1]["message_id"] == f"m{count - 1}" and EMOJI in page["messages"][-1]["content"]
    assert peak < len(body) * SPARE + 4 * MIB, f"peak {peak / MIB:.1f} MiB for a {len(body) / MIB:.1f} MiB body"
    assert oldest.structured_content is not None
    assert [m["message_id"] for m in oldest.structured_content["messages"]] == ["m0", "m1"]
    assert sim.requests["chat"] == 1  # the older page was cut from the same scan


async def test_a_gzip_bomb_on_a_history_read_holds_at_most_the_cap_and_its_spare_eighth(sim: SimulatorState) -> None:
    async with mcp_session(sim, retry=RetryPolicy(sleep=FakeSleep())) as client:
        seeded = await client.call_tool("send_message", {"query": "seed"})
        assert seeded.structured_content is not None
        sim.inject("chat", Fault(bomb="json"))
        result, peak = await traced_call(client, "get_chat_history", {"chat_id": seeded.structured_content["chat_id"]})
    assert_one_sentence(result, "exceeded 64 MiB (after decompression) and was discarded; try again later.")
    assert peak < HISTORY_BODY_BYTES * SPARE + 4 * MIB, f"peak {peak / MIB:.1f} MiB"


async def test_a_chat_of_the_smallest_messages_costs_at_most_a_third_more_for_where_they_lie(
    sim: SimulatorState,
) -> None:
    """The densest body: a message of 12 bytes (the least that names a role) costs 4 bytes of offset.

    The page is the most messages a page can hold (2,000 of these in 24 kB), about 4 MiB of objects and text.
    """
    body = b'{"chat_id":"c1","messages":[' + b",".join([b'{"role":"u"}'] * (3 * MIB // 13)) + b"]}"
    async with mcp_session(sim) as client:
        seeded = await client.call_tool("send_message", {"query": "seed"})
        assert seeded.structured_content is not None
        sim.inject("chat", gzipped(body))
        result, peak = await traced_call(client, "get_chat_history", {"chat_id": seeded.structured_content["chat_id"]})
    assert not result.is_error, text(result)
    assert result.structured_content is not None and result.structured_content["total_messages"] == 3 * MIB // 13
    assert peak < len(body) * SPARE * (1 + 1 / 3) + 6 * MIB, f"peak {peak / MIB:.1f} MiB for {len(body) / MIB:.1f} MiB"


async def test_a_page_of_one_message_at_the_message_cap_costs_a_bounded_multiple_of_it(sim: SimulatorState) -> None:
    big = json.dumps({"role": "kallm", "message": EMOJI + "w" * (MESSAGE_BYTES - 100)}, ensure_ascii=False)
    body = ('{"chat_id": "c1", "messages": [{"role": "user", "message": "q"}, ' + big + "]}").encode()
    async with mcp_session(sim) as client:
        seeded = await client.call_tool("send_message", {"query": "seed"})
        assert seeded.structured_content is not None
        sim.inject("chat", gzipped(body))
        result, peak = await traced_call(client, "get_chat_history", {"chat_id": seeded.structured_content["chat_id"]})
    assert not result.is_error, text(result)
    assert result.structured_content is not None and len(result.structured_content["messages"]) == 1
    assert peak < 10 * MESSAGE_BYTES, f"peak {peak / MIB:.1f} MiB"


async def test_a_message_larger_than_any_answer_is_one_sentence_on_its_page_and_the_newer_pages_still_read(
    sim: SimulatorState,
) -> None:
    huge = json.dumps({"role": "kallm", "message": "w" * (MESSAGE_BYTES + 1)})
    small = [json.dumps({"role": "user", "message": f"q{n}", "message_id": f"m{n}"}) for n in range(3)]
    body = ('{"chat_id": "c1", "messages": [' + ", ".join([small[0], huge, *small[1:]]) + "]}").encode()
    async with mcp_session(sim) as client:
        seeded = await client.call_tool("send_message", {"query": "seed"})
        assert seeded.structured_content is not None
        chat_id = seeded.structured_content["chat_id"]
        sim.inject("chat", gzipped(body))
        newest = await client.call_tool("get_chat_history", {"chat_id": chat_id})
        assert newest.structured_content is not None
        older = await client.call_tool(
            "get_chat_history", {"chat_id": chat_id, "cursor": newest.structured_content["next_cursor"]}
        )
    assert [m["message_id"] for m in newest.structured_content["messages"]] == ["m1", "m2"]
    assert_one_sentence(older, "Gloo's chat history is not the JSON it documents (a message of 2,097,")
    assert "more than any answer Gloo sends); try again later." in text(older)


TRICKY: list[dict[str, Any]] = [
    {"role": "user", "message": 'brackets ]}[{ and a quote \\" inside', "message_id": "a"},
    {"role": "kallm", "message": "escapes \\\\ \\n \u00e9 \U0001f600 \\u005d", "message_id": "b", "sources": [{}]},
    {"role": "user", "message": "", "message_id": "c", "suggestions": [], "deep": [[[{"x": [1, 2.5e3, None]}]]]},
    {"role": "kallm", "message": "last", "message_id": "d", "sources": [{"title": "t", "nested": {"a": "}"}}]},
]


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": "), (" ,\n\t", " :\r\n ")])
@pytest.mark.parametrize("kind", [bytes, bytearray])
def test_the_scan_finds_each_message_whatever_its_strings_and_spacing_hold(
    separators: tuple[str, str], kind: type[bytes] | type[bytearray]
) -> None:
    raw = json.dumps(
        {"pin": [1, {"]": "["}], "chat_id": "c1", "messages": TRICKY, "title": "T", "summary": None},
        separators=separators,
        ensure_ascii=False,
        indent=None,
    )
    scan = ChatScan.of(kind(f" \n{raw}\n ".encode()))
    assert scan.total == len(TRICKY)
    pages = [scan_page(scan, before, budget=1) for before in range(len(TRICKY), 0, -1)]
    assert [p.messages[0].message_id for p in pages] == ["d", "c", "b", "a"]
    assert [p.messages[0].content for p in reversed(pages)] == [m["message"] for m in TRICKY]
    assert pages[0].title == "T" and pages[0].messages[0].sources[0].model_extra == {"nested": {"a": "}"}}
    whole = scan_page(scan, None, budget=10**6)
    assert [m.message_id for m in whole.messages] == ["a", "b", "c", "d"] and not whole.has_more


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"chat_id": "c1", "messages": [{}]}', "a message too short to name its role"),
        (b'{"chat_id": "c1", "messages": [{"role": "u"}], "messages": []}', "not a JSON object"),
        (b'{"chat_id": "c1", "messages": [{"role": "u", "message": "unterminated}]}', "not a JSON object"),
        (b'{"chat_id": "c1", "messages": ["a string"]}', "not a JSON object"),
        (b'{"chat_id": "c1", "messages": [{"role": "u"}] "title": "T"}', "not a JSON object"),
        (b'{"chat_id": "c1", "title": "' + b"t" * 70_000 + b'", "messages": []}', "title longer than 64 KiB"),
        (
            b'{"chat_id": "c1", "messages": [{"role": "u", "x": '
            + b"[" * (MESSAGE_NESTING + 1)
            + b"]" * (MESSAGE_NESTING + 1)
            + b"}]}",
            "not a JSON object",
        ),
    ],
)
def test_a_chat_body_the_scan_cannot_step_through_is_one_sentence(body: bytes, says: str) -> None:
    with pytest.raises(BadResponseError) as raised:
        ChatScan.of(body)
    assert says in raised.value.message and "\n" not in raised.value.message


def test_a_message_nested_as_deep_as_pydantic_parses_is_read() -> None:
    depth = MESSAGE_NESTING
    body = b'{"chat_id": "c1", "messages": [{"role": "u", "x": ' + b"[" * depth + b"]" * depth + b"}]}"
    assert scan_page(ChatScan.of(body), None).messages[0].role == "u"


def test_a_scan_counts_what_it_holds_for_the_snapshot_cache() -> None:
    body, count = chat_body(1 * MIB)
    scan = ChatScan.of(bytearray(body))
    assert scan.total == count
    assert len(body) <= scan.size <= len(body) * SPARE + 4 * count + 4096
