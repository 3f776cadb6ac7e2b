"""``gloo-mcp check``: is this installation ready to talk to Gloo? One line per finding, no chat created.

Findings: configuration, reachability, credentials (on the configured backend's API),
and the conversation store (created if missing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from gloo_mcp.client import GlooClient
from gloo_mcp.config import Settings, load_settings
from gloo_mcp.errors import ConfigurationError, GlooError
from gloo_mcp.store import LOCAL_OWNER, describe_url, open_store

__all__ = ["run_check"]


def _line(ok: bool, text: str) -> None:
    print(f"{'ok  ' if ok else 'FAIL'}  {text}", flush=True)


async def _store(settings: Settings) -> str:
    """Open (or create) the conversation store and count what it holds."""
    store = await open_store(settings.resolved_store_url)
    try:
        chats, more = await store.list_chats(owner=LOCAL_OWNER, text=None, limit=1000, cursor=None)
    finally:
        await store.aclose()
    count = f"{len(chats)}{'+' if more else ''}"
    return f"{describe_url(settings.resolved_store_url)} ({count} local conversations; backend {settings.backend})"


async def _sign_in(settings: Settings) -> str:
    """The OAuth issuer answers with its metadata and signing keys (HTTP per-user sign-in only)."""
    from gloo_mcp.oauth import verifier_from_settings

    verifier = verifier_from_settings(settings)
    assert verifier is not None
    async with verifier:
        await verifier.discover()
    return f"{verifier.issuer} publishes its metadata and signing keys; tokens must be issued for {verifier.resource}"


async def _probe(settings: Settings) -> bool:
    """Reachability, credentials, the store, then sign-in if configured: one line each; stops at the first failure."""
    client = GlooClient.open(settings)
    try:
        steps: list[tuple[str, Callable[[], Awaitable[str]]]] = [
            ("reachability", client.reach),
            ("credentials", client.verify_credentials),
            ("store", lambda: _store(settings)),
        ]
        if settings.oauth_issuer is not None or settings.resource_url is not None:
            steps.append(("sign-in", lambda: _sign_in(settings)))
        for finding, step in steps:
            try:
                _line(True, f"{finding}: {await step()}")
            except GlooError as error:
                _line(False, f"{finding}: {error}")
                return False
        return True
    finally:
        await client.aclose()


def run_check() -> int:
    """Returns 0 when the configuration is usable, Gloo answers, and it accepted the credentials."""
    try:
        settings = load_settings()
    except ConfigurationError as error:
        _line(False, f"configuration: {error}")
        return 1
    _line(True, f"configuration: base URL {settings.base_url}, timeout {settings.timeout:g} s")
    try:
        settings.require_credentials()
    except ConfigurationError as error:
        _line(False, f"credentials: {error}")
        return 1
    return 0 if anyio.run(_probe, settings) else 1
