"""The two ways gloo-mcp answers, behind one interface the tools use.

``MessageBackend`` uses Gloo's Message and Chat APIs: Gloo keeps each conversation, and
gloo-mcp only indexes the ones it starts (Gloo cannot list them). ``CompletionsBackend``
uses Completions V2, which keeps nothing: gloo-mcp stores every turn and sends the whole
conversation each time. Both return the same ChatReply and ChatHistory.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Protocol

import anyio

from gloo_mcp.client import GlooClient
from gloo_mcp.completions import OnText, complete
from gloo_mcp.errors import ChatNotFoundError, InvalidRequestError, StoreError
from gloo_mcp.history_pages import PAGE_BUDGET_BYTES, history_page, page_of
from gloo_mcp.models import ChatHistory, ChatMessage, ChatReply, ChatSummary, MessageOptions
from gloo_mcp.routing import Routing
from gloo_mcp.store import ConversationStore

__all__ = ["ChatBackend", "CompletionsBackend", "MessageBackend", "title_of"]

logger = logging.getLogger(__name__)

TITLE_LENGTH = 80
SNAPSHOTS = 8
SNAPSHOT_TTL = 120.0


def title_of(query: str) -> str:
    """A conversation's title: its first question, on one line, shortened."""
    line = " ".join(query.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"


class ChatBackend(Protocol):
    name: str

    async def send(
        self,
        query: str,
        *,
        chat_id: str | None,
        options: MessageOptions,
        routing: Routing,
        on_text: OnText | None = None,
    ) -> ChatReply: ...

    async def history(self, chat_id: str, *, before: int | None = None) -> ChatHistory:
        """The page of newest messages before position ``before`` (None: the newest page)."""
        ...


class MessageBackend:
    name = "message"

    def __init__(self, client: GlooClient, store: ConversationStore | None) -> None:
        self._client = client
        self._store = store  # None: the store could not be opened; chatting still works
        self._snapshots: OrderedDict[str, tuple[float, ChatHistory]] = OrderedDict()

    async def send(
        self,
        query: str,
        *,
        chat_id: str | None,
        options: MessageOptions,
        routing: Routing,
        on_text: OnText | None = None,
    ) -> ChatReply:
        if not routing.is_default:
            raise InvalidRequestError(
                "model, model_family, auto_routing and tradition apply only to Completions V2; omit them, or run "
                "gloo-mcp with GLOO_BACKEND=completions."
            )
        reply = await self._client.send_message(query, chat_id=chat_id, options=options)
        await self._index(reply.chat_id, query)
        return reply

    async def _index(self, chat_id: str, query: str) -> None:
        """Remember the conversation for list_chats; a store failure must not cost the user the answer."""
        if self._store is None:
            return
        try:
            await self._store.record_turn(chat_id, backend=self.name, title=title_of(query), at=datetime.now(UTC))
        except StoreError as error:
            logger.warning("could not index chat %s: %s", chat_id, error.message)

    async def history(self, chat_id: str, *, before: int | None = None) -> ChatHistory:
        """A page of the chat. Gloo hands over whole chats only, so the pages after the first are cut from
        the snapshot read for the first (kept SNAPSHOT_TTL s, the last SNAPSHOTS chats): walking a long
        chat back costs one read, not one per page."""
        whole = self._snapshot(chat_id) if before is not None else None
        if whole is None:
            whole = await self._read_whole(chat_id)
            self._snapshots[chat_id] = (anyio.current_time(), whole)
            self._snapshots.move_to_end(chat_id)
            while len(self._snapshots) > SNAPSHOTS:
                self._snapshots.popitem(last=False)
        return history_page(whole, page_of(whole, before))

    def _snapshot(self, chat_id: str) -> ChatHistory | None:
        taken = self._snapshots.get(chat_id)
        if taken is None or anyio.current_time() - taken[0] > SNAPSHOT_TTL:
            return None
        return taken[1]

    async def _read_whole(self, chat_id: str) -> ChatHistory:
        try:
            return await self._client.get_chat(chat_id)
        except ChatNotFoundError:
            known = await self._store.chat(chat_id) if self._store is not None else None
            if known is not None and known.backend == "completions":
                raise ChatNotFoundError(
                    f"Chat {chat_id!r} was held with Completions V2 and is kept by gloo-mcp, not Gloo; run "
                    "gloo-mcp with GLOO_BACKEND=completions to read or continue it."
                ) from None
            raise


class CompletionsBackend:
    name = "completions"

    def __init__(self, client: GlooClient, store: ConversationStore) -> None:
        self._client = client
        self._store = store

    async def send(
        self,
        query: str,
        *,
        chat_id: str | None,
        options: MessageOptions,
        routing: Routing,
        on_text: OnText | None = None,
    ) -> ChatReply:
        settings = self._client.settings
        publishers = settings.publishers if options.publishers is None else options.publishers
        if len(publishers) > 1:
            raise InvalidRequestError(
                "Completions V2 grounds an answer in one publisher at a time; pass a single publisher name."
            )
        routing.fields(grounded=bool(publishers))  # reject bad combinations before touching the store
        earlier = await self._earlier_messages(chat_id) if chat_id is not None else []
        limit = settings.character_limit if options.character_limit is None else options.character_limit
        instructions = {"role": "system", "content": f"Answer in at most {limit} characters."}
        conversation = [
            instructions,
            *({"role": m.role, "content": m.content} for m in earlier if m.role in ("user", "assistant")),
            {"role": "user", "content": query},
        ]
        sources_limit = settings.sources_limit if options.sources_limit is None else options.sources_limit
        asked = datetime.now(UTC)
        completion = await complete(
            self._client,
            conversation,
            routing=routing,
            publisher=publishers[0] if publishers else None,
            sources_limit=sources_limit,
            on_text=on_text,
        )
        now = datetime.now(UTC)
        chat_id = chat_id or f"gm-{uuid.uuid4()}"
        query_id = f"gq-{uuid.uuid4()}"
        answer = ChatMessage(
            role="assistant",
            content=completion.content,
            timestamp=now,
            message_id=completion.completion_id or f"gm-{uuid.uuid4()}",
            query_id=query_id,
            sources=completion.sources[: max(sources_limit, 0)],
        )
        question = ChatMessage(
            role="user", content=query, timestamp=asked, message_id=f"gu-{uuid.uuid4()}", query_id=query_id
        )
        try:
            await self._store.record_turn(
                chat_id, backend=self.name, title=title_of(query), at=now, messages=[question, answer]
            )
        except StoreError as error:  # Gloo answered: the answer must not be lost with the turn
            raise StoreError(
                f"{error.message} Gloo answered, but the turn was not saved, so continue_chat will not know it. "
                f"The answer was: {answer.content}"
            ) from None
        return ChatReply(
            chat_id=chat_id,
            message_id=answer.message_id or "",
            query_id=query_id,
            answer=answer.content,
            suggestions=[],
            sources=answer.sources,
            timestamp=now,
        )

    async def _earlier_messages(self, chat_id: str) -> list[ChatMessage]:
        await self._known(chat_id)
        return await self._store.messages(chat_id)

    async def _known(self, chat_id: str) -> ChatSummary:
        """The chat's index row, if gloo-mcp keeps it as a Completions V2 chat; else ChatNotFoundError."""
        known = await self._store.chat(chat_id)
        if known is None or known.backend != "completions":
            where = (
                "it lives in Gloo's Message API (run with GLOO_BACKEND=message to use it)"
                if known is not None
                else "check the id (list_chats shows the known ones)"
            )
            raise ChatNotFoundError(
                f"gloo-mcp keeps no Completions V2 chat with id {chat_id!r}; {where}, or call send_message to start "
                "a new conversation."
            )
        return known

    async def history(self, chat_id: str, *, before: int | None = None) -> ChatHistory:
        known = await self._known(chat_id)
        page = await self._store.newest_messages(chat_id, before=before, budget=PAGE_BUDGET_BYTES)
        chat = ChatHistory(
            chat_id=chat_id, title=known.title, created_at=known.created_at, updated_at=known.updated_at, messages=[]
        )
        return history_page(chat, page)
