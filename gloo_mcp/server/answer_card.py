"""The answer card: an MCP App that shows a Gloo answer to the person in hosts that render MCP Apps.

The MCP Apps extension (``io.modelcontextprotocol/ui``) lets a tool name a ``ui://``
resource, an HTML document the host renders in a sandboxed iframe next to the call and
feeds the tool's result. gloo-mcp's card shows the answer, numbered source cards, the
suggested follow-ups as buttons (each one calls ``continue_chat`` with the card's
``chat_id`` through the host) and, for a history, the earlier turns collapsed.

It is purely additive: the server advertises the extension, serves the resource and puts
``_meta.ui`` on send_message, continue_chat and get_chat_history; the tools' results are
byte-for-byte what they were, so hosts without the extension see exactly what they saw.

The HTML (``apps/answer_card.html``) is generated from ``ui/`` by ``node ui/build.mjs`` and
checked in, so installing the package needs no Node.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID, Apps

__all__ = [
    "ANSWER_CARD_URI",
    "APP_MIME_TYPE",
    "EXTENSION_ID",
    "answer_card_extension",
    "answer_card_html",
    "answer_card_tool_meta",
]

ANSWER_CARD_URI = "ui://gloo-mcp/answer-card.html"
"""The card's resource; the three chat tools name it in ``_meta.ui.resourceUri``."""

_LEGACY_RESOURCE_URI_KEY = "ui/resourceUri"
"""The flat key hosts built on the extension's first releases read (ext-apps ``RESOURCE_URI_META_KEY``)."""


@cache
def answer_card_html() -> str:
    """The card: one HTML document with its styles, script and the MCP Apps client inline."""
    return files("gloo_mcp").joinpath("apps", "answer_card.html").read_text(encoding="utf-8")


def answer_card_tool_meta() -> dict[str, Any]:
    """``_meta`` for a tool whose result the card shows.

    Both spellings, as the ext-apps SDK's ``registerAppTool`` writes them: the nested
    ``ui.resourceUri`` of the current spec and the deprecated flat ``ui/resourceUri``.
    """
    return {"ui": {"resourceUri": ANSWER_CARD_URI}, _LEGACY_RESOURCE_URI_KEY: ANSWER_CARD_URI}


def answer_card_extension() -> Apps:
    """The SDK's MCP Apps extension carrying the card: pass it to ``MCPServer(extensions=[...])``.

    It advertises ``io.modelcontextprotocol/ui`` in the server's capabilities and serves the
    card as ``text/html;profile=mcp-app``. It asks for no network access, no permissions and
    no frames (the card fetches nothing; links open through the host).
    """
    apps = Apps()
    apps.add_html_resource(
        ANSWER_CARD_URI,
        answer_card_html(),
        name="gloo-answer-card",
        title="Gloo answer card",
        description="Shows a Gloo answer with its numbered sources and follow-up buttons, or a whole conversation.",
        prefers_border=True,
    )
    return apps
