"""Token handling against the simulator's real token endpoint: caching, early refresh, single flight, 401 recovery."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import httpx2
import pytest
from pydantic import SecretStr

from gloo_mcp.errors import AuthenticationError
from gloo_mcp.gloo.auth import ApiKeyProvider, ClientCredentialsProvider
from gloo_mcp.gloo.client import GlooClient, MessageOptions
from gloo_mcp.simulator import Fault, SimulatorState, create_app
from tests.conftest import SIM_BASE_URL

TOKEN_URL = f"{SIM_BASE_URL}/oauth2/token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def provider(sim: SimulatorState, clock: Clock | None = None, secret: str | None = None) -> ClientCredentialsProvider:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=create_app(sim)))
    return ClientCredentialsProvider(
        http, TOKEN_URL, sim.client_id, SecretStr(secret or sim.client_secret), clock=clock or Clock()
    )


async def test_a_token_is_fetched_once_and_reused(sim: SimulatorState) -> None:
    tokens = provider(sim)
    first, second = await tokens.token(), await tokens.token()
    assert first == second
    assert sim.requests["token"] == 1


async def test_the_token_is_refreshed_a_minute_before_it_expires(sim: SimulatorState) -> None:
    clock = Clock()
    tokens = provider(sim, clock)
    first = await tokens.token()
    clock.now += sim.token_lifetime - 61
    assert await tokens.token() == first
    clock.now += 2  # now inside the last minute of the token's life
    assert await tokens.token() != first
    assert sim.requests["token"] == 2


async def test_twenty_concurrent_callers_share_one_exchange(sim: SimulatorState) -> None:
    sim.inject("token", Fault(delay=0.05))  # keep the exchange in flight while the others arrive
    tokens = provider(sim)
    results: list[str] = []

    async def take() -> None:
        results.append(await tokens.token())

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(take)
    assert len(results) == 20 and len(set(results)) == 1
    assert sim.requests["token"] == 1


async def test_wrong_client_secret_is_an_authentication_error_naming_the_variables(sim: SimulatorState) -> None:
    tokens = provider(sim, secret="not-the-secret")
    with pytest.raises(AuthenticationError) as caught:
        await tokens.token()
    assert "GLOO_CLIENT_ID and GLOO_CLIENT_SECRET" in str(caught.value)
    assert "not-the-secret" not in str(caught.value)


async def test_invalidating_an_older_token_keeps_the_newer_one(sim: SimulatorState) -> None:
    tokens = provider(sim)
    current = await tokens.token()
    tokens.invalidate("some-older-token")
    assert await tokens.token() == current
    assert sim.requests["token"] == 1


def test_providers_never_show_secrets_in_their_repr(sim: SimulatorState) -> None:
    assert "sim-api-key" not in repr(ApiKeyProvider(SecretStr("sim-api-key")))
    assert sim.client_secret not in repr(provider(sim))


async def test_a_revoked_token_is_refreshed_once_and_the_call_retried(
    sim: SimulatorState, make_client: Callable[..., GlooClient]
) -> None:
    client = make_client()
    await client.send_message("first", options=MessageOptions())
    sim.revoke_all_tokens()
    reply = await client.send_message("second", options=MessageOptions())
    assert reply.answer
    assert sim.requests["token"] == 2
    assert sim.requests["message"] == 3  # first, rejected second, retried second
    assert len(sim.chats) == 2


async def test_an_expired_token_on_gloo_side_is_recovered_the_same_way(
    sim: SimulatorState, make_client: Callable[..., GlooClient]
) -> None:
    client = make_client()
    reply = await client.send_message("first", options=MessageOptions())
    sim.expire_all_tokens()
    history = await client.get_chat(reply.chat_id)
    assert history.total == 2
    assert sim.requests["token"] == 2


async def test_a_401_that_persists_after_refresh_is_reported_not_looped(
    sim: SimulatorState, make_client: Callable[..., GlooClient]
) -> None:
    client = make_client()
    await client.send_message("first", options=MessageOptions())
    sim.inject("message", Fault(status=401), Fault(status=401), Fault(status=401))
    with pytest.raises(AuthenticationError):
        await client.send_message("second", options=MessageOptions())
    assert sim.requests["message"] == 3  # first, then one attempt and one retry after refresh
    assert sim.requests["token"] == 2


async def test_refused_client_credentials_are_not_exchanged_again_in_the_same_call(
    sim: SimulatorState, make_client: Callable[..., GlooClient]
) -> None:
    client = make_client(client_secret=SecretStr("wrong"))
    with pytest.raises(AuthenticationError):
        await client.send_message("hi", options=MessageOptions())
    assert sim.requests["token"] == 1 and sim.requests["message"] == 0
