"""Durable Tasks: one row per task, in the database the conversation store uses (SQLite or PostgreSQL).

A task is created here before its ``CreateTaskResult`` is sent, so any replica sharing the
database answers ``tasks/get`` at once; the final ``CallToolResult`` (or the JSON-RPC error) is
written here when the call ends, so a finished answer outlives the server that produced it.

The table is the task store's own (``gloo_mcp_tasks``), created if missing on its own
connection; the conversation store's schema and migrations are untouched. Every read takes
the owner, so another principal's task reads exactly like one that does not exist. Rows
expire ``ttl`` after creation; each new task deletes up to :data:`PURGE_BATCH` expired rows
(through an index on the expiry), so the table holds the live tasks plus at most one batch.

Times are integer milliseconds since the epoch, the same in both databases.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

import anyio

from gloo_mcp.chats.store import describe_url
from gloo_mcp.chats.store.sqlite import Serialised, open_file
from gloo_mcp.errors import StoreError

if TYPE_CHECKING:
    import psycopg

__all__ = ["PURGE_BATCH", "TERMINAL", "TaskRecord", "TaskStatus", "TaskStore", "open_task_store"]

TaskStatus = Literal["working", "completed", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})

PURGE_BATCH = 64
"""Expired rows deleted by each new task: more than one, so expired rows never accumulate."""

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gloo_mcp_tasks (
        task_id          TEXT PRIMARY KEY,
        owner            TEXT NOT NULL,
        tool             TEXT NOT NULL,
        status           TEXT NOT NULL,
        status_message   TEXT,
        outcome          TEXT,
        created_ms       BIGINT NOT NULL,
        updated_ms       BIGINT NOT NULL,
        expires_ms       BIGINT NOT NULL,
        lease_ms         BIGINT NOT NULL,
        poll_ms          INTEGER NOT NULL,
        cancel_requested INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS gloo_mcp_tasks_by_expiry ON gloo_mcp_tasks (expires_ms)",
]
_SCHEMA_LOCK = 0x676C7461  # pg_advisory_xact_lock key: replicas create the table one at a time

_COLUMNS = (
    "task_id, owner, tool, status, status_message, outcome, created_ms, updated_ms, expires_ms, lease_ms, poll_ms, "
    "cancel_requested"
)


@dataclass(frozen=True)
class TaskRecord:
    """One task as stored. ``outcome`` is the JSON of the ``CallToolResult`` (completed) or of the
    JSON-RPC error (failed); ``lease_ms`` is when the running server's claim on a working task lapses."""

    task_id: str
    owner: str
    tool: str
    status: TaskStatus
    status_message: str | None
    outcome: str | None
    created_ms: int
    updated_ms: int
    expires_ms: int
    lease_ms: int
    poll_ms: int
    cancel_requested: bool = False

    @classmethod
    def of(cls, row: Sequence[Any]) -> TaskRecord:
        (task_id, owner, tool, status, message, outcome, created, updated, expires, lease, poll, cancel) = row
        return cls(task_id, owner, tool, status, message, outcome, created, updated, expires, lease, poll, bool(cancel))


Statement = tuple[str, Sequence[object]]


class _Database(Protocol):
    async def run(self, *statements: Statement) -> list[tuple[Any, ...]]:
        """Run the statements in one transaction; the rows the last one returned."""
        ...

    async def aclose(self) -> None: ...


class TaskStore:
    """The task rows, whichever database holds them. Raises StoreError (with a usable sentence) on failure."""

    def __init__(self, database: _Database) -> None:
        self._db = database

    def __repr__(self) -> str:
        return f"TaskStore({self._db!r})"

    async def create(self, record: TaskRecord, *, now_ms: int) -> None:
        """Store a new task, and delete up to PURGE_BATCH expired ones."""
        values = (
            record.task_id,
            record.owner,
            record.tool,
            record.status,
            record.status_message,
            record.outcome,
            record.created_ms,
            record.updated_ms,
            record.expires_ms,
            record.lease_ms,
            record.poll_ms,
            int(record.cancel_requested),
        )
        await self._db.run(
            (
                "DELETE FROM gloo_mcp_tasks WHERE task_id IN "
                "(SELECT task_id FROM gloo_mcp_tasks WHERE expires_ms <= %s LIMIT %s)",
                (now_ms, PURGE_BATCH),
            ),
            (f"INSERT INTO gloo_mcp_tasks ({_COLUMNS}) VALUES ({', '.join(['%s'] * 12)})", values),
        )

    async def get(self, task_id: str, *, owner: str, now_ms: int) -> TaskRecord | None:
        """``owner``'s task ``task_id``, unless it is unknown, someone else's or expired."""
        rows = await self._db.run(
            (
                f"SELECT {_COLUMNS} FROM gloo_mcp_tasks WHERE task_id = %s AND owner = %s AND expires_ms > %s",
                (task_id, owner, now_ms),
            )
        )
        return TaskRecord.of(rows[0]) if rows else None

    async def renew(self, task_id: str, *, lease_ms: int, message: str | None, now_ms: int) -> bool | None:
        """Extend a working task's lease (and set its status message, when given).

        Returns whether a cancel was requested, or None when the task is no longer working
        (finished, declared lost by another replica, or expired).
        """
        if message is None:
            statement: Statement = (
                "UPDATE gloo_mcp_tasks SET lease_ms = %s WHERE task_id = %s AND status = 'working' "
                "RETURNING cancel_requested",
                (lease_ms, task_id),
            )
        else:
            statement = (
                "UPDATE gloo_mcp_tasks SET lease_ms = %s, status_message = %s, updated_ms = %s "
                "WHERE task_id = %s AND status = 'working' RETURNING cancel_requested",
                (lease_ms, message, now_ms, task_id),
            )
        rows = await self._db.run(statement)
        return bool(rows[0][0]) if rows else None

    async def request_cancel(self, task_id: str, *, owner: str) -> None:
        """Ask the server running ``owner``'s working task to stop it (it looks at every lease renewal)."""
        await self._db.run(
            (
                "UPDATE gloo_mcp_tasks SET cancel_requested = 1 "
                "WHERE task_id = %s AND owner = %s AND status = 'working'",
                (task_id, owner),
            )
        )

    async def finish(
        self, task_id: str, *, status: TaskStatus, message: str | None, outcome: str | None, now_ms: int
    ) -> bool:
        """Move a working task to its terminal ``status``; False if it was not working any more (a terminal
        status never changes)."""
        rows = await self._db.run(
            (
                "UPDATE gloo_mcp_tasks SET status = %s, status_message = %s, outcome = %s, updated_ms = %s "
                "WHERE task_id = %s AND status = 'working' RETURNING task_id",
                (status, message, outcome, now_ms, task_id),
            )
        )
        return bool(rows)

    async def abandon(self, task_id: str, *, message: str, outcome: str, now_ms: int) -> bool:
        """Declare a working task whose lease lapsed failed (its server stopped); False if it was not."""
        rows = await self._db.run(
            (
                "UPDATE gloo_mcp_tasks SET status = 'failed', status_message = %s, outcome = %s, updated_ms = %s "
                "WHERE task_id = %s AND status = 'working' AND lease_ms < %s RETURNING task_id",
                (message, outcome, now_ms, task_id, now_ms),
            )
        )
        return bool(rows)

    async def count(self) -> int:
        """How many rows the table holds, expired ones included."""
        rows = await self._db.run(("SELECT count(*) FROM gloo_mcp_tasks", ()))
        return int(rows[0][0])

    async def aclose(self) -> None:
        await self._db.aclose()


async def open_task_store(url: str) -> TaskStore:
    """The task store in the database ``url`` names (GLOO_STORE_URL), its table created if missing."""
    database: _Database
    if url.startswith("sqlite:///"):
        database = await _SQLite.open(Path(url.removeprefix("sqlite:///")))
    else:
        database = await _Postgres.open(url)
    return TaskStore(database)


# --- SQLite ---------------------------------------------------------------------------------


class _SQLite:
    """Its own connection to the store's file, run as the conversation store runs its own (store/sqlite.py)."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self._path = path
        self._db = Serialised(connection, name=f"The task store sqlite:///{path}")

    def __repr__(self) -> str:
        return f"sqlite:///{self._path}"

    @classmethod
    async def open(cls, path: Path) -> Self:
        def setup(connection: sqlite3.Connection) -> None:
            for statement in _SCHEMA:
                connection.execute(statement)

        try:
            connection = await anyio.to_thread.run_sync(open_file, path, setup)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"Could not open the task store sqlite:///{path} ({exc}); check GLOO_STORE_URL and that the directory "
                "is writable."
            ) from None
        return cls(path, connection)

    async def run(self, *statements: Statement) -> list[tuple[Any, ...]]:
        def work(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            if len(statements) == 1:
                sql, params = statements[0]
                return db.execute(sql.replace("%s", "?"), tuple(params)).fetchall()
            db.execute("BEGIN IMMEDIATE")
            try:
                rows: list[tuple[Any, ...]] = []
                for sql, params in statements:
                    rows = db.execute(sql.replace("%s", "?"), tuple(params)).fetchall()
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            return rows

        return await self._db.run(work)

    async def aclose(self) -> None:
        await self._db.aclose()


# --- PostgreSQL -----------------------------------------------------------------------------


class _Postgres:
    """Its own connection (autocommit; a transaction only for several statements), reopened once if dropped."""

    def __init__(self, url: str, connection: psycopg.AsyncConnection[Any]) -> None:
        from gloo_mcp.chats.store.postgres import Reconnecting  # psycopg loads only for a PostgreSQL store

        self._url = url
        self._db = Reconnecting(url, connection)

    def __repr__(self) -> str:
        return describe_url(self._url)

    @classmethod
    async def open(cls, url: str) -> Self:
        from gloo_mcp.chats.store.postgres import connect, failure

        connection = await connect(url)
        try:
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for statement in _SCHEMA:
                    await connection.execute(statement)
        except Exception as exc:
            await connection.close()
            raise failure(url, exc) from None
        return cls(url, connection)

    async def run(self, *statements: Statement) -> list[tuple[Any, ...]]:
        async def work(db: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            if len(statements) == 1:
                cursor = await db.execute(statements[0][0], tuple(statements[0][1]))
                return await cursor.fetchall() if cursor.description else []
            rows: list[tuple[Any, ...]] = []
            async with db.transaction():
                for sql, params in statements:
                    cursor = await db.execute(sql, tuple(params))
                    rows = await cursor.fetchall() if cursor.description else []
            return rows

        return await self._db.run(work)

    async def aclose(self) -> None:
        await self._db.aclose()
