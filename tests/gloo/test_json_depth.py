"""How deep a Gloo body may nest does not depend on how deep the call that reads it runs."""

from __future__ import annotations

import pytest

from gloo_mcp.errors import BadResponseError
from gloo_mcp.gloo.bodies import json_object

DEEP = ('{"sources": [{"shape": ' + "[" * 900 + "]" * 900 + "}]}").encode()


def _from_a_deep_stack(frames: int, body: bytes) -> object:
    """``json_object(body)`` called with ``frames`` more frames on the stack (as middleware and spans add)."""
    if frames:
        return _from_a_deep_stack(frames - 1, body)
    return json_object(body, "application/json")


def test_a_body_nested_900_deep_parses_even_from_a_deep_call_stack() -> None:
    parsed = _from_a_deep_stack(300, DEEP)
    assert isinstance(parsed, dict) and len(parsed["sources"]) == 1


def test_a_body_nested_deeper_than_any_stack_is_one_unreadable_body_sentence() -> None:
    with pytest.raises(BadResponseError) as refused:
        json_object(("[" * 200_000 + "]" * 200_000).encode(), "application/json")
    assert "not a JSON object" in refused.value.message
