"""The conversation store's contract, on SQLite and on a real PostgreSQL server, and under concurrent writers."""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from gloo_mcp.chats.store import LOCAL_OWNER, ConversationStore, describe_url, open_store
from gloo_mcp.errors import ChatNotFoundError, StoreError
from gloo_mcp.models import ChatMessage
from gloo_mcp.simulator import SimulatorState, running_simulator
from tests.postgres_server import running_postgres

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    configured = os.environ.get("GLOO_MCP_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    try:
        with running_postgres(Path(tempfile.mkdtemp(prefix="gloo-mcp-pg-"))) as url:
            yield url
    except RuntimeError as reason:
        pytest.skip(f"no PostgreSQL server could run here: {reason}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'chats.db'}"
    base: str = request.getfixturevalue("postgres_url")
    return _fresh_database(base)


def _fresh_database(base: str) -> str:
    """A database of its own for each test, so tests share the server but not the tables."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[ConversationStore]:
    opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.aclose()


def turn(n: int) -> list[ChatMessage]:
    return [
        ChatMessage(role="user", content=f"question {n}", query_id=f"q{n}"),
        ChatMessage(role="assistant", content=f"answer {n}", query_id=f"q{n}", suggestions=[]),
    ]


async def test_a_turn_is_recorded_with_its_messages_in_order(store: ConversationStore) -> None:
    await store.record_turn(
        "gm-1", owner=LOCAL_OWNER, backend="completions", title="First question", at=T0, messages=turn(1)
    )
    await store.record_turn(
        "gm-1",
        owner=LOCAL_OWNER,
        backend="completions",
        title="ignored",
        at=T0 + timedelta(minutes=5),
        messages=turn(2),
    )
    chat = await store.chat("gm-1", owner=LOCAL_OWNER)
    messages = await store.messages("gm-1", owner=LOCAL_OWNER)
    assert chat is not None and chat.title == "First question" and chat.backend == "completions"
    assert chat.created_at == T0 and chat.updated_at == T0 + timedelta(minutes=5)
    assert [m.content for m in messages] == ["question 1", "answer 1", "question 2", "answer 2"]
    assert (
        await store.chat("gm-unknown", owner=LOCAL_OWNER) is None
        and await store.messages("gm-unknown", owner=LOCAL_OWNER) == []
    )


async def test_chats_list_newest_first_filtered_and_paged(store: ConversationStore) -> None:
    for n in range(5):
        await store.record_turn(
            f"c{n}", owner=LOCAL_OWNER, backend="message", title=f"About topic {n} 100%_sure", at=T0 + timedelta(n)
        )
    page, cursor = await store.list_chats(owner=LOCAL_OWNER, text=None, limit=2, cursor=None)
    rest, end = await store.list_chats(owner=LOCAL_OWNER, text=None, limit=10, cursor=cursor)
    assert [c.chat_id for c in page] == ["c4", "c3"] and cursor is not None
    assert [c.chat_id for c in rest] == ["c2", "c1", "c0"] and end is None
    by_title, _ = await store.list_chats(owner=LOCAL_OWNER, text="TOPIC 2", limit=10, cursor=None)
    by_id, _ = await store.list_chats(owner=LOCAL_OWNER, text="c3", limit=10, cursor=None)
    wildcard, _ = await store.list_chats(
        owner=LOCAL_OWNER, text="%_", limit=10, cursor=None
    )  # matched literally, not as a pattern
    assert [c.chat_id for c in by_title] == ["c2"] and [c.chat_id for c in by_id] == ["c3"]
    assert len(wildcard) == 5
    none, _ = await store.list_chats(owner=LOCAL_OWNER, text="_x%", limit=10, cursor=None)
    assert none == []


async def test_concurrent_turns_on_one_chat_are_all_kept_in_whole_pairs(store: ConversationStore) -> None:
    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(
                lambda n=n: store.record_turn(
                    "gm-busy", owner=LOCAL_OWNER, backend="completions", title="t", at=T0, messages=turn(n)
                )
            )
    messages = await store.messages("gm-busy", owner=LOCAL_OWNER)
    assert len(messages) == 40
    pairs = [(messages[i].query_id, messages[i + 1].query_id) for i in range(0, 40, 2)]
    assert all(q == a for q, a in pairs) and len({q for q, _ in pairs}) == 20


async def test_an_unwritable_sqlite_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError) as raised:
        await open_store(f"sqlite:///{blocker / 'chats.db'}")
    assert "GLOO_STORE_URL" in raised.value.message


async def test_an_unreachable_postgresql_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as raised:
        await open_store("postgresql://gloo:hunter2secret@127.0.0.1:9/db")
    assert "hunter2secret" not in raised.value.message and "127.0.0.1:9" in raised.value.message
    assert describe_url("postgresql://u:pw@db.example:5432/x") == "postgresql://db.example:5432/x"


# --- two server processes, one store ----------------------------------------------------


async def _hammer(url: str, store_url: str, sim: SimulatorState, chat_id: str, label: str, turns: int) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "GLOO_BASE_URL": url,
        "GLOO_API_KEY": sim.api_key,
        "GLOO_BACKEND": "completions",
        "GLOO_STORE_URL": store_url,
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "gloo_mcp"], env=env)
    async with Client(params) as client:
        for n in range(turns):
            result = await client.call_tool("continue_chat", {"chat_id": chat_id, "query": f"{label} {n}"})
            assert not result.is_error, result.content
            fresh = await client.call_tool("send_message", {"query": f"{label} new {n}"})
            assert not fresh.is_error, fresh.content


@pytest.mark.load  # two server processes: with the end-to-end runs (pytest -m load, .ci/run)
async def test_two_server_processes_writing_one_store_lose_no_turns(store_url: str) -> None:
    sim, turns = SimulatorState(), 8
    seed = await open_store(store_url)
    await seed.record_turn(
        "gm-shared", owner=LOCAL_OWNER, backend="completions", title="Shared", at=datetime.now(UTC), messages=turn(0)
    )
    with running_simulator(sim) as url:
        async with anyio.create_task_group() as group:
            for label in ("alpha", "beta"):
                group.start_soon(_hammer, url, store_url, sim, "gm-shared", label, turns)
    messages = await seed.messages("gm-shared", owner=LOCAL_OWNER)
    chats, _ = await seed.list_chats(owner=LOCAL_OWNER, text=None, limit=100, cursor=None)
    await seed.aclose()
    questions = [m.content for m in messages if m.role == "user"]
    assert len(messages) == 2 + 2 * 2 * turns
    assert [m.role for m in messages] == ["user", "assistant"] * (1 + 2 * turns)  # whole turns, never interleaved
    assert sorted(questions[1:]) == sorted(f"{label} {n}" for label in ("alpha", "beta") for n in range(turns))
    assert len(chats) == 1 + 2 * turns
    if store_url.startswith("sqlite:///"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_http_replicas_sharing_postgresql_continue_each_others_conversations(postgres_url: str) -> None:
    """Two stateless HTTP replicas behind one endpoint: a turn on either continues the same conversation."""
    from pydantic import SecretStr

    from tests.conftest import sim_settings
    from tests.test_http import http_client, running_http

    sim = SimulatorState()
    settings = sim_settings(sim, backend="completions", store_url=SecretStr(_fresh_database(postgres_url)))
    with running_http(sim, settings=settings) as replica_a, running_http(sim, settings=settings) as replica_b:
        async with http_client(replica_a) as a:
            chat_id = (await a.call_tool("send_message", {"query": "Asked on A"})).structured_content["chat_id"]  # type: ignore[index]
        async with http_client(replica_b) as b:
            more = await b.call_tool("continue_chat", {"chat_id": chat_id, "query": "Continued on B"})
            listed = await b.call_tool("list_chats", {})
    assert not more.is_error and "Following up (question 2)" in more.structured_content["answer"]  # type: ignore[index]
    assert [c["chat_id"] for c in listed.structured_content["chats"]] == [chat_id]  # type: ignore[index]


async def test_a_sqlite_write_waits_for_another_process_lock_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "chats.db"
    store = await open_store(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)  # stands in for a second gloo-mcp process
    other.execute("BEGIN IMMEDIATE")
    done = anyio.Event()

    async def write() -> None:
        await store.record_turn("gm-wait", owner=LOCAL_OWNER, backend="completions", title="t", at=T0, messages=turn(1))
        done.set()

    async with anyio.create_task_group() as group:
        group.start_soon(write)
        await anyio.sleep(0.3)
        assert not done.is_set()  # waiting on a worker thread, not failed
        other.execute("COMMIT")
        with anyio.fail_after(10):
            await done.wait()
    other.close()
    assert len(await store.messages("gm-wait", owner=LOCAL_OWNER)) == 2
    await store.aclose()


# The schema every store had before versions were recorded (release 0.1), as its users' files hold it.
SQLITE_V1 = """
CREATE TABLE chats (chat_id TEXT PRIMARY KEY, title TEXT NOT NULL, backend TEXT NOT NULL,
                    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX chats_by_update ON chats (updated_at DESC, chat_id DESC);
CREATE TABLE messages (chat_id TEXT NOT NULL REFERENCES chats (chat_id), position INTEGER NOT NULL,
                       body TEXT NOT NULL, PRIMARY KEY (chat_id, position));
"""
POSTGRES_V1 = [
    "CREATE TABLE gloo_mcp_chats (chat_id TEXT PRIMARY KEY, title TEXT NOT NULL, backend TEXT NOT NULL, "
    "created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",
    "CREATE INDEX gloo_mcp_chats_by_update ON gloo_mcp_chats (updated_at DESC, chat_id DESC)",
    "CREATE TABLE gloo_mcp_messages (chat_id TEXT NOT NULL REFERENCES gloo_mcp_chats (chat_id), "
    "position INTEGER NOT NULL, body JSONB NOT NULL, PRIMARY KEY (chat_id, position))",
]
OLD_ROWS = [(f"c{n}", f"Old question {n} about {'hope' if n % 2 else 'work'}") for n in range(30)]


def _write_v1_sqlite(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.executescript(SQLITE_V1)
        for n, (chat_id, title) in enumerate(OLD_ROWS):
            stamp = (T0 + timedelta(minutes=n)).isoformat()
            db.execute("INSERT INTO chats VALUES (?, ?, 'completions', ?, ?)", (chat_id, title, stamp, stamp))
            db.execute("INSERT INTO messages VALUES (?, 0, ?)", (chat_id, turn(n)[0].model_dump_json()))
    db.close()


def _write_v1_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        for statement in POSTGRES_V1:
            db.execute(statement)
        for n, (chat_id, title) in enumerate(OLD_ROWS):
            stamp = T0 + timedelta(minutes=n)
            db.execute(
                "INSERT INTO gloo_mcp_chats VALUES (%s, %s, 'completions', %s, %s)", (chat_id, title, stamp, stamp)
            )
            db.execute("INSERT INTO gloo_mcp_messages VALUES (%s, 0, %s)", (chat_id, turn(n)[0].model_dump_json()))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_store_written_by_the_previous_schema_is_upgraded_in_place_without_losing_a_row(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        path = tmp_path / "old" / "chats.db"
        _write_v1_sqlite(path)
        url = f"sqlite:///{path}"
    else:
        url = _fresh_database(request.getfixturevalue("postgres_url"))
        _write_v1_postgres(url)
    store = await open_store(url)
    try:
        everything, cursor = await store.list_chats(owner=LOCAL_OWNER, text=None, limit=100, cursor=None)
        hope, _ = await store.list_chats(owner=LOCAL_OWNER, text="HOPE", limit=100, cursor=None)
        await store.record_turn(
            "c-new", owner=LOCAL_OWNER, backend="completions", title="A new hopeful question", at=T0 + timedelta(days=1)
        )
        after, _ = await store.list_chats(owner=LOCAL_OWNER, text="hope", limit=100, cursor=None)
        first_messages = await store.messages("c0", owner=LOCAL_OWNER)
    finally:
        await store.aclose()
    assert sorted(chat.chat_id for chat in everything) == sorted(chat_id for chat_id, _ in OLD_ROWS)
    assert cursor is None
    assert [chat.chat_id for chat in hope] == [f"c{n}" for n in range(29, 0, -2)]  # newest first
    assert after[0].chat_id == "c-new" and len(after) == len(hope) + 1
    assert [m.content for m in first_messages] == ["question 0"]
    reopened = await open_store(url)  # a second open finds nothing left to migrate
    try:
        others, _ = await reopened.list_chats(owner="https://idp.example#someone", text=None, limit=100, cursor=None)
        foreign = await reopened.chat("c0", owner="https://idp.example#someone")
    finally:
        await reopened.aclose()
    assert others == [] and foreign is None  # rows from before owners belong to the local principal alone


@pytest.mark.parametrize("text", ["Old question 1", "ld q", "hope", "o"])
async def test_title_search_finds_substrings_of_any_length_in_any_case(store: ConversationStore, text: str) -> None:
    for n, (chat_id, title) in enumerate(OLD_ROWS):
        await store.record_turn(
            chat_id, owner=LOCAL_OWNER, backend="message", title=title, at=T0 + timedelta(minutes=n)
        )
    found, _ = await store.list_chats(owner=LOCAL_OWNER, text=text.upper(), limit=100, cursor=None)
    expected = [chat_id for chat_id, title in reversed(OLD_ROWS) if text.lower() in title.lower()]
    assert [chat.chat_id for chat in found] == expected


async def test_paging_backwards_through_a_long_chat_returns_every_message_once_in_order(
    store: ConversationStore,
) -> None:
    for n in range(300):
        await store.record_turn(
            "gm-long", owner=LOCAL_OWNER, backend="completions", title="Long", at=T0, messages=turn(n)
        )
    seen: list[str] = []
    before: int | None = None
    pages = 0
    while before != 0:
        page = await store.newest_messages("gm-long", owner=LOCAL_OWNER, before=before, budget=4_000)
        assert page.total == 600 and page.messages
        assert sum(len(m.model_dump_json()) for m in page.messages) <= 4_000
        seen = [m.content for m in page.messages] + seen
        before, pages = page.start, pages + 1
    assert seen == [text for n in range(300) for text in (f"question {n}", f"answer {n}")]
    assert pages > 10


async def test_a_message_larger_than_the_budget_still_makes_a_page_of_its_own(store: ConversationStore) -> None:
    big = ChatMessage(role="assistant", content="x" * 10_000)
    await store.record_turn(
        "gm-big", owner=LOCAL_OWNER, backend="completions", title="Big", at=T0, messages=[*turn(1), big]
    )
    page = await store.newest_messages("gm-big", owner=LOCAL_OWNER, before=None, budget=1_000)
    assert [m.content for m in page.messages] == [big.content] and page.start == 2


async def test_a_chat_belongs_to_its_owner_alone(store: ConversationStore) -> None:
    alice, bob = "https://idp.example#alice", "https://idp.example#bob"
    await store.record_turn("gm-a", owner=alice, backend="completions", title="Alice's", at=T0, messages=turn(1))
    with pytest.raises(ChatNotFoundError):
        await store.record_turn("gm-a", owner=bob, backend="completions", title="Bob's", at=T0, messages=turn(2))
    bobs_view = (
        await store.chat("gm-a", owner=bob),
        await store.messages("gm-a", owner=bob),
        (await store.newest_messages("gm-a", owner=bob, before=None, budget=10_000)).messages,
        (await store.list_chats(owner=bob, text=None, limit=10, cursor=None))[0],
        (await store.list_chats(owner=bob, text="Alice", limit=10, cursor=None))[0],
    )
    assert bobs_view == (None, [], [], [], [])
    assert [m.content for m in await store.messages("gm-a", owner=alice)] == ["question 1", "answer 1"]
