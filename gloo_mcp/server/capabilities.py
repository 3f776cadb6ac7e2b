"""On 2026-07-28 the server advertises, and acknowledges, only the notifications it sends.

The SDK derives the 2026-07-28 ``listChanged`` flags (tools, prompts, resources) and
``resources.subscribe`` from whether ``subscriptions/listen`` is served, and it is served:
the Tasks extension answers on it (``tasks.py``). But gloo-mcp's tools, prompts and
resource templates never change while it runs, and it publishes no
``notifications/resources/updated``: a conversation's updates would have to reach its owner
alone, from whichever replica recorded the turn. So ``server/discover`` says ``false`` for all
four, as a handshake-era ``initialize`` already does, and a ``subscriptions/listen``
acknowledgement no longer claims to honour kinds that never arrive. A client reads a chat
again (``resources/read`` or ``get_chat_history``) to see new turns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

__all__ = ["UNSENT_NOTIFICATIONS", "advertise_only_what_is_sent"]

UNSENT_NOTIFICATIONS = ("toolsListChanged", "promptsListChanged", "resourcesListChanged", "resourceSubscriptions")
"""The ``subscriptions/listen`` filter kinds gloo-mcp never delivers (``taskIds`` is the Tasks extension's)."""

_UNSENT_CAPABILITIES = {
    "tools": ("listChanged",),
    "prompts": ("listChanged",),
    "resources": ("listChanged", "subscribe"),
}


async def advertise_only_what_is_sent(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: ``server/discover`` without the list-changed and subscribe flags; ``subscriptions/listen``
    acknowledged without the kinds in :data:`UNSENT_NOTIFICATIONS` (the stream stays open for what remains)."""
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return await call_next(ctx)
    if ctx.method == "subscriptions/listen" and isinstance(ctx.params, Mapping):
        notifications = ctx.params.get("notifications")
        if isinstance(notifications, Mapping):
            kept = {kind: value for kind, value in notifications.items() if kind not in UNSENT_NOTIFICATIONS}
            ctx = dataclasses.replace(ctx, params={**ctx.params, "notifications": kept})
        return await call_next(ctx)
    result = await call_next(ctx)
    if ctx.method == "server/discover" and isinstance(result, dict):
        capabilities = result.get("capabilities")
        if isinstance(capabilities, dict):
            for name, flags in _UNSENT_CAPABILITIES.items():
                section = capabilities.get(name)
                if isinstance(section, dict):
                    section.update(dict.fromkeys(flags, False))
    return result
