"""Growth curves: what a call costs as one conversation, the index of all of them, and the team grow.

Four figures, each with the target of the issue "Conversations of any length", and a fifth
for the team (issue 22):

* the default ``get_chat_history`` page (time and result bytes) at 10 / 1,000 / 10,000 turns,
  on the Completions V2 store and, for comparison, on the Message API (Gloo hands over whole chats);
* the Completions V2 request body of one turn at turn 10 / 500 / 2,000 (flat once the context
  budget is reached);
* ``list_chats`` first page, last page and a search that matches nothing, at 1k / 100k / 1M chats
  in the SQLite index;
* the latency that V2's suggested follow-ups add to an answer at 200 ms upstream;
* the fair-use limiter's cost per call at 10 / 1,000 / 10,000 / 100,000 active principals
  (bench/admission.py: flat, and memory bounded by the last minute's callers).

Everything runs in this process: the server is ``build_server`` reached through the SDK's
in-memory ``Client``, and it reaches the simulator through an ASGI transport (no sockets),
so ``--server-src`` does not apply here. Stores are SQLite files in a temporary directory,
seeded directly (record_turn for conversations; one bulk transaction for the chat index).
"""

from __future__ import annotations

import inspect
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx2
from mcp import Client
from pydantic import SecretStr

from bench.admission import AdmissionCurve, AdmissionSizes, measure_admission
from gloo_mcp.chats.context_window import DEFAULT_BUDGET
from gloo_mcp.chats.follow_ups import GRACE_SECONDS
from gloo_mcp.chats.paging import PAGE_BUDGET_BYTES, encode_cursor
from gloo_mcp.chats.store import ConversationStore, open_store
from gloo_mcp.config import Settings
from gloo_mcp.models import ChatMessage, ChatSummary, Source
from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState, create_app
from gloo_mcp.simulator.content import answer_for, sources_for

__all__ = [
    "FULL_GROWTH",
    "QUICK_GROWTH",
    "BodyPoint",
    "Growth",
    "GrowthSizes",
    "HistoryPoint",
    "IndexPoint",
    "SuggestionCost",
    "growth_rows",
    "measure_growth",
]

Key = TypeVar("Key", bound=Hashable)

SIM_BASE_URL = "https://gloo.simulator.test"
NO_MATCH = "zzzz-no-such-title"
COMMON_WORD = "forgiveness"  # in one title of ten
PAGE_SIZE = 20  # list_chats' default page
HISTORY_TIME_RATIO = 3.0
INDEX_RATIO = 2.0
ADMISSION_RATIO = 2.0
FLAT_TOLERANCE = 0.05

_TOPICS = ("hope", "meaning", "work", "rest", "grief", COMMON_WORD, "prayer", "friendship", "calling", "doubt")
_SITUATIONS = (
    "everything at work falls apart",
    "a friend stops calling",
    "the diagnosis comes back",
    "my kids leave home",
    "I cannot sleep",
    "church feels far away",
    "money runs out before the month does",
)


@dataclass(frozen=True)
class GrowthSizes:
    history_turns: tuple[int, ...]
    message_api_turns: tuple[int, ...]
    history_calls: int
    body_turns: tuple[int, ...]
    body_calls: int
    index_chats: tuple[int, ...]
    index_calls: int
    suggestion_calls: int
    suggestion_latency_s: float
    seed_limit_s: float
    """An index size whose seeding is estimated (from the size before it) to take longer is skipped, and said so."""
    admission: AdmissionSizes


FULL_GROWTH = GrowthSizes(
    history_turns=(10, 1_000, 10_000),
    message_api_turns=(10, 1_000, 10_000),
    history_calls=21,
    body_turns=(10, 500, 2_000),
    body_calls=5,
    index_chats=(1_000, 100_000, 1_000_000),
    index_calls=51,
    suggestion_calls=50,
    suggestion_latency_s=0.2,
    seed_limit_s=150.0,
    admission=AdmissionSizes(
        principals=(10, 1_000, 10_000, 100_000), batches=21, batch_calls=1_000, memory_principals=10_000
    ),
)
QUICK_GROWTH = GrowthSizes(
    history_turns=(10, 100),
    message_api_turns=(10, 100),
    history_calls=2,
    body_turns=(10, 60, 100),
    body_calls=1,
    index_chats=(100, 1_000),
    index_calls=3,
    suggestion_calls=3,
    suggestion_latency_s=0.02,
    seed_limit_s=60.0,
    admission=AdmissionSizes(principals=(10, 1_000), batches=3, batch_calls=100, memory_principals=1_000),
)


# --- shared -------------------------------------------------------------------------------


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def _interleaved(calls: int, steps: Mapping[Key, Callable[[], Awaitable[object]]]) -> dict[Key, float]:
    """Median ms of each step over ``calls`` rounds of every step, so that every size and query sees the same machine.

    Each round runs in a new order: a step that follows a heavy one (a scan that flushed the
    CPU's caches) is then no more often one size's than another's.
    """
    samples: dict[Key, list[float]] = {key: [] for key in steps}
    order = list(steps)
    shuffle = random.Random(0).shuffle
    for _ in range(calls):
        shuffle(order)
        for key in order:
            samples[key].append(await _timed(steps[key]))
    return {key: _ms(times) for key, times in samples.items()}


def _ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def _json_bytes(value: object) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON, as it travels in a result."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _text_bytes(result: Any) -> int:
    return sum(len(block.text.encode()) for block in result.content if getattr(block, "type", "") == "text")


def _error_text(result: Any) -> str:
    return " ".join(block.text for block in result.content if getattr(block, "type", "") == "text")


@asynccontextmanager
async def _session(sim: SimulatorState, **overrides: Any) -> AsyncIterator[Client]:
    """An in-memory MCP session on a gloo-mcp server whose HTTP goes to ``sim`` over ASGI."""
    settings = Settings(
        base_url=SIM_BASE_URL, client_id=sim.client_id, client_secret=SecretStr(sim.client_secret), **overrides
    )
    server = build_server(settings, transport=httpx2.ASGITransport(app=create_app(sim)))
    async with Client(server) as client:
        yield client


def _owned() -> dict[str, str]:
    """The store's ``owner`` argument (the one local principal an in-process session is), where it takes one.

    The growth curves run against whichever gloo_mcp this process imports, so the same
    benchmark measures the store before and after conversations had owners.
    """
    takes_owner = "owner" in inspect.signature(ConversationStore.list_chats).parameters
    return {"owner": "local"} if takes_owner else {}


def _sqlite_url(path: Path) -> SecretStr:
    return SecretStr(f"sqlite:///{path}")


def _question(n: int) -> str:
    return f"How do I hold on to {_TOPICS[n % len(_TOPICS)]} when {_SITUATIONS[n % len(_SITUATIONS)]}? ({n})"


def _turn(n: int, at: datetime) -> list[ChatMessage]:
    """A realistic V2 turn: a one-line question; an answer of about 500 characters and five sources (1.8 KB JSON)."""
    question = _question(n)
    query_id = f"gq-{uuid.UUID(int=n, version=4)}"
    sources = [Source.model_validate(item) for item in sources_for(question, limit=5, publishers=[])]
    return [
        ChatMessage(role="user", content=question, timestamp=at, message_id=f"gu-{n}", query_id=query_id),
        ChatMessage(
            role="assistant",
            content=answer_for(question, turn=n + 1, character_limit=4000),
            timestamp=at,
            message_id=f"gen-{n}",
            query_id=query_id,
            sources=sources,
        ),
    ]


async def _seed_conversation(path: Path, chat_id: str, turns: int) -> None:
    """A V2 conversation of ``turns`` turns written into a fresh store, turn by turn as the server writes them."""
    store = await open_store(_sqlite_url(path).get_secret_value())
    start = datetime(2026, 1, 1, tzinfo=UTC)
    owner = _owned()
    try:
        for n in range(turns):
            at = start + timedelta(minutes=n)
            messages = _turn(n, at)
            await store.record_turn(
                chat_id, backend="completions", title=_question(0), at=at, messages=messages, **owner
            )
    finally:
        await store.aclose()


# --- get_chat_history ---------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryPoint:
    """The default ``get_chat_history`` call on a chat of ``turns`` turns."""

    turns: int
    calls: int
    median_ms: float
    messages: int  # on the page
    page_bytes: int  # the page's messages as JSON: what PAGE_BUDGET_BYTES bounds
    structured_bytes: int  # structuredContent as JSON
    text_bytes: int  # the Markdown text block
    has_more: bool
    upstream_bytes: int = 0  # Message API: the whole chat Gloo hands over, as JSON
    error: str | None = None  # the isError sentence, when the call failed

    @property
    def result_bytes(self) -> int:
        return self.structured_bytes + self.text_bytes

    @property
    def within_budget(self) -> bool:
        """The page within PAGE_BUDGET_BYTES, and the result (that page twice: JSON and Markdown) within twice it."""
        return (
            self.error is None and self.page_bytes <= PAGE_BUDGET_BYTES and self.result_bytes <= 2 * PAGE_BUDGET_BYTES
        )


def _history_figures(turns: int, result: Any, median_ms: float, calls: int, upstream_bytes: int) -> HistoryPoint:
    if result.is_error:
        return HistoryPoint(
            turns, calls, median_ms, 0, 0, 0, _text_bytes(result), False, upstream_bytes, error=_error_text(result)
        )
    page = result.structured_content or {}
    messages = page.get("messages", [])
    return HistoryPoint(
        turns=turns,
        calls=calls,
        median_ms=median_ms,
        messages=len(messages),
        page_bytes=sum(_json_bytes(m) for m in messages),
        structured_bytes=_json_bytes(page),
        text_bytes=_text_bytes(result),
        has_more=bool(page.get("has_more")),
        upstream_bytes=upstream_bytes,
    )


async def _history_points(chats: Sequence[tuple[int, Client, str, int]], calls: int) -> list[HistoryPoint]:
    """The default get_chat_history of each (turns, session, chat_id, upstream bytes), every size interleaved."""
    steps = {
        turns: partial(client.call_tool, "get_chat_history", {"chat_id": chat_id})
        for turns, client, chat_id, _ in chats
    }
    results = {turns: await step() for turns, step in steps.items()}  # warm-up, and the figures
    medians = await _interleaved(calls, steps)
    return [_history_figures(turns, results[turns], medians[turns], calls, upstream) for turns, _, _, upstream in chats]


async def measure_v2_history(turn_counts: Sequence[int], calls: int, workdir: Path) -> list[HistoryPoint]:
    """The default page of a V2 chat at each length, each chat in its own store (as a user's store grows)."""
    async with AsyncExitStack() as stack:
        chats = []
        for turns in turn_counts:
            path = workdir / f"history-{turns}.db"
            await _seed_conversation(path, "gm-growth", turns)
            client = await stack.enter_async_context(
                _session(SimulatorState(), backend="completions", store_url=_sqlite_url(path))
            )
            chats.append((turns, client, "gm-growth", 0))
        return await _history_points(chats, calls)


def _grow_message_chat(sim: SimulatorState, chat_id: str, turns: int) -> int:
    """Grow a simulator chat to ``turns`` turns of its first turn's shape; the whole chat's JSON bytes."""
    chat = sim.chats[chat_id]
    question, answer = chat.messages[:2]
    chat.messages = []
    for n in range(turns):
        text = _question(n)
        chat.messages.append({**question, "message_id": f"mu{n}", "query_id": f"q{n}", "message": text})
        chat.messages.append(
            {
                **answer,
                "message_id": f"ma{n}",
                "query_id": f"q{n}",
                "message": answer_for(text, turn=n + 1, character_limit=4000),
                "sources": sources_for(text, limit=5, publishers=[]),
            }
        )
    return _json_bytes({"messages": chat.messages})


async def measure_message_api_history(turn_counts: Sequence[int], calls: int) -> list[HistoryPoint]:
    """The default page of a Message API chat at each length: Gloo hands over the whole chat on every read."""
    sim = SimulatorState()
    async with _session(sim) as client:
        chats = []
        for turns in turn_counts:
            first = await client.call_tool("send_message", {"query": _question(0)})
            chat_id = str((first.structured_content or {})["chat_id"])
            chats.append((turns, client, chat_id, _grow_message_chat(sim, chat_id, turns)))
        return await _history_points(chats, calls)


# --- V2 request body per turn ---------------------------------------------------------------


@dataclass(frozen=True)
class BodyPoint:
    """One ``continue_chat`` as turn ``turn`` of a V2 chat (suggestions off: the answer is the only request)."""

    turn: int
    body_bytes: int  # the answer request's body, as the simulator received it
    requests: int  # completion requests the first call made (1: no retry)
    earlier_turns_omitted: int
    calls: int
    continue_median_ms: float


async def measure_bodies(turn_counts: Sequence[int], calls: int, workdir: Path) -> list[BodyPoint]:
    """The answer request's body at each turn of a chat seeded with the turns before it (suggestions off)."""
    points = []
    for turn in turn_counts:
        path = workdir / f"body-{turn}.db"
        await _seed_conversation(path, "gm-body", turn - 1)
        sim = SimulatorState()
        async with _session(
            sim, backend="completions", store_url=_sqlite_url(path), enable_suggestions=False
        ) as client:
            arguments = {"chat_id": "gm-body", "query": _question(turn - 1)}
            result = await client.call_tool("continue_chat", arguments)
            if result.is_error:
                raise RuntimeError(f"continue_chat at turn {turn} failed: {_error_text(result)}")
            body, requests = sim.completion_bodies[-1], len(sim.completion_bodies)
            omitted = int((result.structured_content or {})["earlier_turns_omitted"])
            samples = [await _timed(partial(client.call_tool, "continue_chat", arguments)) for _ in range(calls)]
        points.append(BodyPoint(turn, body, requests, omitted, calls, _ms(samples)))
    return points


# --- list_chats -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexPoint:
    """``list_chats`` on an index of ``chats`` chats: through the store API and through MCP (medians, ms)."""

    chats: int
    seed_s: float
    calls: int
    first_page_ms: float
    last_page_ms: float
    no_match_ms: float
    common_search_ms: float  # a word in one title of ten: the FTS5 match lists them all, so it grows with them
    mcp_first_page_ms: float
    mcp_last_page_ms: float
    mcp_no_match_ms: float
    first_page_rows: int
    last_page_rows: int
    last_page_has_next: bool
    no_match_rows: int
    common_search_rows: int


def _chat_rows(count: int) -> Iterator[tuple[str, str, str, str, str]]:
    """``count`` index rows, newest last, titled like first questions; deterministic per count."""
    rng = random.Random(count)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(count):
        created = start + timedelta(seconds=7 * n)
        updated = (created + timedelta(seconds=rng.randrange(5))).isoformat()
        chat_id = f"gm-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        yield chat_id, _question(n)[:80], "completions", created.isoformat(), updated


async def seed_index(path: Path, count: int) -> float:
    """A store made by SQLiteStore.open (schema, FTS5 title index, triggers), filled with ``count`` chats.

    One transaction: the FTS insert trigger is set aside for the bulk insert, the title index
    rebuilt once, and the trigger restored exactly as the store created it. Returns seconds.
    """
    started = time.perf_counter()
    store = await open_store(_sqlite_url(path).get_secret_value())
    await store.aclose()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")  # this connection only: a benchmark fixture, not the server's writes
        (trigger,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'chats_title_insert'").fetchone()
        db.execute("BEGIN")
        db.execute("DROP TRIGGER chats_title_insert")
        db.executemany(
            "INSERT INTO chats (chat_id, title, backend, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            _chat_rows(count),
        )
        db.execute("INSERT INTO chats_title (chats_title) VALUES ('rebuild')")
        db.execute(trigger)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return time.perf_counter() - started


def _last_page_cursor(path: Path, limit: int) -> str:
    """The cursor whose page is the ``limit`` oldest chats: the summary of the (limit+1)-th oldest."""
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        row = db.execute(
            "SELECT * FROM chats ORDER BY updated_at ASC, chat_id ASC LIMIT 1 OFFSET ?", (limit,)
        ).fetchone()
    finally:
        db.close()
    summary = ChatSummary(
        chat_id=row["chat_id"],
        title=row["title"],
        backend=row["backend"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )
    return encode_cursor(summary)


async def _list_page(client: Client, arguments: dict[str, Any]) -> object:
    result = await client.call_tool("list_chats", arguments)
    if result.is_error:
        raise RuntimeError(f"list_chats {arguments} failed: {_error_text(result)}")
    return result


async def _seed_indexes(
    sizes: Sequence[int], workdir: Path, seed_limit_s: float
) -> tuple[list[tuple[int, Path, float]], list[str]]:
    """(chats, path, seconds to seed) per size; a size that would seed in over ``seed_limit_s`` is skipped, and said."""
    seeded: list[tuple[int, Path, float]] = []
    skipped: list[str] = []
    for chats in sizes:
        if seeded:
            before, _, before_s = seeded[-1]
            estimate = before_s * chats / before
            if estimate > seed_limit_s:
                skipped.append(
                    f"list_chats at {chats:,} chats: seeding estimated at {estimate:.0f} s (> {seed_limit_s:.0f} s)"
                )
                continue
        path = workdir / f"index-{chats}.db"
        seeded.append((chats, path, await seed_index(path, chats)))
    return seeded, skipped


async def measure_index(
    sizes: Sequence[int], calls: int, workdir: Path, seed_limit_s: float
) -> tuple[list[IndexPoint], list[str]]:
    """list_chats at each index size: through the store API, then through MCP, every size interleaved call by call.

    A search for a common word sorts all its matches, which evicts SQLite's page cache, so
    it is timed apart, after the others.
    """
    seeded, skipped = await _seed_indexes(sizes, workdir, seed_limit_s)
    cursors = {chats: _last_page_cursor(path, PAGE_SIZE) for chats, path, _ in seeded}
    page = {**_owned(), "limit": PAGE_SIZE}
    queries: dict[str, Callable[[int], dict[str, Any]]] = {
        "first": lambda chats: {**page, "text": None, "cursor": None},
        "last": lambda chats: {**page, "text": None, "cursor": cursors[chats]},
        "none": lambda chats: {**page, "text": NO_MATCH, "cursor": None},
        "common": lambda chats: {**page, "text": COMMON_WORD, "cursor": None},
    }
    tool: dict[str, Callable[[int], dict[str, Any]]] = {
        "first": lambda chats: {},
        "last": lambda chats: {"cursor": cursors[chats]},
        "none": lambda chats: {"query": NO_MATCH},
    }
    async with AsyncExitStack() as stack:
        stores: dict[int, ConversationStore] = {}
        clients: dict[int, Client] = {}
        for chats, path, _ in seeded:
            stores[chats] = await open_store(_sqlite_url(path).get_secret_value())
            stack.push_async_callback(stores[chats].aclose)
            clients[chats] = await stack.enter_async_context(
                _session(SimulatorState(), backend="completions", store_url=_sqlite_url(path))
            )
        rows = {
            (chats, name): await store.list_chats(**query(chats))
            for chats, store in stores.items()
            for name, query in queries.items()
        }  # warm-up, and what each query returns

        def store_steps(names: Sequence[str]) -> dict[tuple[int, str], Callable[[], Awaitable[object]]]:
            return {
                (chats, name): partial(store.list_chats, **queries[name](chats))
                for chats, store in stores.items()
                for name in names
            }

        medians = await _interleaved(calls, store_steps(("first", "last", "none")))
        medians |= await _interleaved(max(3, calls // 5), store_steps(("common",)))
        mcp_steps: dict[tuple[int, str], Callable[[], Awaitable[object]]] = {
            (chats, name): partial(_list_page, client, arguments(chats))
            for chats, client in clients.items()
            for name, arguments in tool.items()
        }
        for step in mcp_steps.values():  # warm-up
            await step()
        mcp = await _interleaved(calls, mcp_steps)
    for _, path, _ in seeded:  # a million chats is about 0.6 GB
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    points = [
        IndexPoint(
            chats=chats,
            seed_s=seed_s,
            calls=calls,
            first_page_ms=medians[chats, "first"],
            last_page_ms=medians[chats, "last"],
            no_match_ms=medians[chats, "none"],
            common_search_ms=medians[chats, "common"],
            mcp_first_page_ms=mcp[chats, "first"],
            mcp_last_page_ms=mcp[chats, "last"],
            mcp_no_match_ms=mcp[chats, "none"],
            first_page_rows=len(rows[chats, "first"][0]),
            last_page_rows=len(rows[chats, "last"][0]),
            last_page_has_next=rows[chats, "last"][1] is not None,
            no_match_rows=len(rows[chats, "none"][0]),
            common_search_rows=len(rows[chats, "common"][0]),
        )
        for chats, _, seed_s in seeded
    ]
    return points, skipped


# --- suggestions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SuggestionCost:
    """V2 send_message with and without suggested follow-ups, interleaved, at ``latency_s`` upstream."""

    calls: int
    latency_s: float
    with_s: list[float]
    without_s: list[float]
    suggestion_requests: int
    completion_requests: int
    replies_with_suggestions: int
    errors: int

    @property
    def with_ms(self) -> float:
        return _ms(self.with_s)

    @property
    def without_ms(self) -> float:
        return _ms(self.without_s)

    @property
    def added_ms(self) -> float:
        return self.with_ms - self.without_ms


async def measure_suggestions(calls: int, latency: float, workdir: Path, warmup: int = 3) -> SuggestionCost:
    """``calls`` send_message each way; every completion request (answer or suggestions) waits ``latency`` s."""
    sim = SimulatorState(latency=latency)
    samples: dict[bool, list[float]] = {True: [], False: []}
    errors = 0
    replies_with_suggestions = 0

    async with _session(sim, backend="completions", store_url=_sqlite_url(workdir / "suggestions.db")) as client:

        async def ask(suggest: bool, n: int) -> None:
            nonlocal errors, replies_with_suggestions
            arguments = {"query": _question(n), "enable_suggestions": suggest}
            result = await client.call_tool("send_message", arguments)
            errors += int(bool(result.is_error))
            replies_with_suggestions += int(bool((result.structured_content or {}).get("suggestions")))

        for n in range(warmup):
            await ask(True, n)
            await ask(False, n)
        sim.suggestion_requests, sim.completion_bodies, errors, replies_with_suggestions = 0, [], 0, 0
        for n in range(calls):
            for suggest in (True, False) if n % 2 else (False, True):  # alternate which goes first
                samples[suggest].append(await _timed(partial(ask, suggest, n)))
    return SuggestionCost(
        calls=calls,
        latency_s=latency,
        with_s=samples[True],
        without_s=samples[False],
        suggestion_requests=sim.suggestion_requests,
        completion_requests=len(sim.completion_bodies),
        replies_with_suggestions=replies_with_suggestions,
        errors=errors,
    )


# --- all four -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Growth:
    sizes: GrowthSizes
    history: list[HistoryPoint]
    message_api_history: list[HistoryPoint]
    bodies: list[BodyPoint]
    index: list[IndexPoint]
    suggestions: SuggestionCost
    admission: AdmissionCurve
    skipped: list[str] = field(default_factory=list)


async def measure_growth(sizes: GrowthSizes) -> Growth:
    with tempfile.TemporaryDirectory(prefix="gloo-mcp-growth-") as directory:
        workdir = Path(directory)
        history = await measure_v2_history(sizes.history_turns, sizes.history_calls, workdir)
        message_api = await measure_message_api_history(sizes.message_api_turns, sizes.history_calls)
        bodies = await measure_bodies(sizes.body_turns, sizes.body_calls, workdir)
        index, skipped = await measure_index(sizes.index_chats, sizes.index_calls, workdir, sizes.seed_limit_s)
        suggestions = await measure_suggestions(sizes.suggestion_calls, sizes.suggestion_latency_s, workdir)
    admission = await measure_admission(sizes.admission)
    return Growth(sizes, history, message_api, bodies, index, suggestions, admission, skipped)


# --- the report's rows ----------------------------------------------------------------------

Row = tuple[str, str, str, str]


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _size(count: int) -> str:
    return f"{count / 1_048_576:.1f} MiB" if count >= 1_048_576 else f"{count / 1024:.0f} KiB"


def _history_rows(growth: Growth) -> list[Row]:
    rows: list[Row] = []
    for point in growth.history:
        rows.append(
            (
                f"get_chat_history, V2 store, {point.turns:,} turns",
                f"{point.median_ms:.2f} ms; page {point.page_bytes:,} B ({point.messages} messages); result "
                f"{point.result_bytes:,} B = {point.structured_bytes:,} structured + {point.text_bytes:,} text",
                f"page <= {PAGE_BUDGET_BYTES:,} B, result <= 2 x that",
                _mark(point.within_budget),
            )
        )
    if len(growth.history) > 1:
        small, large = growth.history[0], growth.history[-1]
        ratio = large.median_ms / small.median_ms
        rows.append(
            (
                f"  time at {large.turns:,} / time at {small.turns:,} turns",
                f"{ratio:.2f} x",
                f"<= {HISTORY_TIME_RATIO:g} x",
                _mark(ratio <= HISTORY_TIME_RATIO),
            )
        )
    for point in growth.message_api_history:
        whole = f"whole chat {_size(point.upstream_bytes)}"
        if point.error is not None:
            sentence = point.error if len(point.error) <= 60 else point.error[:59] + "…"
            value = f"{point.median_ms:.2f} ms to an error ({whole}): {sentence}"
        else:
            value = f"{point.median_ms:.2f} ms ({whole}); page {point.page_bytes:,} B; result {point.result_bytes:,} B"
        rows.append((f"get_chat_history, Message API, {point.turns:,} turns", value, "", ""))
    return rows


def _body_rows(growth: Growth) -> list[Row]:
    rows: list[Row] = [
        (
            f"V2 request body at turn {point.turn:,}",
            f"{point.body_bytes:,} B ({point.earlier_turns_omitted:,} oldest turns left out); "
            f"continue_chat {point.continue_median_ms:.1f} ms",
            "",
            "",
        )
        for point in growth.bodies
    ]
    capped = [p.body_bytes for p in growth.bodies if p.earlier_turns_omitted > 0]
    if len(capped) > 1:
        spread = max(capped) / min(capped) - 1
        rows.append(
            (
                f"  flat once the budget ({DEFAULT_BUDGET:,} tokens) is reached",
                f"largest / smallest {max(capped) / min(capped):.3f}",
                f"within {FLAT_TOLERANCE:.0%}",
                _mark(spread <= FLAT_TOLERANCE),
            )
        )
    return rows


def _index_rows(growth: Growth) -> list[Row]:
    rows: list[Row] = []
    base = growth.index[0] if growth.index else None
    for point in growth.index:
        figures = (point.first_page_ms, point.last_page_ms, point.no_match_ms)
        if base is None or point is base:
            ratios, target, mark = "", "", ""
        else:
            bases = (base.first_page_ms, base.last_page_ms, base.no_match_ms)
            each = [f / b for f, b in zip(figures, bases, strict=True)]
            ratios = f" = {' / '.join(f'{r:.2f}' for r in each)} x"
            target, mark = f"each <= {INDEX_RATIO:g} x {base.chats:,}", _mark(max(each) <= INDEX_RATIO)
        rows.append(
            (
                f"list_chats, {point.chats:,} chats: first / last page / no match",
                f"{' / '.join(f'{f:.3f}' for f in figures)} ms{ratios}",
                target,
                mark,
            )
        )
        rows.append(
            (
                "  the same through MCP",
                f"{point.mcp_first_page_ms:.2f} / {point.mcp_last_page_ms:.2f} / {point.mcp_no_match_ms:.2f} ms",
                "",
                "",
            )
        )
        rows.append(
            (
                f'  search "{COMMON_WORD}" (1 title in 10)',
                f"{point.common_search_ms:.2f} ms; index seeded in {point.seed_s:.1f} s",
                "",
                "",
            )
        )
    rows.extend((f"  skipped: {reason}", "", "", "") for reason in growth.skipped)
    return rows


def _suggestion_rows(growth: Growth) -> list[Row]:
    s = growth.suggestions
    bound = s.latency_s * 1000 / 2
    return [
        (
            f"V2 send_message at {s.latency_s * 1000:.0f} ms upstream, median of {s.calls}",
            f"{s.with_ms:.1f} ms with suggestions, {s.without_ms:.1f} ms without",
            "",
            "",
        ),
        (
            "  added latency of V2 suggestions",
            f"{s.added_ms:+.1f} ms (asked beside the answer; waits at most {GRACE_SECONDS:g} s after it)",
            f"< {bound:.0f} ms",
            _mark(s.added_ms < bound),
        ),
        (
            "  suggestion requests / replies with suggestions / errors",
            f"{s.suggestion_requests} / {s.replies_with_suggestions} / {s.errors}",
            f"{s.calls} / {s.calls} / 0",
            _mark(s.suggestion_requests == s.replies_with_suggestions == s.calls and s.errors == 0),
        ),
    ]


def _admission_rows(growth: Growth) -> list[Row]:
    curve = growth.admission
    rows: list[Row] = []
    for point in curve.points:
        remembered = "?" if point.remembered is None else f"{point.remembered:,}"
        rows.append(
            (
                f"fair-use admission, {point.principals:,} active principals",
                f"{point.per_call_us:.2f} us per call (each principal once a minute); {remembered} remembered; "
                f"{point.refused} refused; first minute seeded in {point.seed_s:.2f} s",
                "",
                "",
            )
        )
    if len(curve.points) > 1:
        small, large = curve.points[0], curve.points[-1]
        ratio = large.per_call_us / small.per_call_us
        rows.append(
            (
                f"  per call at {large.principals:,} / at {small.principals:,} principals",
                f"{ratio:.2f} x",
                f"<= {ADMISSION_RATIO:g} x (flat)",
                _mark(ratio <= ADMISSION_RATIO),
            )
        )
    rows.append(
        (
            f"  memory per remembered principal (at {curve.memory_principals:,})",
            f"{curve.bytes_per_principal:.0f} B",
            "",
            "",
        )
    )
    return rows


def growth_rows(growth: Growth) -> list[Row]:
    """The growth section of the report: (figure, value, target, met/MISSED) rows."""
    return [
        *_history_rows(growth),
        *_body_rows(growth),
        *_index_rows(growth),
        *_suggestion_rows(growth),
        *_admission_rows(growth),
    ]
