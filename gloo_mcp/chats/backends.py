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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import anyio

from gloo_mcp.chats.context_window import budget_for, fit_newest_turns, is_context_overflow, smaller_budget
from gloo_mcp.chats.follow_ups import GRACE_SECONDS, suggest_follow_ups
from gloo_mcp.chats.paging import PAGE_BUDGET_BYTES, history_page, scan_page
from gloo_mcp.chats.store import ConversationStore
from gloo_mcp.chats.task_context import gloo_answered
from gloo_mcp.chats.tenancy import Tenancy
from gloo_mcp.errors import (
    ChatNotFoundError,
    GlooError,
    InvalidRequestError,
    StoreError,
    error_from_status,
    shorten,
)
from gloo_mcp.gloo.chat_scan import ChatScan
from gloo_mcp.gloo.client import GlooClient
from gloo_mcp.gloo.completions import Completion, OnText, complete
from gloo_mcp.gloo.routing import Routing
from gloo_mcp.models import ChatHistory, ChatMessage, ChatReply, ChatSummary, MessageOptions, ModelInfo

if TYPE_CHECKING:
    from gloo_mcp.config import Settings

__all__ = ["ChatBackend", "CompletionsBackend", "MessageBackend", "title_of"]

logger = logging.getLogger(__name__)

TITLE_LENGTH = 80
_STORED_BYTES_PER_TOKEN = 12
"""Stored JSON read per token of context budget: a token is about 3 characters of content, and a stored
message carries its sources and ids besides, so 4 times that covers what the budget can use."""
SNAPSHOT_CHARACTERS = 64 * 1024 * 1024
"""Chat text the Message API backend keeps for paging back (the newest kept chat may alone exceed it briefly)."""
SNAPSHOT_TTL = 120.0
ONE_PRINCIPAL = Tenancy(per_user=False)
"""A backend built without a tenancy serves one principal (stdio, a shared token)."""


def title_of(query: str) -> str:
    """A conversation's title: its first question, on one line, shortened."""
    return shorten(query, TITLE_LENGTH)


class ChatBackend(Protocol):
    """Both backends take the caller (``owner``) on every call and show each owner only its own chats."""

    name: str

    async def send(
        self,
        query: str,
        *,
        owner: str,
        chat_id: str | None,
        options: MessageOptions,
        routing: Routing,
        on_text: OnText | None = None,
    ) -> ChatReply: ...

    async def history(self, chat_id: str, *, owner: str, before: int | None = None) -> ChatHistory:
        """The page of newest messages before position ``before`` (None: the newest page)."""
        ...


CANNOT_TELL = (
    "gloo-mcp cannot tell which conversations are yours right now (its conversation store is unavailable), so it "
    "will not read or continue one; try again later."
)
CANNOT_RECORD = (
    "gloo-mcp cannot record a new conversation as yours right now (its conversation store is unavailable), so it "
    "has not asked Gloo; try again in a few seconds."
)


def _unknown_chat(chat_id: str) -> ChatNotFoundError:
    """Exactly what Gloo's "no such chat" becomes, so another owner's chat reads like one that does not exist."""
    error = error_from_status(404, None, chat_id=chat_id)
    assert isinstance(error, ChatNotFoundError)
    return error


def _held_by_completions(chat_id: str) -> ChatNotFoundError:
    return ChatNotFoundError(
        f"Chat {chat_id!r} was held with Completions V2 and is kept by gloo-mcp, not Gloo; run gloo-mcp with "
        "GLOO_BACKEND=completions to read or continue it."
    )


class MessageBackend:
    """Gloo keeps the chats; the store records whose each one is.

    With one principal (stdio, a shared token) a chat Gloo knows is readable even if the
    store never saw it. On a per-user server a chat is readable and continuable only by the
    owner the store names, and when the store cannot say, the call fails closed.
    """

    name = "message"

    def __init__(
        self,
        client: GlooClient,
        store: Callable[[], Awaitable[ConversationStore]],
        *,
        tenancy: Tenancy = ONE_PRINCIPAL,
    ) -> None:
        self._client = client
        self._open_store = store  # may raise StoreError: then chatting still works, unless per-user
        self._tenancy = tenancy
        self._snapshots: OrderedDict[tuple[str, str], tuple[float, ChatScan]] = OrderedDict()

    async def send(
        self,
        query: str,
        *,
        owner: str,
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
        if chat_id is not None:
            await self._check_owner(chat_id, owner)
        elif self._tenancy.per_user:
            await self._check_recordable()
        reply = await self._client.send_message(query, chat_id=chat_id, options=options)
        gloo_answered()  # Gloo recorded the turn: a Task's cancel no longer stops it (task_context.py)
        await self._index(reply.chat_id, owner, query)
        return reply

    async def _store(self) -> ConversationStore | None:
        """The store, or None when it is unavailable (logged; a per-user server never gets here)."""
        try:
            return await self._open_store()
        except StoreError as error:
            logger.warning("conversations will not be indexed for list_chats: %s", error.message)
            return None

    async def _check_recordable(self) -> None:
        """Per-user, before a new chat reaches Gloo: the store must be able to record whose it is."""
        try:
            await (await self._open_store()).ping()
        except StoreError as error:
            raise self._tenancy.store_unavailable(error, sentence=CANNOT_RECORD, doing="refused a new chat") from None

    async def _check_owner(self, chat_id: str, owner: str) -> None:
        """Per-user: the store must name ``owner`` as the chat's owner; unknown and foreign chats read alike."""
        if not self._tenancy.per_user:
            return
        try:
            known = await (await self._open_store()).chat(chat_id, owner=owner)
        except StoreError as error:
            raise self._tenancy.store_unavailable(
                error, sentence=CANNOT_TELL, doing=f"refused chat {chat_id}"
            ) from None
        if known is None:
            raise _unknown_chat(chat_id)
        if known.backend == "completions":
            raise _held_by_completions(chat_id)

    async def _index(self, chat_id: str, owner: str, query: str) -> None:
        """Remember the conversation and its owner; a store failure must not cost the user the answer."""
        store = await self._store()
        if store is None:
            return
        try:
            await store.record_turn(
                chat_id, owner=owner, backend=self.name, title=title_of(query), at=datetime.now(UTC)
            )
        except StoreError as error:
            logger.warning("could not index chat %s: %s", chat_id, error.message)

    async def history(self, chat_id: str, *, owner: str, before: int | None = None) -> ChatHistory:
        """A page of the chat. Gloo hands over whole chats only, so the pages after the first are cut from
        the snapshot read for the first (kept SNAPSHOT_TTL s, at most SNAPSHOT_CHARACTERS of chat text in
        all): walking a long chat back costs one read, not one per page."""
        await self._check_owner(chat_id, owner)
        key = (owner, chat_id)
        whole = self._snapshot(key) if before is not None else None
        if whole is None:
            whole = await self._read_whole(chat_id, owner)
            self._keep(key, whole)
        return scan_page(whole, before)

    def _keep(self, key: tuple[str, str], scan: ChatScan) -> None:
        self._snapshots.pop(key, None)
        self._snapshots[key] = (anyio.current_time(), scan)
        while len(self._snapshots) > 1 and sum(kept.size for _, kept in self._snapshots.values()) > SNAPSHOT_CHARACTERS:
            self._snapshots.popitem(last=False)

    def _snapshot(self, key: tuple[str, str]) -> ChatScan | None:
        taken = self._snapshots.get(key)
        if taken is None or anyio.current_time() - taken[0] > SNAPSHOT_TTL:
            return None
        return taken[1]

    async def _read_whole(self, chat_id: str, owner: str) -> ChatScan:
        try:
            return await self._client.get_chat(chat_id)
        except ChatNotFoundError:
            store = await self._store()
            known = await store.chat(chat_id, owner=owner) if store is not None else None
            if known is not None and known.backend == "completions":
                raise _held_by_completions(chat_id) from None
            raise


@dataclass(frozen=True)
class _Request:
    """What one V2 question needs besides the context budget."""

    query: str
    earlier: list[ChatMessage]
    instructions: dict[str, str]
    routing: Routing
    publisher: str | None
    sources_limit: int
    on_text: OnText | None


def _wire(messages: Iterable[ChatMessage]) -> list[dict[str, str]]:
    """Stored messages as the chat format's role/content pairs (other roles are not sent)."""
    return [{"role": m.role, "content": m.content} for m in messages if m.role in ("user", "assistant")]


class CompletionsBackend:
    """gloo-mcp keeps the chats (``store``) and sends each question with the newest turns that fit.

    ``settings`` gives the request defaults (GLOO_CHARACTER_LIMIT and its neighbours) and the
    context budget (GLOO_CONTEXT_BUDGET), read here once; the server passes its own, and a
    backend built without them (a test's) uses those the client was opened with.
    """

    name = "completions"

    def __init__(
        self,
        client: GlooClient,
        store: ConversationStore,
        models: Callable[[], Awaitable[list[ModelInfo]]] | None = None,
        *,
        settings: Settings | None = None,
        tenancy: Tenancy = ONE_PRINCIPAL,
    ) -> None:
        self._client = client
        self._store = store
        self._tenancy = tenancy
        self._models = models  # the cached catalogue, for the routed model's context window
        self._defaults = settings if settings is not None else client.settings
        self._context_budget = self._defaults.context_budget

    async def send(
        self,
        query: str,
        *,
        owner: str,
        chat_id: str | None,
        options: MessageOptions,
        routing: Routing,
        on_text: OnText | None = None,
    ) -> ChatReply:
        resolved = options.resolve(self._defaults)
        publishers = resolved.publishers
        if len(publishers) > 1:
            raise InvalidRequestError(
                "Completions V2 grounds an answer in one publisher at a time; pass a single publisher name."
            )
        routing.fields(grounded=bool(publishers))  # reject bad combinations before touching the store
        if chat_id is not None:
            await self._known(chat_id, owner)
        else:
            await self._check_recordable()
        limit = resolved.character_limit
        budget = budget_for(
            configured=self._context_budget,
            model=await self._model(routing),
            answer_characters=limit,
            question=query,
        )
        earlier, turns_before = await self._earlier_page(chat_id, owner, budget) if chat_id is not None else ([], 0)
        sources_limit = resolved.sources_limit
        request = _Request(
            query=query,
            earlier=earlier,
            instructions={"role": "system", "content": f"Answer in at most {limit} characters."},
            routing=routing,
            publisher=publishers[0] if publishers else None,
            sources_limit=sources_limit,
            on_text=on_text,
        )
        asked = datetime.now(UTC)
        completion, left_out, suggestions = await self._answer_with_suggestions(
            request, budget, suggest=resolved.enable_suggestions
        )
        omitted = turns_before + left_out
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
                chat_id, owner=owner, backend=self.name, title=title_of(query), at=now, messages=[question, answer]
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
            suggestions=suggestions,
            sources=answer.sources,
            timestamp=now,
            earlier_turns_omitted=omitted,
        )

    async def _check_recordable(self) -> None:
        """Before a new chat reaches Gloo: the store that must keep its turns answers."""
        try:
            await self._store.ping()
        except StoreError as error:
            raise self._tenancy.store_unavailable(error, sentence=CANNOT_RECORD, doing="refused a new chat") from None

    async def _answer_with_suggestions(
        self, request: _Request, budget: int, *, suggest: bool
    ) -> tuple[Completion, int, list[str]]:
        """The answer, with follow-ups asked for beside it (never delaying it by more than GRACE_SECONDS)."""
        suggestions: list[str] = []
        suggested = anyio.Event()

        async def ask_for_suggestions() -> None:
            found = await suggest_follow_ups(
                self._client, _wire(request.earlier), request.query, routing=request.routing
            )
            suggestions.extend(found)
            suggested.set()

        failure: GlooError | None = None
        async with anyio.create_task_group() as beside:
            if suggest:
                beside.start_soon(ask_for_suggestions)
            try:
                completion, left_out = await self._answer_fitting(request, budget)
            except GlooError as error:  # raised below, not wrapped in the task group's ExceptionGroup
                failure = error
            else:
                gloo_answered()  # from here the turn is recorded and returned, whatever a Task's cancel says
                if suggest:
                    with anyio.move_on_after(GRACE_SECONDS):
                        await suggested.wait()
            beside.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return completion, left_out, suggestions

    async def _answer_fitting(self, request: _Request, budget: int) -> tuple[Completion, int]:
        """The answer; when Gloo says the conversation does not fit, one retry with a smaller budget.

        Safe to repeat: a V2 request that was rejected recorded nothing anywhere.
        """
        try:
            return await self._answer(request, budget)
        except GlooError as error:
            if not is_context_overflow(error) or not request.earlier:
                raise
        logger.info("Gloo said the conversation does not fit; retrying with a smaller context budget")
        try:
            return await self._answer(request, smaller_budget(budget))
        except GlooError as error:
            if not is_context_overflow(error):
                raise
        raise InvalidRequestError(
            "This conversation no longer fits the model's context window, even with only its newest turns; start a "
            "new conversation with send_message (or set GLOO_CONTEXT_BUDGET lower)."
        )

    async def _answer(self, request: _Request, budget: int) -> tuple[Completion, int]:
        """One completion of the question after the newest earlier turns that fit ``budget``; and how many did not."""
        kept, left_out = fit_newest_turns(request.earlier, budget)
        conversation = [request.instructions, *_wire(kept), {"role": "user", "content": request.query}]
        completion = await complete(
            self._client,
            conversation,
            routing=request.routing,
            publisher=request.publisher,
            sources_limit=request.sources_limit,
            on_text=request.on_text,
        )
        return completion, left_out

    async def _earlier_page(self, chat_id: str, owner: str, budget: int) -> tuple[list[ChatMessage], int]:
        """The newest earlier messages that could fit ``budget`` tokens, and how many turns precede them.

        Read by position from the store, newest first, and only as much stored JSON as the budget
        could use, so a turn costs the same at 20 or 20,000 turns.
        """
        page = await self._store.newest_messages(
            chat_id, owner=owner, before=None, budget=max(budget, 1) * _STORED_BYTES_PER_TOKEN
        )
        return page.messages, (page.start + 1) // 2

    async def _model(self, routing: Routing) -> ModelInfo | None:
        """The routed model's catalogue entry, for its context window; None when unknown or unreachable."""
        if routing.model is None or self._models is None:
            return None
        try:
            catalogue = await self._models()
        except GlooError as error:
            logger.info("model catalogue unavailable, using the default context budget: %s", error.message)
            return None
        return next((m for m in catalogue if m.id == routing.model), None)

    async def _known(self, chat_id: str, owner: str) -> ChatSummary:
        """The chat's index row, if gloo-mcp keeps it as a Completions V2 chat; else ChatNotFoundError."""
        try:
            known = await self._store.chat(chat_id, owner=owner)
        except StoreError as error:
            raise self._tenancy.store_unavailable(
                error, sentence=CANNOT_TELL, doing=f"refused chat {chat_id}"
            ) from None
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

    async def history(self, chat_id: str, *, owner: str, before: int | None = None) -> ChatHistory:
        known = await self._known(chat_id, owner)
        page = await self._store.newest_messages(chat_id, owner=owner, before=before, budget=PAGE_BUDGET_BYTES)
        chat = ChatHistory(
            chat_id=chat_id, title=known.title, created_at=known.created_at, updated_at=known.updated_at, messages=[]
        )
        return history_page(chat, page)
