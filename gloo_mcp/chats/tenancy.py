"""Whether the server's callers each sign in or all share one principal: one value, made once.

The server state makes it (per-user exactly when OAuth signs callers in) and hands it to the
backends, so the store's part in a call (must it name the chat's owner? may a store failure be
shown as is?) is decided from the same value everywhere. Who the caller *is* is decided in
``gloo_mcp.access.principals``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gloo_mcp.errors import StoreError

__all__ = ["Tenancy"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tenancy:
    """``per_user``: each caller signs in (HTTP with OAuth) and sees only its own chats; otherwise one principal
    (stdio, or HTTP with a shared token) owns them all."""

    per_user: bool = False

    def store_unavailable(self, error: StoreError, *, sentence: str, doing: str) -> StoreError:
        """What a caller hears of a store failure: on a per-user server ``sentence`` (the store's location and the
        driver's reason are for the operator's log), elsewhere the store's own actionable sentence."""
        logger.warning("%s: %s", doing, error.message)
        return StoreError(sentence) if self.per_user else error
