"""gloo-mcp's own record of conversations: an index on every backend, the whole history on Completions V2.

Gloo has no endpoint that lists chats, and Completions V2 keeps no history at all, so
gloo-mcp keeps both itself, behind :class:`ConversationStore`. SQLite (a file in the
user's data directory) is the default; a ``postgresql://`` URL lets several replicas share
one store. Both keep a turn's messages in one transaction, numbered in order, so two
processes writing at once neither lose nor interleave turns.
"""

from __future__ import annotations

from gloo_mcp.chats.store.base import (
    LOCAL_OWNER,
    ConversationStore,
    describe_url,
    not_yours,
    store_failure,
    take_newest,
)

__all__ = [
    "LOCAL_OWNER",
    "ConversationStore",
    "describe_url",
    "not_yours",
    "open_store",
    "store_failure",
    "take_newest",
]


async def open_store(url: str) -> ConversationStore:
    """The store ``url`` names, schema created if missing. Raises StoreError with a usable sentence."""
    store: ConversationStore
    if url.startswith("sqlite:///"):
        from gloo_mcp.chats.store.sqlite import SQLiteStore

        store = await SQLiteStore.open(url.removeprefix("sqlite:///"))
    else:
        from gloo_mcp.chats.store.postgres import PostgresStore

        store = await PostgresStore.open(url)
    return store
