"""What the server advertises is what it sends: no list-changed or resource-update notifications, in either era.

gloo-mcp's tools, prompts and resource templates never change while it runs, and it sends
no ``notifications/resources/updated`` (server/capabilities.py). The SDK alone would say
``listChanged: true`` and ``subscribe: true`` on 2026-07-28, because ``subscriptions/listen``
is served (the Tasks extension needs it).
"""

from __future__ import annotations

import pytest
from mcp import Client, MCPError

from gloo_mcp.config import Settings
from gloo_mcp.server import build_server


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # server/discover (2026-07-28), initialize (2025-11-25)
async def test_neither_era_advertises_list_changed_or_resource_subscriptions(mode: str) -> None:
    async with Client(build_server(Settings()), mode=mode) as client:
        capabilities = client.server_capabilities
    assert capabilities is not None
    assert capabilities.tools is not None and capabilities.tools.list_changed is False
    assert capabilities.prompts is not None and capabilities.prompts.list_changed is False
    assert capabilities.resources is not None
    assert capabilities.resources.list_changed is False and capabilities.resources.subscribe is False
    assert capabilities.completions is not None  # what is served stays advertised


async def test_a_listen_stream_is_acknowledged_without_the_kinds_never_sent() -> None:
    async with (
        Client(build_server(Settings())) as client,
        client.listen(
            tools_list_changed=True,
            prompts_list_changed=True,
            resources_list_changed=True,
            resource_subscriptions=["gloo://chats/chat-1"],
        ) as subscription,
    ):
        honored = subscription.honored
    assert not honored.tools_list_changed and not honored.prompts_list_changed
    assert not honored.resources_list_changed and not honored.resource_subscriptions


async def test_the_handshake_era_still_answers_resources_subscribe_as_not_served() -> None:
    async with Client(build_server(Settings()), mode="legacy") as client:
        with pytest.raises(MCPError, match=r"[Mm]ethod not found"):
            await client.session.subscribe_resource("gloo://chats/chat-1")
