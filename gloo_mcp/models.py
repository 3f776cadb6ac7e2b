"""Pydantic models: Gloo's wire format (read tolerantly) and the tools' output (strict, documented).

Wire models accept what Gloo's API reference and samples show — prefixed string ids,
naive ISO timestamps, extra fields — and turn it into the tool models that agents see.

Every text field of a tool model is cleaned of control characters when the model is built,
whichever way its text arrived (Gloo's answer or history, a V2 stream, the store, a title
made from a question): an ESC, BEL or CSI reaching a terminal host could recolour, retitle
or rewrite its screen. :data:`Text` (answers, message content, snippets) keeps newlines and
tabs and makes a carriage return a newline; :data:`Line` (titles, ids, roles, names, URLs,
suggestions) keeps none, a line break or tab becoming a space. Both the structured content
and the Markdown are made from these models, so both are clean.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

__all__ = [
    "ChatHistory",
    "ChatList",
    "ChatMessage",
    "ChatReply",
    "ChatSummary",
    "Line",
    "MessageOptions",
    "ModelInfo",
    "ModelList",
    "Source",
    "Text",
    "TokenResponse",
    "WireChat",
    "WireMessageReply",
    "one_line",
    "plain_text",
]


@dataclass(frozen=True)
class MessageOptions:
    """Per-call knobs of ``POST /ai/v1/message``; unset ones come from the settings."""

    character_limit: int | None = None
    sources_limit: int | None = None
    publishers: tuple[str, ...] | None = None
    enable_suggestions: bool | None = None


_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 controls but tab and newline, DEL, and the C1 controls (U+0080 to U+009F; U+009B is a CSI on its own)."""
_LINE_BREAKS = re.compile("[\t\n\x0b\x0c\r\x1c-\x1f\x85]+")
"""What ``str.splitlines`` and ``str.split`` break at, within the control characters."""


def plain_text(value: str) -> str:
    """``value`` without control characters, keeping newlines and tabs (a carriage return becomes a newline)."""
    if _CONTROLS.search(value) is None:
        return value
    return _CONTROLS.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def one_line(value: str) -> str:
    """``value`` on one line without control characters: each run of line breaks and tabs becomes a space."""
    if _CONTROLS.search(value) is None and "\n" not in value and "\t" not in value:
        return value
    return _CONTROLS.sub("", _LINE_BREAKS.sub(" ", value))


Text = Annotated[str, AfterValidator(plain_text)]
"""Text that may run over lines (an answer, a message, a snippet), without control characters."""
Line = Annotated[str, AfterValidator(one_line)]
"""Text shown on one line (a title, an id, a role, a suggestion), without control characters."""


def _clean(value: object) -> object:
    """A JSON value with every string in it, keys too, made :data:`Text` (for the fields a source passes through).

    Only called on values whose nesting :func:`_nested_within` has bounded, so the recursion is shallow.
    """
    if isinstance(value, str):
        return plain_text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {one_line(k) if isinstance(k, str) else k: _clean(v) for k, v in value.items()}
    return value


# Gloo has never documented a source item; these are the names seen across its APIs.
_SOURCE_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "item_title", "name"),
    "url": ("url", "item_url", "link", "hosted_url"),
    "publisher": ("publisher", "publisher_name"),
    "snippet": ("snippet", "snippets", "text", "summary"),
}


def _as_utc(value: object) -> object:
    """Gloo sends naive ISO timestamps; they are UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _first_text(value: object) -> str | None:
    """A source field's text: a string, the first string of a list, or a number written out."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


_MAX_NESTING = 32
"""Deepest nesting kept in a source's other fields; deeper values could not be serialized back out."""


def _nested_within(value: object, limit: int = _MAX_NESTING) -> bool:
    """Whether ``value``'s lists and objects nest at most ``limit`` levels (checked without recursion)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth >= limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


class Source(BaseModel):
    """One cited source. Every field Gloo sent is kept, the four known ones under fixed names.

    Leniently: a number in a known field is written out as text; a known field whose value
    is not text (an object, a flag) and another field nested deeper than 32 levels are left out.
    """

    model_config = ConfigDict(extra="allow")

    title: Line | None = Field(default=None, description="Title of the cited work or page.")
    url: Line | None = Field(default=None, description="Link to the source, exactly as Gloo gave it.")
    publisher: Line | None = Field(default=None, description="Publisher of the source.")
    snippet: Text | None = Field(default=None, description="The passage Gloo drew on.")

    @model_validator(mode="before")
    @classmethod
    def _map_known_fields(cls, data: object) -> object:
        if isinstance(data, str):  # a bare URL or title is still a source
            return {"url": data} if data.startswith(("http://", "https://")) else {"title": data}
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        used: set[str] = set()
        for field, names in _SOURCE_ALIASES.items():
            for name in names:
                text = _first_text(data.get(name))
                if text is not None:
                    out[field] = text
                    used.add(name)
                    break
        for key, value in data.items():
            if key not in used and key not in out and key not in _SOURCE_ALIASES and _nested_within(value):
                out[one_line(key)] = _clean(value)
        return out


class ChatReply(BaseModel):
    """Gloo's answer to one message, with what an agent needs to cite and continue."""

    chat_id: Line = Field(description="The conversation's id; pass it to continue_chat or get_chat_history.")
    message_id: Line = Field(description="Id of this answer.")
    query_id: Line = Field(description="Id of the question this answers (shared by the question and its answer).")
    answer: Text = Field(description="Gloo's answer text.")
    suggestions: list[Line] = Field(
        description="Follow-up questions Gloo suggests; each can be sent with continue_chat."
    )
    sources: list[Source] = Field(description="Sources Gloo cited, in order; cite them by number as [1], [2], ….")
    timestamp: datetime | None = Field(description="When Gloo answered (UTC).")
    earlier_turns_omitted: int = Field(
        default=0,
        description="Completions V2: how many of the conversation's oldest turns were not sent to the model, to fit "
        "its context window (they stay in get_chat_history).",
    )


class ChatMessage(BaseModel):
    """One turn of a conversation."""

    role: Line = Field(description='"user" or "assistant" (any other role Gloo reports passes through).')
    content: Text = Field(description="The text of the turn.")
    timestamp: datetime | None = Field(default=None, description="When the turn was recorded (UTC).")
    message_id: Line | None = None
    query_id: Line | None = Field(default=None, description="Shared by a question and its answer.")
    sources: list[Source] = Field(default_factory=list, description="Sources cited by an assistant turn.")
    suggestions: list[Line] = Field(default_factory=list, description="Follow-ups suggested with an assistant turn.")


class ChatHistory(BaseModel):
    """A conversation's newest messages that fit one page, oldest first, and how to read further back."""

    chat_id: Line
    title: Line | None = Field(default=None, description="Gloo's generated title for the conversation.")
    created_at: datetime | None = None
    updated_at: datetime | None = None
    messages: list[ChatMessage] = Field(description="The messages on this page, oldest first.")
    total_messages: int = Field(default=0, description="How many messages the whole conversation has.")
    first_index: int = Field(default=0, description="Position of messages[0] in the whole conversation (0-based).")
    has_more: bool = Field(default=False, description="Whether older messages exist before this page.")
    next_cursor: str | None = Field(
        default=None, description="Pass as cursor to get_chat_history to read the page of older messages."
    )


class ChatSummary(BaseModel):
    """One conversation gloo-mcp started, as list_chats shows it."""

    chat_id: Line = Field(description="Pass to continue_chat or get_chat_history.")
    title: Line = Field(description="The conversation's first question (shortened).")
    backend: str = Field(description="Which Gloo API holds it: message (Gloo keeps it) or completions (gloo-mcp does).")
    created_at: datetime
    updated_at: datetime = Field(description="When its last turn was recorded.")


class ChatList(BaseModel):
    """A page of conversations, most recently updated first."""

    chats: list[ChatSummary]
    next_cursor: str | None = Field(
        default=None, description="Pass as cursor to get the next page; null when this is the last page."
    )


class ModelInfo(BaseModel):
    """One model Completions V2 can route to (from Gloo's public catalogue)."""

    model_config = ConfigDict(extra="allow")

    id: Line = Field(description="Pass as model to send_message or continue_chat (completions backend).")
    name: Line | None = None
    family: Line | None = Field(default=None, description="Pass as model_family to route within a family.")
    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_tools: bool | None = None
    supports_reasoning: bool | None = None


class ModelList(BaseModel):
    models: list[ModelInfo]


# --- wire models ------------------------------------------------------------------------


def _list_or_empty(value: object) -> object:
    return [] if value is None else value


UtcTimestamp = Annotated[datetime | None, BeforeValidator(_as_utc)]
SourceList = Annotated[list[Source], BeforeValidator(_list_or_empty)]
TextList = Annotated[list[str], BeforeValidator(_list_or_empty)]


class TokenResponse(BaseModel):
    """The OAuth2 token endpoint's answer."""

    model_config = ConfigDict(extra="ignore")

    access_token: str = Field(min_length=1)
    token_type: str = "Bearer"
    expires_in: float = Field(default=3600, gt=0)


class WireMessageReply(BaseModel):
    """``POST /ai/v1/message`` as Gloo documents it; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    success: bool = True
    chat_id: str = Field(min_length=1)
    query_id: str = ""
    message_id: str = ""
    message: str
    timestamp: UtcTimestamp = None
    suggestions: TextList = Field(default_factory=list)
    sources: SourceList = Field(default_factory=list)

    def to_reply(self) -> ChatReply:
        return ChatReply(
            chat_id=self.chat_id,
            message_id=self.message_id,
            query_id=self.query_id,
            answer=self.message,
            suggestions=[s for s in self.suggestions if one_line(s).strip()],
            sources=self.sources,
            timestamp=self.timestamp,
        )


class WireChatMessage(BaseModel):
    """One entry of a chat's ``messages``; Gloo calls its own role ``kallm``."""

    model_config = ConfigDict(extra="ignore")

    role: str
    message: str | None = None
    timestamp: UtcTimestamp = None
    message_id: str | None = None
    query_id: str | None = None
    sources: SourceList = Field(default_factory=list)
    suggestions: TextList = Field(default_factory=list)

    def to_message(self) -> ChatMessage:
        return ChatMessage(
            role="assistant" if self.role == "kallm" else self.role,
            content=self.message or "",
            timestamp=self.timestamp,
            message_id=self.message_id,
            query_id=self.query_id,
            sources=self.sources,
            suggestions=self.suggestions,
        )


class WireChat(BaseModel):
    """``GET /ai/v1/chat`` as Gloo documents it."""

    model_config = ConfigDict(extra="ignore")

    chat_id: str = Field(min_length=1)
    title: str | None = None
    created_at: UtcTimestamp = None
    updated_at: UtcTimestamp = None
    messages: Annotated[list[WireChatMessage], BeforeValidator(_list_or_empty)] = Field(default_factory=list)

    def to_history(self) -> ChatHistory:
        return ChatHistory(
            chat_id=self.chat_id,
            title=self.title,
            created_at=self.created_at,
            updated_at=self.updated_at,
            messages=[m.to_message() for m in self.messages],
            total_messages=len(self.messages),
        )
