"""A tool's result, either way: both channels of a success, or an ``isError`` sentence.

Expected failures are :class:`~gloo_mcp.errors.GlooError`s; they become ``isError``
results carrying the error's sentence (the SDK would hide their text if they escaped),
with no ``structuredContent``.
"""

from __future__ import annotations

import logging

from mcp_types import CallToolResult, ContentBlock, ResourceLink, TextContent
from mcp_types.version import is_version_at_least
from pydantic import BaseModel

from gloo_mcp.access.audit import note_failure
from gloo_mcp.errors import GlooError
from gloo_mcp.server.render import chat_uri

__all__ = ["RESOURCE_LINK_SINCE", "defines_resource_links", "error_result", "sentence_result", "success"]

logger = logging.getLogger(__name__)

RESOURCE_LINK_SINCE = "2025-06-18"
"""The protocol version that brought ``resource_link`` content blocks."""


def defines_resource_links(protocol_version: str | None) -> bool:
    """Whether a session on ``protocol_version`` may receive ``resource_link`` blocks.

    Clients that negotiated an older version (Python SDK up to 1.9, TypeScript SDK up to
    1.12) reject the whole result that carries one; an unknown version counts as older.
    """
    return protocol_version is not None and is_version_at_least(protocol_version, RESOURCE_LINK_SINCE)


def error_result(error: GlooError) -> CallToolResult:
    logger.info("tool call failed: %s: %s", type(error).__name__, error.message)
    note_failure(type(error).__name__)
    return sentence_result(error.message)


def sentence_result(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def success(text: str, model: BaseModel, *, link_to: str | None = None) -> CallToolResult:
    """Both channels, each complete on its own (the text names the chat's resource URI).

    ``link_to``: a chat whose resource is also linked as a ``resource_link`` block, for hosts
    that opted in (GLOO_MCP_RESOURCE_LINKS), and only on sessions whose protocol defines the
    block (:func:`defines_resource_links`): clients before protocol 2025-06-18 reject a whole
    result that carries one, and some agent frameworks mangle it.
    """
    content: list[ContentBlock] = [TextContent(type="text", text=text)]
    if link_to is not None:
        uri, name = chat_uri(link_to), f"Gloo chat {link_to}"
        content.append(ResourceLink(type="resource_link", uri=uri, name=name, mime_type="text/markdown"))
    return CallToolResult(content=content, structured_content=model.model_dump(mode="json"))
