"""The embedded default store: one SQLite file, safe for several processes on one machine.

WAL journaling lets readers run beside a writer (and commit without an fsync each); ``BEGIN IMMEDIATE`` takes the write
lock before a turn's position is read, so two processes appending to one chat at once
are serialised instead of colliding; ``busy_timeout`` makes the loser wait, not fail.
Statements run one at a time per process: inline when they need not wait, on a worker
thread when another process holds the write lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import anyio

from gloo_mcp.chats.paging import MessagePage, decode_cursor, encode_cursor
from gloo_mcp.chats.store.base import not_yours, take_newest
from gloo_mcp.errors import StoreError
from gloo_mcp.models import ChatMessage, ChatSummary

_T = TypeVar("_T")

__all__ = ["SQLiteStore", "Serialised", "open_file"]

_BASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    chat_id    TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    backend    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chats_by_update ON chats (updated_at DESC, chat_id DESC);
CREATE TABLE IF NOT EXISTS messages (
    chat_id  TEXT NOT NULL REFERENCES chats (chat_id),
    position INTEGER NOT NULL,
    body     TEXT NOT NULL,
    PRIMARY KEY (chat_id, position)
);
"""

# Title search: an FTS5 trigram index over chats.title (substring matches of 3+ characters, any
# case, without scanning the table), kept in step with chats by triggers.
_TITLE_INDEX = """
CREATE VIRTUAL TABLE chats_title USING fts5(title, content='chats', content_rowid='rowid', tokenize='trigram');
CREATE TRIGGER chats_title_insert AFTER INSERT ON chats BEGIN
    INSERT INTO chats_title (rowid, title) VALUES (new.rowid, new.title);
END;
CREATE TRIGGER chats_title_delete AFTER DELETE ON chats BEGIN
    INSERT INTO chats_title (chats_title, rowid, title) VALUES ('delete', old.rowid, old.title);
END;
CREATE TRIGGER chats_title_update AFTER UPDATE OF title ON chats BEGIN
    INSERT INTO chats_title (chats_title, rowid, title) VALUES ('delete', old.rowid, old.title);
    INSERT INTO chats_title (rowid, title) VALUES (new.rowid, new.title);
END;
INSERT INTO chats_title (chats_title) VALUES ('rebuild');
"""

# Owners: every chat belongs to a principal; rows from before belong to the local one. Lists seek in
# (owner, updated_at, chat_id), which replaces the owner-less index.
_OWNERS = """
ALTER TABLE chats ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
DROP INDEX IF EXISTS chats_by_update;
CREATE INDEX chats_by_owner ON chats (owner, updated_at DESC, chat_id DESC);
"""

_MIGRATIONS = (_BASE_SCHEMA, _TITLE_INDEX, _OWNERS)
"""Schema version N is reached by running the first N scripts; ``PRAGMA user_version`` records N.

Version 1 is the schema stores were created with before versions were recorded (user_version 0),
and its script is idempotent, so an old store and a new one are upgraded the same way."""

_TRIGRAM = 3  # the shortest text the trigram index can find; shorter searches scan titles


def _migrate(db: sqlite3.Connection) -> None:
    """Bring the schema up to date in place, in one transaction, without touching a row's data.

    ``BEGIN IMMEDIATE`` takes the write lock first, so of two processes opening an old store
    at once, one migrates and the other then finds nothing left to do.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        for script in _MIGRATIONS[version:]:
            for statement in _statements(script):
                db.execute(statement)
        db.execute(f"PRAGMA user_version={len(_MIGRATIONS)}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    """A script's statements (executescript would commit the migration's transaction)."""
    statements, current = [], ""
    for line in script.strip().splitlines():
        current += line + "\n"
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


_FEW_HITS = 100


def _hits(db: sqlite3.Connection, text: str) -> int:
    """How many titles contain ``text``, counted only up to _FEW_HITS + 1 (cheap either way)."""
    (count,) = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM chats_title WHERE chats_title MATCH ? LIMIT ?)",
        (_fts_phrase(text), _FEW_HITS + 1),
    ).fetchone()
    return int(count)


_BUSY_TIMEOUT_MS = 30_000


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def open_file(path: Path, setup: Callable[[sqlite3.Connection], None]) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path`` (its directory made if missing), ``setup`` run on it.

    Autocommit (transactions are explicit), WAL + NORMAL: commits stay atomic and the file
    uncorrupted on a crash, without an fsync per commit (a power cut may lose the last ones),
    and readers never wait for a writer. Blocking: run it on a worker thread.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        setup(connection)
    except BaseException:
        connection.close()
        raise
    return connection


class Serialised:
    """One SQLite connection, one piece of work at a time, inline when it cannot wait, else on a worker thread.

    A statement that would have to wait for another process's write lock fails at once
    inline (busy_timeout 0) and is rerun on a thread that may wait. Otherwise SQLite
    answers in well under a millisecond, less than the hop to a thread costs (measured:
    0.7 ms a call through the MCP server). Callers queue on an async lock, not as threads.
    """

    def __init__(self, connection: sqlite3.Connection, *, name: str) -> None:
        self._connection = connection
        self._name = name  # "The conversation store sqlite:///…": the subject of the sentence a failure is
        self._lock = anyio.Lock()

    async def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        db = self._connection
        try:
            async with self._lock:
                try:
                    db.execute("PRAGMA busy_timeout=0")
                    return work(db)
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                finally:
                    db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
                return await anyio.to_thread.run_sync(work, db)
        except sqlite3.Error as exc:
            raise StoreError(f"{self._name} failed ({exc}); try again.") from None

    async def aclose(self) -> None:
        async with self._lock:
            self._connection.close()


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _summary(row: sqlite3.Row) -> ChatSummary:
    return ChatSummary(
        chat_id=row["chat_id"],
        title=row["title"],
        backend=row["backend"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


class SQLiteStore:
    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self._path = path
        self._db = Serialised(connection, name=f"The conversation store sqlite:///{path}")

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self._path)!r})"

    @classmethod
    async def open(cls, path: str) -> Self:
        location = Path(path)

        def setup(connection: sqlite3.Connection) -> None:
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA foreign_keys=ON")
            _migrate(connection)

        try:
            connection = await anyio.to_thread.run_sync(open_file, location, setup)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"Could not open the conversation store sqlite:///{location} ({exc}); check GLOO_STORE_URL and that "
                "the directory is writable."
            ) from None
        return cls(location, connection)

    async def _run(self, work: Any) -> Any:
        return await self._db.run(work)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

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
        stamp = at.isoformat()
        bodies = [message.model_dump_json() for message in messages]

        def write(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO chats (chat_id, owner, title, backend, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (chat_id) DO UPDATE SET updated_at = excluded.updated_at WHERE owner = excluded.owner",
                    (chat_id, owner, title, backend, stamp, stamp),
                )
                (holder,) = db.execute("SELECT owner FROM chats WHERE chat_id = ?", (chat_id,)).fetchone()
                if holder != owner:
                    raise not_yours(chat_id)
                (last,) = db.execute(
                    "SELECT COALESCE(MAX(position), -1) FROM messages WHERE chat_id = ?", (chat_id,)
                ).fetchone()
                db.executemany(
                    "INSERT INTO messages (chat_id, position, body) VALUES (?, ?, ?)",
                    [(chat_id, last + 1 + i, body) for i, body in enumerate(bodies)],
                )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

        await self._run(write)

    async def chat(self, chat_id: str, *, owner: str) -> ChatSummary | None:
        def read(db: sqlite3.Connection) -> ChatSummary | None:
            row = db.execute("SELECT * FROM chats WHERE chat_id = ? AND owner = ?", (chat_id, owner)).fetchone()
            return None if row is None else _summary(row)

        result: ChatSummary | None = await self._run(read)
        return result

    async def messages(self, chat_id: str, *, owner: str) -> list[ChatMessage]:
        def read(db: sqlite3.Connection) -> list[str]:
            rows = db.execute(
                "SELECT body FROM messages WHERE chat_id = ? "
                "AND chat_id IN (SELECT chat_id FROM chats WHERE owner = ?) ORDER BY position",
                (chat_id, owner),
            )
            return [row["body"] for row in rows]

        bodies: list[str] = await self._run(read)
        return [ChatMessage.model_validate_json(body) for body in bodies]

    async def newest_messages(self, chat_id: str, *, owner: str, before: int | None, budget: int) -> MessagePage:
        def read(db: sqlite3.Connection) -> tuple[list[tuple[int, str]], int]:
            if db.execute("SELECT 1 FROM chats WHERE chat_id = ? AND owner = ?", (chat_id, owner)).fetchone() is None:
                return [], 0
            (last,) = db.execute("SELECT MAX(position) FROM messages WHERE chat_id = ?", (chat_id,)).fetchone()
            total = -1 if last is None else last
            rows = db.execute(
                "SELECT position, body FROM messages WHERE chat_id = ? AND position < ? ORDER BY position DESC",
                (chat_id, total + 1 if before is None else before),
            )  # a cursor over the primary key, read only as far as the budget goes
            taken, _ = take_newest(((row["position"], row["body"]) for row in rows), budget)
            return taken, total + 1

        taken, total = await self._run(read)
        messages = [ChatMessage.model_validate_json(body) for _, body in taken]
        return MessagePage(messages, taken[0][0] if taken else 0, total)

    async def list_chats(
        self, *, owner: str, text: str | None, limit: int, cursor: str | None
    ) -> tuple[list[ChatSummary], str | None]:
        searched = text is not None and len(text) >= _TRIGRAM
        cursor_at = decode_cursor(cursor) if cursor else None

        def read(db: sqlite3.Connection) -> list[ChatSummary]:
            # Text that few titles contain is found through the title index, sorting only its hits; text that
            # many contain, by walking the owner's chats newest first until a page is full (it comes soon).
            # SQLite keeps no statistics here, so the index is asked how many hits there are (up to
            # _FEW_HITS + 1): each way, a page costs about the same at 1k or 1M chats.
            by_title = searched and _hits(db, text or "") <= _FEW_HITS
            clauses = ["+owner = ?" if by_title else "owner = ?"]  # unary +: not through chats_by_owner
            params: list[object] = [owner]
            if by_title:
                clauses.append("(rowid IN (SELECT rowid FROM chats_title WHERE chats_title MATCH ?) OR chat_id = ?)")
                params += [_fts_phrase(text or ""), text]
            elif text:
                clauses.append("(title LIKE ? ESCAPE '\\' OR chat_id = ?)")
                params += [_like(text), text]
            if cursor_at is not None:
                clauses.append("(updated_at, chat_id) < (?, ?)")  # a row value: seeks in chats_by_owner
                params += list(cursor_at)
            query = f"SELECT * FROM chats WHERE {' AND '.join(clauses)} ORDER BY updated_at DESC, chat_id DESC LIMIT ?"
            return [_summary(row) for row in db.execute(query, (*params, limit + 1))]

        rows: list[ChatSummary] = await self._run(read)
        page = rows[:limit]
        return page, (encode_cursor(page[-1]) if len(rows) > limit else None)

    async def aclose(self) -> None:
        await self._db.aclose()
