"""Property tests: arbitrary arguments at every tool end in a result or a clean error; the server stays up."""

from __future__ import annotations

from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp_types import TextContent

from gloo_mcp.simulator import SimulatorState
from tests.conftest import TOOL_NAMES, mcp_session

anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)
query = st.text(max_size=300) | st.text(alphabet=" \t\n", max_size=5) | anything
limit = st.integers(min_value=-(10**12), max_value=10**12) | anything
chat_id = st.text(max_size=250) | st.from_regex(r"c[0-9a-f-]{1,40}", fullmatch=True) | anything

send_args = st.fixed_dictionaries(
    {"query": query},
    optional={
        "character_limit": limit,
        "sources_limit": limit,
        "publishers": st.lists(st.text(max_size=30), max_size=4) | anything,
        "enable_suggestions": anything,
        "model": st.text(max_size=40) | anything,
        "model_family": st.sampled_from(["openai", "anthropic", "nope"]) | anything,
        "auto_routing": anything,
        "tradition": st.sampled_from(["catholic", "not_faith_specific"]) | anything,
        "unexpected": anything,
    },
)
calls = st.one_of(
    st.tuples(st.just("send_message"), send_args),
    st.tuples(st.just("continue_chat"), send_args.flatmap(lambda a: chat_id.map(lambda c: {**a, "chat_id": c}))),
    st.tuples(st.just("get_chat_history"), st.fixed_dictionaries({"chat_id": chat_id})),
    st.tuples(
        st.just("list_chats"),
        st.fixed_dictionaries({}, optional={"query": query, "limit": limit, "cursor": st.text(max_size=60) | anything}),
    ),
    st.tuples(st.sampled_from(["send_message", "get_chat_history"]), st.dictionaries(st.text(max_size=8), anything)),
)


async def _run_calls(batch: list[tuple[str, dict[str, Any]]]) -> None:
    sim = SimulatorState()
    async with mcp_session(sim) as client:
        for name, arguments in batch:
            result = await client.call_tool(name, arguments)
            texts = [c.text for c in result.content if isinstance(c, TextContent)]
            assert texts and all(t.strip() for t in texts)
            if result.is_error:
                assert result.structured_content is None
                assert "Traceback" not in texts[0]
                assert texts[0] != f"Error executing tool {name}"  # never the SDK's opaque crash text
            else:
                assert result.structured_content is not None
        assert len((await client.list_tools()).tools) == len(TOOL_NAMES)  # still serving


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(calls, min_size=1, max_size=12))
def test_arbitrary_arguments_end_in_a_result_or_a_clean_error(batch: list[tuple[str, dict[str, Any]]]) -> None:
    anyio.run(_run_calls, batch)
