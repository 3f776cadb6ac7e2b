"""What every conversation store shares: the protocol, the local owner, and the helpers both stores use.

The package (``gloo_mcp.chats.store``) re-exports all of it, with :func:`open_store`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol
from urllib.parse import unquote

from gloo_mcp.chats.paging import MessagePage
from gloo_mcp.errors import ChatNotFoundError, StoreError
from gloo_mcp.models import ChatMessage, ChatSummary

__all__ = [
    "LOCAL_OWNER",
    "ConversationStore",
    "describe_url",
    "not_yours",
    "store_failure",
    "take_newest",
]


LOCAL_OWNER = "local"
"""The one principal of a server without per-user sign-in (stdio, or HTTP with a shared token); rows recorded
before conversations had owners belong to it."""


class ConversationStore(Protocol):
    """Every conversation belongs to an owner, and every method takes one: a chat of another owner reads
    exactly like a chat that does not exist, so no caller of the store can forget whose data it asks for."""

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
        """Create the chat for ``owner`` if new (else mark it updated at ``at``) and append ``messages``, atomically.

        Raises ChatNotFoundError if the chat exists and belongs to someone else.
        """
        ...

    async def chat(self, chat_id: str, *, owner: str) -> ChatSummary | None: ...

    async def messages(self, chat_id: str, *, owner: str) -> list[ChatMessage]:
        """The chat's messages in the order they were recorded."""
        ...

    async def newest_messages(self, chat_id: str, *, owner: str, before: int | None, budget: int) -> MessagePage:
        """The newest messages recorded before position ``before`` (all, if None) whose JSON fits ``budget`` bytes.

        Read newest first and returned oldest first; at least one message when any is left,
        even if that one alone exceeds the budget. Costs what the page costs, whatever the
        chat's length.
        """
        ...

    async def list_chats(
        self, *, owner: str, text: str | None, limit: int, cursor: str | None
    ) -> tuple[list[ChatSummary], str | None]:
        """``owner``'s chats, most recently updated first; ``text`` matches the title (any case) or the exact id."""
        ...

    async def ping(self) -> None:
        """Answer a trivial query, or raise StoreError: asked before a call that must record what Gloo answers."""
        ...

    async def aclose(self) -> None: ...


def take_newest(bodies: Iterable[tuple[int, str]], budget: int, *, used: int = 0) -> tuple[list[tuple[int, str]], bool]:
    """From (position, JSON body) pairs newest first, those that fit ``budget`` bytes of which ``used`` are spent.

    At least one is taken when nothing was before (``used == 0``). Returns them oldest
    first, and whether the iteration stopped because the budget was spent.
    """
    taken: list[tuple[int, str]] = []
    for position, body in bodies:
        if (taken or used) and used + len(body) > budget:
            return taken[::-1], True
        taken.append((position, body))
        used += len(body)
    return taken[::-1], False


def not_yours(chat_id: str) -> ChatNotFoundError:
    """What adding to another owner's chat raises: the same as for a chat that does not exist."""
    return ChatNotFoundError(
        f"There is no conversation with id {chat_id!r} for you; check the id (list_chats shows yours), or call "
        "send_message to start a new one."
    )


def describe_url(url: str) -> str:
    """The store URL without its user name and password, for messages and logs; never raises."""
    scheme, _, rest = url.partition("://")
    if scheme.startswith("sqlite"):
        return url
    netloc, slash, path = rest.partition("/")
    host = netloc.rpartition("@")[2]
    return f"{scheme}://{host}{slash}{path.partition('?')[0]}"


def _url_secrets(url: str) -> list[str]:
    """Every form in which the URL's password (and user info) could appear in a driver's message."""
    netloc = url.partition("://")[2].partition("/")[0]
    userinfo = netloc.rpartition("@")[0]
    password = userinfo.partition(":")[2]
    forms = {userinfo, password, unquote(password), url}
    return sorted((form for form in forms if form), key=len, reverse=True)


def store_failure(url: str, exc: BaseException, *, advice: str) -> StoreError:
    """A StoreError naming the store without its password, with the driver's reason scrubbed of it too."""
    text = str(exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    for secret in _url_secrets(url):
        reason = reason.replace(secret, "***")
    return StoreError(f"The conversation store {describe_url(url)} failed ({reason}); {advice}")
