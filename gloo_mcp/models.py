"""Pydantic models shared by every room: the tools' output (strict, documented) and the chat_id rule.

Gloo's wire format is read tolerantly in ``gloo_mcp.gloo.wire`` and turned into these.

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
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from gloo_mcp.config import Settings

__all__ = [
    "CHAT_ID_MAX_LENGTH",
    "CHAT_ID_PATTERN",
    "ChatHistory",
    "ChatList",
    "ChatMessage",
    "ChatReply",
    "ChatSummary",
    "Line",
    "MessageOptions",
    "ModelInfo",
    "ModelList",
    "ResolvedOptions",
    "Source",
    "Text",
    "could_be_chat_id",
    "one_line",
    "plain_text",
]


CHAT_ID_MAX_LENGTH = 200
CHAT_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
_CHAT_ID = re.compile(CHAT_ID_PATTERN)


def could_be_chat_id(text: str) -> bool:
    """Whether ``text`` obeys the chat_id rule (so it may be looked up at all): the tools' schema, the audit's
    record of arguments and the argument checks of prompts and resources all use it."""
    return 0 < len(text) <= CHAT_ID_MAX_LENGTH and _CHAT_ID.match(text) is not None


@dataclass(frozen=True)
class MessageOptions:
    """Per-call knobs of a question (both backends); unset ones come from the settings (:meth:`resolve`)."""

    character_limit: int | None = None
    sources_limit: int | None = None
    publishers: tuple[str, ...] | None = None
    enable_suggestions: bool | None = None

    def resolve(self, settings: Settings) -> ResolvedOptions:
        """Every knob, each unset one taken from ``settings`` (GLOO_CHARACTER_LIMIT and its neighbours)."""
        return ResolvedOptions(
            character_limit=settings.character_limit if self.character_limit is None else self.character_limit,
            sources_limit=settings.sources_limit if self.sources_limit is None else self.sources_limit,
            publishers=tuple(settings.publishers if self.publishers is None else self.publishers),
            enable_suggestions=(
                settings.enable_suggestions if self.enable_suggestions is None else self.enable_suggestions
            ),
        )


@dataclass(frozen=True)
class ResolvedOptions:
    """A question's knobs once the settings filled in the unset ones (:meth:`MessageOptions.resolve`)."""

    character_limit: int
    sources_limit: int
    publishers: tuple[str, ...]
    enable_suggestions: bool


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
