"""Contract tests against the real Gloo: ``pytest -m live``, with credentials in the environment.

What runs, once per session (every test reads the same run):

- the seed flow through a real MCP session on a gloo-mcp server built from the environment's
  settings (Message API): send_message, continue_chat with the first suggestion, get_chat_history;
- a Completions V2 turn through MCP (``backend="completions"``, a throwaway sqlite store), once
  without a publisher and once grounded in one;
- two raw V2 requests (``GlooClient.call``) whose whole SSE streams are kept, since gloo-mcp itself
  stops reading at the first ``finish_reason`` and could not see what follows it.

Every HTTP response any of these receive passes through a recording transport that keeps its raw
bytes (bodies of the token exchange excepted), so the assumptions the simulator makes about Gloo
are checked on the wire, not on gloo-mcp's already tolerant models. Each assumption is one test:
held passes, did not hold fails (the contract break stays visible), not observed skips.

The report: after the last test a Markdown table of every assumption and its outcome is written to
stderr (with pytest's output capture suspended, so it shows without ``-s``), and to the file named by
``GLOO_MCP_LIVE_REPORT`` when that is set.

Credentials: ``GLOO_API_KEY``, or ``GLOO_CLIENT_ID`` and ``GLOO_CLIENT_SECRET``; ``GLOO_BASE_URL``
optionally (read with :func:`gloo_mcp.config.load_settings`, so a ``.env`` in the working directory
counts). Without them every test skips, saying so. ``GLOO_LIVE_PUBLISHER`` names the publisher of
the grounded V2 turns (default ``GlooGrounded``, Gloo's documented default). A run costs a few paid
requests: two Message-API turns and about six V2 completions.

    GLOO_API_KEY=… .venv/bin/python -m pytest -m live tests/test_live.py
    GLOO_BASE_URL=http://127.0.0.1:8766 GLOO_API_KEY=sim-api-key .venv/bin/python -m pytest -m live tests/test_live.py
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp_types import TextContent
from pydantic import SecretStr

from gloo_mcp.config import Settings, load_settings
from gloo_mcp.errors import ConfigurationError, GlooError
from gloo_mcp.gloo.bodies import read_limited
from gloo_mcp.gloo.client import CHAT_PATH, MESSAGE_PATH, GlooClient
from gloo_mcp.gloo.completions import COMPLETIONS_PATH, GROUNDED_PATH
from gloo_mcp.gloo.routing import Routing
from gloo_mcp.server import build_server

pytestmark = pytest.mark.live

NO_CREDENTIALS = (
    "no Gloo credentials: set GLOO_API_KEY, or GLOO_CLIENT_ID and GLOO_CLIENT_SECRET (and GLOO_BASE_URL for "
    "anything but the real Gloo), to run the live contract tests"
)
SEED_QUESTION = "How can I find hope in a difficult season?"
V2_QUESTION = "In two sentences: what is hope?"
V2_GROUNDED_QUESTION = "In two sentences: how does community help in hard seasons?"
DEFAULT_PUBLISHER = "GlooGrounded"
RECORDED_BYTES = 8 * 1024 * 1024
"""The most kept of one response body; the seed flow's are a few kilobytes."""
CLOCK_SKEW_SECONDS = 600
"""How far a naive timestamp read as UTC may be from this machine's UTC clock and still count as UTC."""
_V2_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")  # what gloo_mcp.gloo.completions keeps as a completion id


# --- the wire, recorded -------------------------------------------------------------------------


@dataclass
class Exchange:
    """One HTTP response as it arrived: status, headers and the raw (still encoded) body bytes."""

    method: str
    path: str
    status: int
    headers: httpx2.Headers
    received_at: datetime
    keep_body: bool
    raw: bytearray = field(default_factory=bytearray)

    def keep(self, chunk: bytes) -> None:
        if self.keep_body:
            self.raw += chunk[: max(RECORDED_BYTES - len(self.raw), 0)]

    def json(self) -> object:
        """The body decoded (content encoding undone) and parsed; None when it is not JSON."""
        response = httpx2.Response(self.status, headers=self.headers, content=bytes(self.raw))
        try:
            return json.loads(response.read())
        except (httpx2.DecodingError, ValueError):
            return None


class _Tee(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, exchange: Exchange) -> None:
        self._inner = inner
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._exchange.keep(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class RecordingTransport(httpx2.AsyncBaseTransport):
    """A real HTTP transport that appends every response to ``log``; request headers (the bearer) are never kept."""

    def __init__(self, log: list[Exchange]) -> None:
        self._log = log
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        path = request.url.path
        exchange = Exchange(
            request.method,
            path,
            response.status_code,
            response.headers,
            datetime.now(UTC),
            keep_body=not path.endswith("/oauth2/token"),  # an access token is a secret
        )
        self._log.append(exchange)
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_Tee(response.stream, exchange),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


# --- one run against Gloo -----------------------------------------------------------------------


@dataclass(frozen=True)
class ToolOutcome:
    """What one MCP tool call returned: whether it was an error, its text, its structured result."""

    is_error: bool
    text: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Probe:
    """One raw V2 request whose whole answer was read: the SSE body, or the error Gloo answered with."""

    path: str
    status: int | None
    content_type: str = ""
    body: str = ""
    error: str = ""


@dataclass
class LiveRun:
    settings: Settings
    exchanges: list[Exchange] = field(default_factory=list)
    flows: dict[str, ToolOutcome] = field(default_factory=dict)
    probes: dict[str, Probe] = field(default_factory=dict)
    aborted: dict[str, str] = field(default_factory=dict)
    """Stage → the exception that ended it early (the report still lists what was seen before)."""


def _tool_outcome(result: Any) -> ToolOutcome:
    text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
    data = result.structured_content if isinstance(result.structured_content, dict) else {}
    return ToolOutcome(is_error=bool(result.is_error), text=text, data=data)


async def _seed_flow(run: LiveRun, settings: Settings) -> None:
    """Message API through MCP: a new chat, a follow-up with its first suggestion, the history."""
    server = build_server(settings, transport=RecordingTransport(run.exchanges))
    async with Client(server) as client:
        first = run.flows["send_message"] = _tool_outcome(
            await client.call_tool("send_message", {"query": SEED_QUESTION})
        )
        chat_id = first.data.get("chat_id")
        if first.is_error or not isinstance(chat_id, str):
            return
        suggestions = first.data.get("suggestions") or []
        if suggestions:
            run.flows["continue_chat"] = _tool_outcome(
                await client.call_tool("continue_chat", {"chat_id": chat_id, "query": suggestions[0]})
            )
        run.flows["get_chat_history"] = _tool_outcome(await client.call_tool("get_chat_history", {"chat_id": chat_id}))


async def _v2_flow(run: LiveRun, settings: Settings, publisher: str) -> None:
    """Completions V2 through MCP: one turn without a publisher, one grounded in ``publisher``."""
    server = build_server(settings, transport=RecordingTransport(run.exchanges))
    async with Client(server) as client:
        run.flows["v2_plain"] = _tool_outcome(
            await client.call_tool("send_message", {"query": V2_QUESTION, "publishers": []})
        )
        run.flows["v2_grounded"] = _tool_outcome(
            await client.call_tool("send_message", {"query": V2_GROUNDED_QUESTION, "publishers": [publisher]})
        )


async def _probe(client: GlooClient, path: str, payload: dict[str, Any]) -> Probe:
    async def read(response: httpx2.Response) -> object:
        body = await read_limited(response)  # to the end: whatever follows the finish_reason counts too
        content_type = response.headers.get("content-type", "")
        return Probe(path, response.status_code, content_type, body.decode("utf-8", "replace"))

    try:
        probe = await client.call("POST", path, payload=payload, read=read)
    except GlooError as error:
        return Probe(path, error.status, error=error.message)
    assert isinstance(probe, Probe)
    return probe


async def _v2_probes(run: LiveRun, settings: Settings, publisher: str) -> None:
    client = GlooClient.open(settings, RecordingTransport(run.exchanges))
    try:
        plain = {"messages": [{"role": "user", "content": V2_QUESTION}], "stream": True}
        run.probes["plain"] = await _probe(client, COMPLETIONS_PATH, plain | Routing().fields(grounded=False))
        grounded = plain | {
            "messages": [{"role": "user", "content": V2_GROUNDED_QUESTION}],
            "rag_publisher": publisher,
            "sources_limit": 3,
            "include_citations": True,
        }
        run.probes["grounded"] = await _probe(client, GROUNDED_PATH, grounded | Routing().fields(grounded=True))
    finally:
        await client.aclose()


async def _run(settings: Settings, store: Path, publisher: str) -> LiveRun:
    run = LiveRun(settings)
    stage_limit = settings.timeout * 4  # a few tool calls, each bounded by GLOO_TIMEOUT
    stages: dict[str, Callable[[], Awaitable[None]]] = {
        "seed flow": lambda: _seed_flow(run, _with(settings, backend="message", store=store / "message.db")),
        "V2 flow": lambda: _v2_flow(run, _with(settings, backend="completions", store=store / "v2.db"), publisher),
        "V2 requests": lambda: _v2_probes(run, settings, publisher),
    }
    for name, stage in stages.items():
        try:
            with anyio.fail_after(stage_limit):
                await stage()
        except Exception as exc:  # the report still lists what was seen before it ended
            run.aborted[name] = f"{type(exc).__name__}: {exc}"
    return run


def _with(settings: Settings, *, backend: str, store: Path) -> Settings:
    """The settings for one flow: its backend, a throwaway store, and suggestions on (the seed flow needs one)."""
    update = {"backend": backend, "store_url": SecretStr(f"sqlite:///{store}"), "enable_suggestions": True}
    return settings.model_copy(update=update)


# --- the assumptions ------------------------------------------------------------------------------


class Status(StrEnum):
    HELD = "held"
    BROKEN = "did not hold"
    UNSEEN = "not observed"


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str


def held(detail: str) -> Outcome:
    return Outcome(Status.HELD, detail)


def broken(detail: str) -> Outcome:
    return Outcome(Status.BROKEN, detail)


def unseen(detail: str) -> Outcome:
    return Outcome(Status.UNSEEN, detail)


def _bodies(run: LiveRun, method: str, path: str) -> list[tuple[Exchange, dict[str, Any]]]:
    found = []
    for exchange in run.exchanges:
        if exchange.method == method and exchange.path.endswith(path) and exchange.status == 200:
            body = exchange.json()
            if isinstance(body, dict):
                found.append((exchange, body))
    return found


def _replies(run: LiveRun) -> list[dict[str, Any]]:
    return [body for _, body in _bodies(run, "POST", MESSAGE_PATH)]


def _history_messages(run: LiveRun) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for _, body in _bodies(run, "GET", CHAT_PATH):
        listed = body.get("messages")
        messages += [m for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
    return messages


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _listing(items: list[str], limit: int = 4) -> str:
    return ", ".join(items[:limit]) + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def check_reply_fields(run: LiveRun) -> Outcome:
    replies = _replies(run)
    if not replies:
        return unseen("no message reply arrived")
    wanted: dict[str, type] = {
        "chat_id": str,
        "query_id": str,
        "message_id": str,
        "message": str,
        "timestamp": str,
        "success": bool,
        "suggestions": list,
        "sources": list,
    }
    wrong = [
        f"{name}={_shown(r.get(name))}"
        for r in replies
        for name, kind in wanted.items()
        if not isinstance(r.get(name), kind)
    ]
    others = sorted({key for r in replies for key in r} - set(wanted))
    if wrong:
        return broken(f"missing or mistyped: {_listing(wrong)}")
    return held(f"{len(replies)} replies; other fields: {_listing(others, 8) or 'none'}")


def check_ids_prefixed(run: LiveRun) -> Outcome:
    ids: list[tuple[str, str, object]] = []
    for reply in _replies(run):
        ids += [("c", "chat_id", reply.get("chat_id")), ("q", "query_id", reply.get("query_id"))]
        ids.append(("m", "message_id", reply.get("message_id")))
    for _, body in _bodies(run, "GET", CHAT_PATH):
        ids.append(("c", "chat_id", body.get("chat_id")))
    for message in _history_messages(run):
        ids += [("q", "query_id", message.get("query_id")), ("m", "message_id", message.get("message_id"))]
    if not ids:
        return unseen("no message reply or history arrived")
    wrong = [f"{name}={_shown(v)}" for prefix, name, v in ids if not (isinstance(v, str) and v.startswith(prefix))]
    if wrong:
        return broken(f"not a string with its prefix: {_listing(wrong)}")
    uuids = sum(1 for _, _, v in ids if isinstance(v, str) and _is_uuid(v[1:]))
    return held(f"{len(ids)} ids; {uuids} of them prefix + UUID")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _timestamps(run: LiveRun) -> list[tuple[str, object]]:
    stamps = [("reply.timestamp", r.get("timestamp")) for r in _replies(run)]
    for _, body in _bodies(run, "GET", CHAT_PATH):
        stamps += [("chat.created_at", body.get("created_at")), ("chat.updated_at", body.get("updated_at"))]
    return stamps + [("message.timestamp", m.get("timestamp")) for m in _history_messages(run)]


def check_timestamps_naive_iso(run: LiveRun) -> Outcome:
    everything = _timestamps(run)
    stamps = [(name, value) for name, value in everything if value is not None]
    if not stamps:
        return unseen("no timestamp arrived")
    absent = f"; {len(everything) - len(stamps)} absent" if len(stamps) < len(everything) else ""
    wrong = []
    for name, value in stamps:
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is not None:
            wrong.append(f"{name}={_shown(value)}")
    if wrong:
        return broken(f"not naive ISO-8601: {_listing(wrong)}{absent}")
    return held(f"{len(stamps)} timestamps, e.g. {stamps[0][1]}{absent}")


def check_timestamps_utc(run: LiveRun) -> Outcome:
    offsets = []
    for exchange, reply in _bodies(run, "POST", MESSAGE_PATH):
        value = reply.get("timestamp")
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            continue
        if moment is not None and moment.tzinfo is None:
            offsets.append((moment - exchange.received_at.replace(tzinfo=None)).total_seconds())
    if not offsets:
        return unseen("no naive reply timestamp to compare")
    worst = max(offsets, key=abs)
    detail = f"reply timestamps are within {abs(worst):.0f} s of this machine's UTC clock"
    return held(detail) if abs(worst) <= CLOCK_SKEW_SECONDS else broken(detail)


def check_suggestions(run: LiveRun) -> Outcome:
    lists = [r.get("suggestions") for r in _replies(run)]
    lists += [m.get("suggestions") for m in _history_messages(run) if m.get("role") == "kallm"]
    if not lists:
        return unseen("no message reply arrived")
    wrong = [_shown(s) for s in lists if not (isinstance(s, list) and all(isinstance(q, str) for q in s))]
    if wrong:
        return broken(f"not a list of strings: {_listing(wrong)}")
    counts = [len(s) for s in lists if isinstance(s, list)]
    if not any(counts):
        return unseen("every suggestions list was empty")
    return held(f"{len(counts)} lists of {min(counts)}-{max(counts)} questions")


def _source_items(run: LiveRun) -> list[object]:
    items: list[object] = []
    for holder in [*_replies(run), *_history_messages(run)]:
        sources = holder.get("sources")
        items += sources if isinstance(sources, list) else []
    return items


def _keys(items: list[object]) -> str:
    return _listing(sorted({key for item in items if isinstance(item, dict) for key in item}), 10)


def check_source_items(run: LiveRun) -> Outcome:
    items = _source_items(run)
    if not items:
        return unseen("every sources list was empty (try GLOO_PUBLISHERS)")
    wrong = [
        _shown(item)
        for item in items
        if not (
            isinstance(item, dict)
            and isinstance(item.get("title", item.get("item_title")), str)
            and isinstance(item.get("url", item.get("item_url")), str)
        )
    ]
    if wrong:
        return broken(f"{len(wrong)} of {len(items)} items lack them; keys seen: {_keys(items) or _listing(wrong)}")
    return held(f"{len(items)} items; keys: {_keys(items)}")


def check_history_roles(run: LiveRun) -> Outcome:
    messages = _history_messages(run)
    if not messages:
        return unseen("no history with messages arrived")
    roles = sorted({str(m.get("role")) for m in messages})
    untexted = sum(1 for m in messages if not isinstance(m.get("message"), str))
    if set(roles) - {"user", "kallm"} or untexted:
        return broken(f"roles {roles}; {untexted} messages without text under 'message'")
    return held(f"{len(messages)} messages, roles {roles}, text under 'message'")


def check_history_pairs(run: LiveRun) -> Outcome:
    messages = _history_messages(run)
    if not messages:
        return unseen("no history with messages arrived")
    roles = [m.get("role") for m in messages]
    asked = len(_replies(run))  # the seed flow's questions that Gloo answered
    if roles != ["user", "kallm"] * asked:
        return broken(f"expected {asked} question/answer pairs in order, got roles {roles}")
    unpaired = sum(
        1 for q, a in zip(messages[::2], messages[1::2], strict=True) if q.get("query_id") != a.get("query_id")
    )
    if unpaired:
        return broken(f"{unpaired} answers do not share their question's query_id")
    return held(f"{asked} pairs in order, each sharing a query_id")


def check_rate_limit_headers(run: LiveRun) -> Outcome:
    limited = [e for e in run.exchanges if e.status == 429]
    if not limited:
        return unseen("no 429 in this run")
    named = [name for e in limited for name in ("Retry-After", "X-RateLimit-Reset") if e.headers.get(name) is not None]
    bare = sum(
        1 for e in limited if not any(e.headers.get(h) is not None for h in ("Retry-After", "X-RateLimit-Reset"))
    )
    if bare:
        return broken(f"{bare} of {len(limited)} answers 429 named no wait")
    return held(f"{len(limited)} answers 429, with {_listing(sorted(set(named)))}")


@dataclass
class _Events:
    """A V2 stream read strictly: each event's data, and what else the stream carried."""

    data: list[str] = field(default_factory=list)
    comments: int = 0
    other_fields: set[str] = field(default_factory=set)


def _sse(body: str) -> _Events:
    events = _Events()
    current: list[str] = []
    for line in [*body.splitlines(), ""]:
        if not line:
            if current:
                events.data.append("\n".join(current))
                current = []
            continue
        name, _, value = line.partition(":")
        if name == "data":
            current.append(value[1:] if value.startswith(" ") else value)
        elif not name:
            events.comments += 1
        else:
            events.other_fields.add(name)
    return events


def _chunks(probe: Probe) -> list[object]:
    chunks: list[object] = []
    for data in _sse(probe.body).data:
        try:
            chunks.append(json.loads(data))
        except ValueError:
            chunks.append(data)  # [DONE], or a break of the format
    return chunks


def _streams(run: LiveRun) -> list[tuple[str, Probe]]:
    return [(name, p) for name, p in run.probes.items() if p.status == 200]


def _choices(chunk: object) -> list[dict[str, Any]]:
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []


def _content(chunk: object) -> str:
    pieces = [c["delta"].get("content") for c in _choices(chunk) if isinstance(c.get("delta"), dict)]
    return "".join(p for p in pieces if isinstance(p, str))


def check_v2_paths(run: LiveRun) -> Outcome:
    said = [f"{p.path}: {p.status if p.status is not None else p.error}" for p in run.probes.values()]
    if "V2 requests" in run.aborted:
        said.append(f"ended early: {run.aborted['V2 requests']}")
    if all(p.status == 200 for p in run.probes.values()) and len(run.probes) == 2:
        return held(f"both answered 200 ({_listing(sorted({p.content_type for p in run.probes.values()}))})")
    return broken("; ".join(said))


def check_v2_sse_chunks(run: LiveRun) -> Outcome:
    streams = _streams(run)
    if not streams:
        return unseen("no V2 stream arrived")
    said, wrong = [], []
    for name, probe in streams:
        events = _sse(probe.body)
        chunks = [c for c in _chunks(probe) if c != "[DONE]"]
        texts = [c for c in chunks if _content(c)]
        if not probe.content_type.startswith("text/event-stream"):
            wrong.append(f"{name}: content type {probe.content_type!r}")
        if any(not isinstance(c, dict) for c in chunks):
            wrong.append(f"{name}: data that is not a JSON object")
        if events.other_fields:
            wrong.append(f"{name}: fields besides data: {sorted(events.other_fields)}")
        if not texts:
            wrong.append(f"{name}: no choices[].delta.content")
        said.append(f"{name}: {len(chunks)} data events, {len(texts)} with content, {events.comments} comment lines")
    return broken("; ".join(wrong)) if wrong else held("; ".join(said))


def check_v2_finish_reason(run: LiveRun) -> Outcome:
    streams = _streams(run)
    if not streams:
        return unseen("no V2 stream arrived")
    said, wrong = [], []
    for name, probe in streams:
        chunks = _chunks(probe)
        ends = [
            (i, c["finish_reason"])
            for i, chunk in enumerate(chunks)
            for c in _choices(chunk)
            if c.get("finish_reason") is not None
        ]
        if not ends:
            wrong.append(f"{name}: no chunk with a finish_reason")
            continue
        at, reason = ends[0]
        said.append(f"{name}: {reason!r} on event {at + 1} of {len(chunks)}")
    return broken("; ".join(wrong)) if wrong else held("; ".join(said))


def check_v2_no_done(run: LiveRun) -> Outcome:
    streams = _streams(run)
    if not streams:
        return unseen("no V2 stream arrived")
    done = [name for name, probe in streams if "[DONE]" in _sse(probe.body).data]
    if done:
        return broken(f"data: [DONE] sent in {_listing(done)} (gloo-mcp tolerates it)")
    return held(f"none in {len(streams)} streams read to the end")


def _citations(probe: Probe) -> tuple[list[object], int | None, int | None]:
    """The grounded stream's citations, and the events where the first citations and the first text came."""
    items: list[object] = []
    first_citation = first_text = None
    for i, chunk in enumerate(_chunks(probe)):
        cited = chunk.get("citations") if isinstance(chunk, dict) else None
        if isinstance(cited, list) and cited:
            items += cited
            first_citation = i if first_citation is None else first_citation
        if _content(chunk) and first_text is None:
            first_text = i
    return items, first_citation, first_text


def check_v2_citations_first(run: LiveRun) -> Outcome:
    probe = run.probes.get("grounded")
    if probe is None or probe.status != 200:
        return unseen("no grounded V2 stream arrived")
    items, first_citation, first_text = _citations(probe)
    if first_citation is None:
        return unseen("the grounded stream cited nothing")
    if first_text is not None and first_text < first_citation:
        return broken(f"text on event {first_text + 1}, citations first on event {first_citation + 1}")
    return held(f"{len(items)} citations on event {first_citation + 1}, text from event {(first_text or 0) + 1}")


def check_v2_citation_shape(run: LiveRun) -> Outcome:
    probe = run.probes.get("grounded")
    items = _citations(probe)[0] if probe is not None and probe.status == 200 else []
    if not items:
        return unseen("no citations arrived")
    wrong = [
        _shown(item)
        for item in items
        if not (
            isinstance(item, dict)
            and isinstance(item.get("item_title"), str)
            and isinstance(item.get("item_url"), str)
            and isinstance(item.get("snippets", []), list)
        )
    ]
    if wrong:
        return broken(f"{len(wrong)} of {len(items)} lack them; keys seen: {_keys(items) or _listing(wrong)}")
    return held(f"{len(items)} citations; keys: {_keys(items)}")


def check_v2_ids(run: LiveRun) -> Outcome:
    ids = [
        (name, chunk["id"])
        for name, probe in _streams(run)
        for chunk in _chunks(probe)
        if isinstance(chunk, dict) and "id" in chunk
    ]
    if not ids:
        return unseen("no V2 chunk carried an id")
    wrong = [f"{name}: {_shown(v)}" for name, v in ids if not (isinstance(v, str) and _V2_ID.fullmatch(v))]
    if wrong:
        return broken(f"not a short plain string: {_listing(wrong)}")
    per_stream = {name: {v for n, v in ids if n == name} for name, _ in ids}
    varying = [name for name, values in per_stream.items() if len(values) > 1]
    if varying:
        return broken(f"the id changes within {_listing(varying)}")
    example = str(ids[0][1])
    return held(f"one per stream, e.g. {example[:4]}… ({len(example)} characters)")


@dataclass(frozen=True)
class Assumption:
    key: str
    claim: str
    check: Callable[[LiveRun], Outcome]


ASSUMPTIONS = (
    Assumption(
        "reply-fields",
        "message replies carry chat_id, query_id, message_id, message, timestamp, success, suggestions[], sources[]",
        check_reply_fields,
    ),
    Assumption("ids-prefixed", "ids are strings prefixed c… (chat), q… (query), m… (message)", check_ids_prefixed),
    Assumption("timestamps-naive-iso", "timestamps are naive ISO-8601", check_timestamps_naive_iso),
    Assumption("timestamps-utc", "naive timestamps are UTC", check_timestamps_utc),
    Assumption("suggestions-strings", "suggestions are a list of strings", check_suggestions),
    Assumption("source-items", "Message-API source items carry title|item_title and url|item_url", check_source_items),
    Assumption("history-roles", "history roles are user|kallm, with the text under message", check_history_roles),
    Assumption("history-pairs", "history lists each question then its answer, sharing a query_id", check_history_pairs),
    Assumption("rate-limit-headers", "a 429 carries Retry-After or X-RateLimit-Reset", check_rate_limit_headers),
    Assumption(
        "v2-paths",
        "V2 answers these credentials on /ai/v2/chat/completions and /ai/v2/chat/completions/grounded",
        check_v2_paths,
    ),
    Assumption(
        "v2-sse-chunks", "V2 streams text/event-stream data: chunks with choices[].delta.content", check_v2_sse_chunks
    ),
    Assumption("v2-finish-reason", "a V2 stream ends at a chunk with a non-null finish_reason", check_v2_finish_reason),
    Assumption("v2-no-done", "a V2 stream sends no data: [DONE]", check_v2_no_done),
    Assumption("v2-citations-first", "grounded citations arrive before any content", check_v2_citations_first),
    Assumption(
        "v2-citation-shape", "grounded citations carry item_title, item_url, snippets[]", check_v2_citation_shape
    ),
    Assumption("v2-ids", "V2 completion ids are short plain strings, one per stream", check_v2_ids),
)


# --- the report ---------------------------------------------------------------------------------


@dataclass
class LiveReport:
    """What the session saw: filled by the run, written out when the session ends."""

    target: str = ""
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    flows: dict[str, str] = field(default_factory=dict)

    def markdown(self) -> str:
        counts = {status: sum(1 for o in self.outcomes.values() if o.status is status) for status in Status}
        lines = [
            f"## gloo-mcp live contract report: {self.target}",
            "",
            ", ".join(f"{n} {status.value}" for status, n in counts.items()),
            "",
            "| outcome | assumption | detail |",
            "|---|---|---|",
        ]
        for assumption in ASSUMPTIONS:
            outcome = self.outcomes.get(assumption.key)
            if outcome is not None:
                lines.append(f"| {outcome.status.value} | {_cell(assumption.claim)} | {_cell(outcome.detail)} |")
        lines += ["", "| MCP call | result |", "|---|---|"]
        lines += [f"| {name} | {_cell(said)} |" for name, said in self.flows.items()]
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _publish(report: LiveReport, config: pytest.Config) -> None:
    text = report.markdown()
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            sys.stderr.write("\n" + text)
    else:
        sys.stderr.write("\n" + text)
    path = os.environ.get("GLOO_MCP_LIVE_REPORT")
    if path:
        Path(path).write_text(text, encoding="utf-8")


def _target(run: LiveRun) -> str:
    simulated = any(e.headers.get("x-gloo-simulator") == "true" for e in run.exchanges)
    where = "the gloo-mcp simulator" if simulated else "Gloo"
    return f"{where} at {run.settings.base_url} ({run.settings.auth_mode}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def _flow_line(outcome: ToolOutcome) -> str:
    first = outcome.text.strip().splitlines()[0] if outcome.text.strip() else ""
    return f"error: {first[:160]}" if outcome.is_error else "ok"


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def live_settings() -> Settings:
    """The environment's Gloo settings; the tests skip without credentials and fail on a broken configuration."""
    try:
        settings = load_settings()
    except ConfigurationError as error:
        pytest.fail(f"the Gloo settings in the environment are unusable: {error.message}")
    if not settings.has_credentials:
        pytest.skip(NO_CREDENTIALS)
    return settings


@pytest.fixture(scope="session")
def live_report(request: pytest.FixtureRequest) -> Iterator[LiveReport]:
    report = LiveReport()
    yield report
    if report.outcomes:
        _publish(report, request.config)


@pytest.fixture(scope="module")
def live_run(live_settings: Settings, live_report: LiveReport, tmp_path_factory: pytest.TempPathFactory) -> LiveRun:
    """One run of every flow and request against Gloo, its assumptions judged into the report."""
    publisher = os.environ.get("GLOO_LIVE_PUBLISHER", "").strip() or DEFAULT_PUBLISHER
    run = anyio.run(_run, live_settings, tmp_path_factory.mktemp("live-store"), publisher)
    live_report.target = _target(run)
    live_report.outcomes = {a.key: a.check(run) for a in ASSUMPTIONS}
    live_report.flows = {name: _flow_line(outcome) for name, outcome in run.flows.items()}
    live_report.flows |= {f"{stage} (ended early)": said for stage, said in run.aborted.items()}
    return run


def _flow(run: LiveRun, name: str, after: str) -> ToolOutcome:
    outcome = run.flows.get(name)
    if outcome is None:
        ended = "; ".join(f"the {stage} ended early: {said}" for stage, said in run.aborted.items())
        pytest.fail(f"{name} did not run: {ended or after}")
    assert not outcome.is_error, outcome.text
    return outcome


# --- the flows ----------------------------------------------------------------------------------


def test_a_new_chat_answers_with_suggestions(live_run: LiveRun) -> None:
    reply = _flow(live_run, "send_message", "the session ended before it").data
    assert reply["answer"].strip() and reply["chat_id"]
    assert reply["suggestions"], "Gloo suggested no follow-up, so the seed flow cannot continue"


def test_the_first_suggestion_continues_the_same_chat(live_run: LiveRun) -> None:
    first = _flow(live_run, "send_message", "the session ended before it").data
    reply = _flow(live_run, "continue_chat", "send_message gave no suggestion to send").data
    assert reply["chat_id"] == first["chat_id"]
    assert reply["answer"].strip()


def test_the_history_holds_both_turns_in_order(live_run: LiveRun) -> None:
    first = _flow(live_run, "send_message", "the session ended before it").data
    history = _flow(live_run, "get_chat_history", "send_message gave no chat_id").data
    messages = history["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert [m["content"] for m in messages[::2]] == [SEED_QUESTION, first["suggestions"][0]]
    assert all(m["content"].strip() for m in messages[1::2])


def test_a_v2_turn_without_a_publisher_answers(live_run: LiveRun) -> None:
    reply = _flow(live_run, "v2_plain", "the V2 session ended before it").data
    assert reply["answer"].strip() and reply["chat_id"]


def test_a_v2_turn_grounded_in_a_publisher_answers(live_run: LiveRun) -> None:
    reply = _flow(live_run, "v2_grounded", "the V2 session ended before it").data
    assert reply["answer"].strip() and reply["chat_id"]
    assert isinstance(reply["sources"], list)


# --- the assumptions, one test each -------------------------------------------------------------


@pytest.mark.parametrize("assumption", ASSUMPTIONS, ids=[a.key for a in ASSUMPTIONS])
def test_the_simulators_assumption_holds_on_gloo(
    assumption: Assumption, live_run: LiveRun, live_report: LiveReport
) -> None:
    outcome = live_report.outcomes[assumption.key]
    if outcome.status is Status.UNSEEN:
        pytest.skip(f"not observed: {outcome.detail}")
    assert outcome.status is Status.HELD, f"{assumption.claim}: did not hold ({outcome.detail})"
