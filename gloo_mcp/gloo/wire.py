"""Gloo's wire format, read tolerantly: what its API reference and samples show.

Prefixed string ids, naive ISO timestamps (UTC), absent lists and extra fields are all
accepted; each model turns itself into the shared models (``gloo_mcp.models``) that the
rest of gloo-mcp and the agents see.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from gloo_mcp.models import ChatHistory, ChatMessage, ChatReply, Source, one_line

__all__ = ["TokenResponse", "WireChat", "WireChatMessage", "WireMessageReply"]


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
