"""The shared store: PostgreSQL, so several gloo-mcp replicas behind one endpoint see the same conversations.

A turn is one transaction: the chat row is upserted first, which locks it until commit,
so concurrent turns on one chat are numbered one after the other, never on top of each
other. One connection per process, used one statement group at a time; it is reopened
once if the server dropped it. Needs ``pip install 'gloo-mcp[postgres]'`` (psycopg 3).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self, TypeVar

import anyio

from gloo_mcp.chats.paging import MessagePage, decode_cursor, encode_cursor
from gloo_mcp.chats.store.base import describe_url, not_yours, store_failure, take_newest
from gloo_mcp.errors import StoreError
from gloo_mcp.models import ChatMessage, ChatSummary

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore", "Reconnecting", "connect", "connect_migrated", "failure"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_BASE_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gloo_mcp_chats (
        chat_id    TEXT PRIMARY KEY,
        title      TEXT NOT NULL,
        backend    TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS gloo_mcp_chats_by_update ON gloo_mcp_chats (updated_at DESC, chat_id DESC)",
    """CREATE TABLE IF NOT EXISTS gloo_mcp_messages (
        chat_id  TEXT NOT NULL REFERENCES gloo_mcp_chats (chat_id),
        position INTEGER NOT NULL,
        body     JSONB NOT NULL,
        PRIMARY KEY (chat_id, position)
    )""",
]

_TITLE_INDEX = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS gloo_mcp_chats_title_trgm ON gloo_mcp_chats USING gin (title gin_trgm_ops)",
]
"""Title search: a trigram index that ILIKE '%text%' uses (3+ characters) instead of scanning."""

_OWNERS = [
    "ALTER TABLE gloo_mcp_chats ADD COLUMN IF NOT EXISTS owner TEXT NOT NULL DEFAULT 'local'",
    "DROP INDEX IF EXISTS gloo_mcp_chats_by_update",
    "CREATE INDEX IF NOT EXISTS gloo_mcp_chats_by_owner ON gloo_mcp_chats (owner, updated_at DESC, chat_id DESC)",
]
"""Every chat belongs to a principal; rows from before belong to the local one."""

_SHARED_LIMITS = [
    """CREATE TABLE IF NOT EXISTS gloo_mcp_call_counts (
        principal TEXT NOT NULL,
        second    BIGINT NOT NULL,
        calls     INTEGER NOT NULL,
        PRIMARY KEY (principal, second)
    )""",
    "CREATE INDEX IF NOT EXISTS gloo_mcp_call_counts_by_second ON gloo_mcp_call_counts (second)",
    """CREATE TABLE IF NOT EXISTS gloo_mcp_calls_in_flight (
        call_id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        principal   TEXT NOT NULL,
        holder      TEXT NOT NULL,
        lease_until TIMESTAMPTZ NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS gloo_mcp_calls_in_flight_by_principal ON gloo_mcp_calls_in_flight (principal)",
    "CREATE INDEX IF NOT EXISTS gloo_mcp_calls_in_flight_by_lease ON gloo_mcp_calls_in_flight (lease_until)",
    """CREATE OR REPLACE FUNCTION gloo_mcp_admit(
        p_principal TEXT, p_per_minute INTEGER, p_in_flight INTEGER, p_lease DOUBLE PRECISION, p_holder TEXT,
        p_now DOUBLE PRECISION
    ) RETURNS TABLE (call_id BIGINT, refused TEXT, calls INTEGER, wait_s INTEGER)
    LANGUAGE plpgsql AS $$
    DECLARE
        v_now    DOUBLE PRECISION := COALESCE(p_now, extract(epoch FROM clock_timestamp()));
        v_at     TIMESTAMPTZ := to_timestamp(v_now);
        v_second BIGINT := floor(v_now);
        v_first  BIGINT := floor(v_now) - 60;
        v_count  INTEGER;
        v_oldest BIGINT;
        v_id     BIGINT;
    BEGIN
        -- One admission per principal at a time, whichever replica asks; held until this statement ends.
        PERFORM pg_advisory_xact_lock(1735159663, hashtext(p_principal));
        -- A few of anyone's leftovers each time: the tables hold about a minute of traffic, never swept.
        DELETE FROM gloo_mcp_call_counts WHERE ctid = ANY (ARRAY(
            SELECT c.ctid FROM gloo_mcp_call_counts c WHERE c.second < v_first LIMIT 8 FOR UPDATE SKIP LOCKED));
        DELETE FROM gloo_mcp_calls_in_flight WHERE ctid = ANY (ARRAY(
            SELECT f.ctid FROM gloo_mcp_calls_in_flight f WHERE f.lease_until <= v_at LIMIT 8 FOR UPDATE SKIP LOCKED));
        IF p_in_flight > 0 THEN
            DELETE FROM gloo_mcp_calls_in_flight f WHERE f.principal = p_principal AND f.lease_until <= v_at;
            SELECT count(*) INTO v_count FROM gloo_mcp_calls_in_flight f WHERE f.principal = p_principal;
            IF v_count >= p_in_flight THEN
                RETURN QUERY SELECT NULL::BIGINT, 'in_flight'::TEXT, v_count, NULL::INTEGER;
                RETURN;
            END IF;
        END IF;
        IF p_per_minute > 0 THEN
            DELETE FROM gloo_mcp_call_counts c WHERE c.principal = p_principal AND c.second < v_first;
            SELECT COALESCE(sum(c.calls), 0), min(c.second) INTO v_count, v_oldest
                FROM gloo_mcp_call_counts c WHERE c.principal = p_principal;
            IF v_count >= p_per_minute THEN
                RETURN QUERY SELECT NULL::BIGINT, 'per_minute'::TEXT, v_count,
                    GREATEST(1, ceil(v_oldest + 61 - v_now))::INTEGER;
                RETURN;
            END IF;
            INSERT INTO gloo_mcp_call_counts AS c (principal, second, calls) VALUES (p_principal, v_second, 1)
                ON CONFLICT (principal, second) DO UPDATE SET calls = c.calls + 1;
        END IF;
        IF p_in_flight > 0 THEN
            INSERT INTO gloo_mcp_calls_in_flight (principal, holder, lease_until)
                VALUES (p_principal, p_holder, v_at + make_interval(secs => p_lease))
                RETURNING gloo_mcp_calls_in_flight.call_id INTO v_id;
        END IF;
        RETURN QUERY SELECT v_id, NULL::TEXT, NULL::INTEGER, NULL::INTEGER;
    END
    $$""",
]
"""Fair-use limits that replicas share (gloo_mcp/access/shared_limits.py): calls a minute, counted per principal in
whole seconds of the database's clock, and calls in flight, one row each with a lease that ends by itself if
the replica holding it dies. ``gloo_mcp_admit`` decides one admission in one round trip."""

_MIGRATIONS: list[tuple[list[str], bool]] = [
    (_BASE_SCHEMA, True),
    (_TITLE_INDEX, False),
    (_OWNERS, True),
    (_SHARED_LIMITS, True),
]
"""(statements, required) per schema version. An optional step that the database refuses (pg_trgm
not installed, or not permitted) is skipped with a warning: searches then scan titles."""

_MIGRATION_LOCK = 0x676C6F6F  # pg_advisory_xact_lock key: one replica migrates at a time


async def _migrate(db: psycopg.AsyncConnection[Any]) -> None:
    """Bring the schema up to date in place, in one transaction, rows untouched.

    Stores made before versions were recorded have no gloo_mcp_schema row and count as
    version 0; the base schema's statements are idempotent, so they upgrade like new ones.
    """
    import psycopg

    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        await db.execute("CREATE TABLE IF NOT EXISTS gloo_mcp_schema (version INTEGER NOT NULL)")
        row = await (await db.execute("SELECT version FROM gloo_mcp_schema")).fetchone()
        version = row[0] if row else 0
        for statements, required in _MIGRATIONS[version:]:
            try:
                async with db.transaction():  # a savepoint: an optional step may fail alone
                    for statement in statements:
                        await db.execute(statement)
            except psycopg.Error as exc:
                if required:
                    raise
                logger.warning("conversation store: optional schema step skipped (%s)", type(exc).__name__)
        if row is None:
            await db.execute("INSERT INTO gloo_mcp_schema (version) VALUES (%s)", (len(_MIGRATIONS),))
        else:
            await db.execute("UPDATE gloo_mcp_schema SET version = %s", (len(_MIGRATIONS),))


async def connect(url: str) -> psycopg.AsyncConnection[Any]:
    """A connection to the PostgreSQL store ``url`` names (autocommit), or a StoreError without its password."""
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            "GLOO_STORE_URL names PostgreSQL, but psycopg is not installed; run pip install 'gloo-mcp[postgres]'."
        ) from None
    try:
        return await psycopg.AsyncConnection.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True)
    except psycopg.ProgrammingError:  # libpq could not parse the URL; its message may quote the password
        raise StoreError(
            f"The PostgreSQL driver could not parse GLOO_STORE_URL for {describe_url(url)}; percent-encode special "
            "characters in the user name and password (% as %25, @ as %40) and check the host and port."
        ) from None
    except psycopg.Error as exc:
        raise failure(url, exc) from None


def failure(url: str, exc: Exception) -> StoreError:
    """A driver error as the store's sentence: which grant is missing, or to check the URL and the database."""
    if "permission denied for schema" in str(exc):  # PostgreSQL 15+ grants CREATE on public to its owner only
        advice = (
            "the role in GLOO_STORE_URL may not create gloo-mcp's tables; as the database's owner run "
            "GRANT CREATE ON SCHEMA public TO that role (or make it the database's owner), then retry."
        )
        return store_failure(url, exc, advice=advice)
    return store_failure(url, exc, advice="check GLOO_STORE_URL and that the database is reachable.")


async def connect_migrated(url: str) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection to the store at ``url``, its schema brought up to date; StoreError otherwise."""
    connection = await connect(url)
    try:
        await _migrate(connection)
    except Exception as exc:
        await connection.close()
        raise failure(url, exc) from None
    return connection


_PAGE_BATCH = 64


_SUMMARY_COLUMNS = "chat_id, title, backend, created_at, updated_at"


def _summary(row: tuple[Any, ...]) -> ChatSummary:
    chat_id, title, backend, created_at, updated_at = row
    return ChatSummary(chat_id=chat_id, title=title, backend=backend, created_at=created_at, updated_at=updated_at)


class Reconnecting:
    """One PostgreSQL connection used one statement group at a time, reopened once if the server dropped it
    (a restart or a failover): the next call after an outage works again without restarting gloo-mcp."""

    def __init__(self, url: str, connection: psycopg.AsyncConnection[Any]) -> None:
        self._url = url
        self._connection = connection
        self._lock = anyio.Lock()

    async def run(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[_T]]) -> _T:
        """``work(connection)``; a driver error is the store's sentence (:func:`failure`)."""
        import psycopg

        async with self._lock:
            for attempt in (1, 2):
                try:
                    return await work(self._connection)
                except psycopg.OperationalError as exc:
                    if attempt == 2 or not self._connection.closed:
                        raise failure(self._url, exc) from None
                    self._connection = await connect(self._url)
                except psycopg.Error as exc:
                    raise failure(self._url, exc) from None
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._connection.close()


class PostgresStore:
    def __init__(self, url: str, connection: psycopg.AsyncConnection[Any]) -> None:
        self._url = url
        self._db = Reconnecting(url, connection)

    def __repr__(self) -> str:
        return f"PostgresStore({describe_url(self._url)!r})"

    @classmethod
    async def open(cls, url: str) -> Self:
        return cls(url, await connect_migrated(url))

    async def _run(self, work: Any) -> Any:
        return await self._db.run(work)

    async def ping(self) -> None:
        async def read(db: psycopg.AsyncConnection[Any]) -> None:
            await (await db.execute("SELECT 1")).fetchone()

        await self._run(read)

    async def record_turn(
        self,
        chat_id: str,
        *,
        owner: str,
        backend: str,
        title: str,
        at: datetime,
        messages: Sequence[ChatMessage] = (),
    ) -> None:
        bodies = [message.model_dump_json() for message in messages]

        async def write(db: psycopg.AsyncConnection[Any]) -> None:
            async with db.transaction():
                await db.execute(
                    "INSERT INTO gloo_mcp_chats (chat_id, owner, title, backend, created_at, updated_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (chat_id) DO UPDATE SET updated_at = GREATEST(gloo_mcp_chats.updated_at, "
                    "excluded.updated_at) WHERE gloo_mcp_chats.owner = excluded.owner",
                    (chat_id, owner, title, backend, at, at),
                )
                holder = await (
                    await db.execute("SELECT owner FROM gloo_mcp_chats WHERE chat_id = %s FOR UPDATE", (chat_id,))
                ).fetchone()
                if holder is None or holder[0] != owner:
                    raise not_yours(chat_id)
                cursor = await db.execute(
                    "SELECT COALESCE(MAX(position), -1) FROM gloo_mcp_messages WHERE chat_id = %s", (chat_id,)
                )
                row = await cursor.fetchone()
                last = row[0] if row else -1
                for offset, body in enumerate(bodies):
                    await db.execute(
                        "INSERT INTO gloo_mcp_messages (chat_id, position, body) VALUES (%s, %s, %s)",
                        (chat_id, last + 1 + offset, body),
                    )

        await self._run(write)

    async def chat(self, chat_id: str, *, owner: str) -> ChatSummary | None:
        async def read(db: psycopg.AsyncConnection[Any]) -> ChatSummary | None:
            cursor = await db.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM gloo_mcp_chats WHERE chat_id = %s AND owner = %s", (chat_id, owner)
            )
            row = await cursor.fetchone()
            return None if row is None else _summary(row)

        result: ChatSummary | None = await self._run(read)
        return result

    async def messages(self, chat_id: str, *, owner: str) -> list[ChatMessage]:
        async def read(db: psycopg.AsyncConnection[Any]) -> list[ChatMessage]:
            cursor = await db.execute(
                "SELECT m.body FROM gloo_mcp_messages m JOIN gloo_mcp_chats c USING (chat_id) "
                "WHERE m.chat_id = %s AND c.owner = %s ORDER BY m.position",
                (chat_id, owner),
            )
            return [ChatMessage.model_validate(row[0]) for row in await cursor.fetchall()]

        result: list[ChatMessage] = await self._run(read)
        return result

    async def newest_messages(self, chat_id: str, *, owner: str, before: int | None, budget: int) -> MessagePage:
        async def read(db: psycopg.AsyncConnection[Any]) -> tuple[list[tuple[int, str]], int]:
            mine = await (
                await db.execute("SELECT 1 FROM gloo_mcp_chats WHERE chat_id = %s AND owner = %s", (chat_id, owner))
            ).fetchone()
            if mine is None:
                return [], 0
            row = await (
                await db.execute("SELECT MAX(position) FROM gloo_mcp_messages WHERE chat_id = %s", (chat_id,))
            ).fetchone()
            total = 0 if row is None or row[0] is None else row[0] + 1
            start = total if before is None else before
            taken: list[tuple[int, str]] = []
            used = 0
            while start > 0:  # batches read newest first until the budget is spent
                rows = await (
                    await db.execute(
                        "SELECT position, body::text FROM gloo_mcp_messages WHERE chat_id = %s AND position < %s "
                        "ORDER BY position DESC LIMIT %s",
                        (chat_id, start, _PAGE_BATCH),
                    )
                ).fetchall()
                if not rows:
                    break
                batch, spent = take_newest(((position, body) for position, body in rows), budget, used=used)
                used += sum(len(body) for _, body in batch)
                taken = batch + taken
                if spent or len(rows) < _PAGE_BATCH:
                    break
                start = rows[-1][0]
            return taken, total

        taken, total = await self._run(read)
        messages = [ChatMessage.model_validate_json(body) for _, body in taken]
        return MessagePage(messages, taken[0][0] if taken else 0, total)

    async def list_chats(
        self, *, owner: str, text: str | None, limit: int, cursor: str | None
    ) -> tuple[list[ChatSummary], str | None]:
        clauses: list[str] = ["owner = %s"]
        params: list[Any] = [owner]
        if text:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("(title ILIKE %s OR chat_id = %s)")
            params += [f"%{escaped}%", text]
        if cursor:
            updated_at, last_id = decode_cursor(cursor)
            clauses.append("(updated_at, chat_id) < (%s::timestamptz, %s)")
            params += [updated_at, last_id]
        query = (
            f"SELECT {_SUMMARY_COLUMNS} FROM gloo_mcp_chats WHERE {' AND '.join(clauses)} "
            "ORDER BY updated_at DESC, chat_id DESC LIMIT %s"
        )

        async def read(db: psycopg.AsyncConnection[Any]) -> list[ChatSummary]:
            rows = await (await db.execute(query, (*params, limit + 1))).fetchall()
            return [_summary(row) for row in rows]

        rows: list[ChatSummary] = await self._run(read)
        page = rows[:limit]
        return page, (encode_cursor(page[-1]) if len(rows) > limit else None)

    async def aclose(self) -> None:
        await self._db.aclose()
