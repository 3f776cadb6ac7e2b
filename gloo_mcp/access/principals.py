"""Who is calling: decided here, once, for every tool, resource, prompt and completion.

On HTTP with OAuth the SDK's bearer middleware has verified the caller's token and put it
in a context variable; the caller is that token's issuer and subject. Everywhere else
(stdio, or HTTP with one shared token) there is one principal, :data:`LOCAL_OWNER`. A
per-user server that finds no verified token fails closed: it never falls back to the
shared principal.
"""

from __future__ import annotations

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, principal_components

from gloo_mcp.chats.store import LOCAL_OWNER
from gloo_mcp.errors import AuthenticationError

__all__ = ["LOCAL_OWNER", "current_caller", "principal"]


def principal(token: AccessToken) -> str:
    """The owner of what this caller may see: ``"{issuer}#{subject}"`` of a verified token.

    An issuer identifier has no fragment (RFC 8414 §2), so the first ``#`` separates the
    two parts unambiguously. Raises ValueError for a token without issuer or subject.
    """
    _client_id, issuer, subject = principal_components(token)
    if not issuer or not subject:
        raise ValueError("the access token carries no issuer and subject")
    return f"{issuer}#{subject}"


def current_caller(*, per_user: bool) -> str:
    """The principal of the request being served; AuthenticationError if a per-user server cannot tell."""
    token = get_access_token()
    if token is not None:
        try:
            return principal(token)
        except ValueError:
            pass
    if per_user:
        raise AuthenticationError(
            "This server signs each user in with OAuth, and this request carries no verified identity; reconnect "
            "so the host signs you in again."
        )
    return LOCAL_OWNER
