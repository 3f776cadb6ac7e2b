"""Reading Gloo tolerantly: lenient sources, Gloo's roles, naive timestamps, missing lists."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gloo_mcp.gloo.wire import WireChat, WireMessageReply
from gloo_mcp.models import Source


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"title": "T", "url": "https://a", "publisher": "P", "snippet": "S"}, ("T", "https://a", "P", "S")),
        (
            {"item_title": "T", "item_url": "https://a", "publisher_name": "P", "snippets": ["S", "S2"]},
            ("T", "https://a", "P", "S"),
        ),
        ({"name": "T", "link": "https://a", "text": "S"}, ("T", "https://a", None, "S")),
        ({"name": "T", "hosted_url": "https://h", "summary": "S"}, ("T", "https://h", None, "S")),
        ({"title": "", "item_title": "Fallback", "snippets": []}, ("Fallback", None, None, None)),
    ],
)
def test_source_fields_are_mapped_from_any_known_name(raw: dict[str, object], expected: tuple[object, ...]) -> None:
    source = Source.model_validate(raw)
    assert (source.title, source.url, source.publisher, source.snippet) == expected


def test_unknown_source_fields_are_kept() -> None:
    source = Source.model_validate({"item_title": "T", "certainty": 0.9, "author": ["A"], "type": "article"})
    dumped = source.model_dump()
    assert dumped["certainty"] == 0.9 and dumped["author"] == ["A"] and dumped["type"] == "article"
    assert "item_title" not in dumped  # mapped, not duplicated


def test_a_bare_string_source_is_kept_as_url_or_title() -> None:
    assert Source.model_validate("https://x.org/a").url == "https://x.org/a"
    assert Source.model_validate("A Book").title == "A Book"


def test_naive_timestamps_are_read_as_utc_and_prefixed_ids_pass() -> None:
    wire = WireMessageReply.model_validate(
        {
            "chat_id": "cb26ddd31-8cd8-4a5f-b1c2-123456789abc",
            "query_id": "q1",
            "message_id": "m1",
            "message": "hello",
            "timestamp": "2025-07-14T18:29:42.060759",
            "success": True,
            "sources": None,
            "suggestions": None,
            "model": "x",
            "intent": 1,
        }
    )
    reply = wire.to_reply()
    assert reply.timestamp == datetime(2025, 7, 14, 18, 29, 42, 60759, tzinfo=UTC)
    assert reply.sources == [] and reply.suggestions == []


def test_history_maps_kallm_to_assistant_and_passes_unknown_roles_through() -> None:
    chat = WireChat.model_validate(
        {
            "chat_id": "c1",
            "title": "T",
            "created_at": "2025-07-14T18:29:42.060759",
            "pin": False,
            "messages": [
                {"role": "user", "message": "q", "query_id": "q1", "message_id": "m1"},
                {
                    "role": "kallm",
                    "message": "a",
                    "query_id": "q1",
                    "message_id": "m2",
                    "sources": [{"item_title": "S"}],
                    "suggestions": ["next?"],
                },
                {"role": "system", "message": "note"},
            ],
        }
    ).to_history()
    assert [m.role for m in chat.messages] == ["user", "assistant", "system"]
    assert chat.messages[1].sources[0].title == "S" and chat.messages[1].suggestions == ["next?"]
    assert chat.created_at is not None and chat.created_at.tzinfo is UTC


def test_history_with_no_messages_is_an_empty_conversation() -> None:
    assert WireChat.model_validate({"chat_id": "c1", "messages": None}).to_history().messages == []
