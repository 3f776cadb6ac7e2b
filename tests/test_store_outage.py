"""A per-user (OAuth) server through a store outage: refused before Gloo while it lasts, recovered after.

Real HTTP sessions signed in by a real authorization server (oidc-provider), on SQLite
(a file where the store's directory must be, then removed) and on a real PostgreSQL
server stopped and started again under the running gloo-mcp.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult
from pydantic import SecretStr

from gloo_mcp.chats.store import open_store
from gloo_mcp.simulator import SimulatorState
from tests.oidc_provider import AuthorizationServer
from tests.postgres_server import PostgresServer, running_postgres_server
from tests.test_http import http_client
from tests.test_team import SCOPE, team_server

UNAVAILABLE = "its conversation store is unavailable"


def _text(result: CallToolResult) -> str:
    return result.content[0].text  # type: ignore[union-attr]


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    try:
        with running_postgres_server(Path(tempfile.mkdtemp(prefix="gloo-mcp-pg-"))) as server:
            yield server
    except RuntimeError as reason:
        pytest.skip(f"no PostgreSQL server could run here: {reason}")


async def _answered_once_back(client: Client, query: str) -> CallToolResult:
    """send_message, retried while the store is still reported unavailable (bounded: the server backs off ~2 s)."""
    with anyio.fail_after(30):
        while True:
            result = await client.call_tool("send_message", {"query": query})
            if not (result.is_error and UNAVAILABLE in _text(result)):
                return result
            await anyio.sleep(0.1)


@pytest.mark.parametrize("backend", ["message", "completions"])
async def test_a_per_user_server_refuses_a_new_conversation_before_gloo_while_its_store_is_unusable(
    sim: SimulatorState, authorization_server: AuthorizationServer, tmp_path: Path, backend: str
) -> None:
    (tmp_path / "blocker").write_text("a file where the store's directory should be")
    unusable = SecretStr(f"sqlite:///{tmp_path / 'blocker' / 'chats.db'}")
    token = await authorization_server.token("alice", scopes=[SCOPE])
    with team_server(sim, authorization_server.issuer, store_url=unusable, backend=backend) as base:
        async with http_client(f"{base}/mcp", token) as alice:
            sent = await alice.call_tool("send_message", {"query": "Still answered?"})
    assert sent.is_error and sent.structured_content is None
    assert "has not asked Gloo; try again in a few seconds" in _text(sent)
    assert "blocker" not in _text(sent)  # the store's location is for the logs, not the caller
    assert sim.requests.total() == 0


async def test_a_per_user_sqlite_server_recovers_by_itself_once_its_store_is_usable(
    sim: SimulatorState, authorization_server: AuthorizationServer, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the store's directory should be")
    url = f"sqlite:///{blocker / 'chats.db'}"
    token = await authorization_server.token("alice", scopes=[SCOPE])
    with team_server(sim, authorization_server.issuer, store_url=SecretStr(url)) as base:
        async with http_client(f"{base}/mcp", token) as alice:
            during = await alice.call_tool("send_message", {"query": "During the outage"})
            blocker.unlink()
            sent = await _answered_once_back(alice, "After the outage")
            chat_id = sent.structured_content["chat_id"]  # type: ignore[index]
            continued = await alice.call_tool("continue_chat", {"chat_id": chat_id, "query": "And then?"})
            history = await alice.call_tool("get_chat_history", {"chat_id": chat_id})
            listed = await alice.call_tool("list_chats", {})
    assert during.is_error and UNAVAILABLE in _text(during)
    assert not sent.is_error and not continued.is_error and not history.is_error
    assert [m["content"] for m in history.structured_content["messages"] if m["role"] == "user"] == [  # type: ignore[index]
        "After the outage",
        "And then?",
    ]
    assert [chat["chat_id"] for chat in listed.structured_content["chats"]] == [chat_id]  # type: ignore[index]
    store = await open_store(url)
    try:
        chats, _ = await store.list_chats(
            owner=f"{authorization_server.issuer}#alice", text=None, limit=10, cursor=None
        )
    finally:
        await store.aclose()
    assert [chat.chat_id for chat in chats] == [chat_id]  # recorded: one row, the answered chat's
    assert sim.requests["message"] == 2  # the refused call never reached Gloo


@pytest.mark.parametrize("backend", ["message", "completions"])
async def test_a_per_user_server_rides_out_a_postgresql_restart_without_restarting(
    sim: SimulatorState, authorization_server: AuthorizationServer, postgres: PostgresServer, backend: str
) -> None:
    token = await authorization_server.token("alice", scopes=[SCOPE])
    settings: dict[str, Any] = {"store_url": SecretStr(postgres.url), "backend": backend, "enable_suggestions": False}
    with team_server(sim, authorization_server.issuer, **settings) as base:
        async with http_client(f"{base}/mcp", token) as alice:
            before = await alice.call_tool("send_message", {"query": "Before the restart"})
            chat_id = before.structured_content["chat_id"]  # type: ignore[index]
            postgres.stop()
            asked_before_down = sim.requests.total()
            down = [
                await alice.call_tool("send_message", {"query": "While it is down"}),
                await alice.call_tool("continue_chat", {"chat_id": chat_id, "query": "While it is down"}),
                await alice.call_tool("get_chat_history", {"chat_id": chat_id}),
            ]
            asked_while_down = sim.requests.total() - asked_before_down
            postgres.start()
            after = await _answered_once_back(alice, "After the restart")
            continued = await alice.call_tool("continue_chat", {"chat_id": chat_id, "query": "Still there?"})
            history = await alice.call_tool("get_chat_history", {"chat_id": chat_id})
    assert not before.is_error
    assert all(result.is_error and UNAVAILABLE in _text(result) for result in down), [_text(r) for r in down]
    assert asked_while_down == 0  # nothing reached Gloo that could not be recorded
    assert not after.is_error and not continued.is_error and not history.is_error
    questions = [m["content"] for m in history.structured_content["messages"] if m["role"] == "user"]  # type: ignore[index]
    assert questions == ["Before the restart", "Still there?"]
