"""gloo-mcp for a team: an OAuth 2.1 resource server where each user sees only their own conversations.

Against a real authorization server (oidc-provider on loopback, tests/oidc_provider.py)
and gloo-mcp's HTTP app under uvicorn on a loopback socket, driven by the official SDK
client sending each user's bearer token.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client, MCPError
from mcp_types import PromptReference, ResourceTemplateReference

from gloo_mcp.access.audit import AuditLog
from gloo_mcp.access.fair_use import FairUse
from gloo_mcp.access.oauth import JwtTokenVerifier
from gloo_mcp.errors import RateLimitedError
from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from gloo_mcp.transports.http_app import HttpOptions, build_http_app
from gloo_mcp.transports.serving import running_in_thread
from tests.conftest import sim_settings, sim_transport
from tests.oidc_provider import RESOURCE, AuthorizationServer
from tests.test_http import http_client

SCOPE = "chat"
METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"


@contextmanager
def team_server(
    sim: SimulatorState,
    issuer: str,
    *,
    audit: list[str] | None = None,
    fair_use: FairUse | None = None,
    **overrides: Any,
) -> Iterator[str]:
    """gloo-mcp's HTTP app signing users in with ``issuer``'s tokens; yields its base URL."""
    settings = sim_settings(sim, oauth_issuer=issuer, resource_url=RESOURCE, oauth_scopes=(SCOPE,), **overrides)
    verifier = JwtTokenVerifier(issuer=issuer, resource=RESOURCE)
    server = build_server(
        settings,
        transport=sim_transport(sim),
        oauth=verifier,
        audit=AuditLog(write=audit.append) if audit is not None else None,
        fair_use=fair_use or FairUse(per_minute=0, in_flight=0),
    )
    with running_in_thread(build_http_app(server, settings, HttpOptions())) as base:
        yield base


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unsigned(token: str) -> str:
    """The token's claims under ``alg: none`` with no signature."""
    _, payload, _ = token.split(".")
    return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload}."


def _tampered(token: str) -> str:
    """The token with one claim changed and the issuer's signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "mallory"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


async def _hmac_with_public_key(server: AuthorizationServer, token: str) -> str:
    """The token's claims signed HS256 with the issuer's public key as the secret (the classic confusion)."""
    import hashlib
    import hmac

    _, payload, _ = token.split(".")
    key = json.dumps((await server.jwks())["keys"][0]).encode()
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signature = hmac.new(key, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    return f"{head}.{payload}.{_b64(signature)}"


def _post_tools_list(base: str, token: str | None) -> httpx2.Response:
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    return httpx2.post(f"{base}/mcp", json=body, headers=headers, timeout=30)


async def test_the_protected_resource_metadata_names_the_issuer_and_the_scopes(
    sim: SimulatorState, authorization_server: AuthorizationServer
) -> None:
    with team_server(sim, authorization_server.issuer) as base:
        document = httpx2.get(f"{base}{METADATA_PATH}").json()
    assert document["resource"] == RESOURCE
    assert [url.rstrip("/") for url in document["authorization_servers"]] == [authorization_server.issuer]
    assert document["scopes_supported"] == [SCOPE]


async def test_a_request_without_a_token_gets_401_pointing_at_the_metadata(
    sim: SimulatorState, authorization_server: AuthorizationServer
) -> None:
    with team_server(sim, authorization_server.issuer) as base:
        refused = _post_tools_list(base, None)
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and "resource_metadata=" in challenge and METADATA_PATH in challenge
    assert sim.requests.total() == 0


@pytest.mark.parametrize(
    "kind", ["expired", "not yet valid", "wrong issuer", "wrong audience", "tampered", "alg none", "hmac public key"]
)
async def test_a_token_that_fails_verification_gets_401(
    sim: SimulatorState, authorization_server: AuthorizationServer, kind: str
) -> None:
    server = authorization_server
    good = await server.token("alice", scopes=[SCOPE])
    token = {
        "expired": lambda: server.token("stale", scopes=[SCOPE]),
        "not yet valid": lambda: server.token("early", scopes=[SCOPE]),
        "wrong issuer": lambda: server.token("foreign", scopes=[SCOPE]),
        "wrong audience": lambda: server.token("alice", scopes=[SCOPE], resource="http://127.0.0.1:9999/other"),
    }
    if kind in token:
        bad = await token[kind]()
    elif kind == "tampered":
        bad = _tampered(good)
    elif kind == "alg none":
        bad = _unsigned(good)
    else:
        bad = await _hmac_with_public_key(server, good)
    with team_server(sim, server.issuer) as base:
        assert _post_tools_list(base, good).status_code == 200
        refused = _post_tools_list(base, bad)
    assert refused.status_code == 401, kind
    assert sim.requests.total() == 0


async def test_a_valid_token_without_the_required_scope_gets_403_insufficient_scope(
    sim: SimulatorState, authorization_server: AuthorizationServer
) -> None:
    token = await authorization_server.token("alice", scopes=["openid"])
    with team_server(sim, authorization_server.issuer) as base:
        refused = _post_tools_list(base, token)
    assert refused.status_code == 403
    assert "insufficient_scope" in refused.text or "insufficient_scope" in refused.headers.get("www-authenticate", "")


async def _start_chat(client: Client, question: str) -> str:
    result = await client.call_tool("send_message", {"query": question})
    assert not result.is_error, result.content
    chat_id = result.structured_content["chat_id"]  # type: ignore[index]
    assert isinstance(chat_id, str)
    return chat_id


def _text(result: Any) -> str:
    text: str = result.content[0].text
    return text


@pytest.mark.parametrize("backend", ["message", "completions"])
async def test_two_users_each_see_only_their_own_conversations(
    sim: SimulatorState, authorization_server: AuthorizationServer, backend: str
) -> None:
    alice_token = await authorization_server.token("alice", scopes=[SCOPE])
    bob_token = await authorization_server.token("bob", scopes=[SCOPE])
    with team_server(sim, authorization_server.issuer, backend=backend, enable_suggestions=False) as base:
        url = f"{base}/mcp"
        async with http_client(url, alice_token) as alice, http_client(url, bob_token) as bob:
            alices = await _start_chat(alice, "Alice asks about grief")
            bobs = await _start_chat(bob, "Bob asks about work")
            unknown = "cffffffff-0000-0000-0000-000000000000" if backend == "message" else "gm-nonexistent"
            sent_before = sim.requests.total()

            listed = (await bob.call_tool("list_chats", {})).structured_content
            searched = (await bob.call_tool("list_chats", {"query": "grief"})).structured_content
            by_id = (await bob.call_tool("list_chats", {"query": alices})).structured_content
            read = await bob.call_tool("get_chat_history", {"chat_id": alices})
            read_unknown = await bob.call_tool("get_chat_history", {"chat_id": unknown})
            continued = await bob.call_tool("continue_chat", {"chat_id": alices, "query": "Let me in"})
            continued_unknown = await bob.call_tool("continue_chat", {"chat_id": unknown, "query": "Let me in"})
            completed = await bob.complete(
                ResourceTemplateReference(type="ref/resource", uri="gloo://chats/{chat_id}"),
                {"name": "chat_id", "value": ""},
            )
            prompt_completed = await bob.complete(
                PromptReference(type="ref/prompt", name="summarize_gloo_chat"), {"name": "chat_id", "value": "Alice"}
            )
            refusals: list[tuple[str, str]] = []
            for target in (alices, unknown):
                with pytest.raises(MCPError) as resource:
                    await bob.read_resource(f"gloo://chats/{target}")
                with pytest.raises(MCPError) as prompt:
                    await bob.get_prompt("summarize_gloo_chat", {"chat_id": target})
                refusals.append((resource.value.error.message, prompt.value.error.message))
            sent_by_bob_probing = sim.requests.total() - sent_before
            own = (await alice.call_tool("get_chat_history", {"chat_id": alices})).structured_content
            alices_list = (await alice.call_tool("list_chats", {})).structured_content

    assert [chat["chat_id"] for chat in listed["chats"]] == [bobs]  # type: ignore[index]
    assert searched["chats"] == [] and by_id["chats"] == []  # type: ignore[index]
    assert completed.completion.values == [bobs] and prompt_completed.completion.values == []
    # someone else's chat reads exactly like one that does not exist, so ids cannot be probed
    assert read.is_error and _text(read) == _text(read_unknown).replace(unknown, alices)
    assert continued.is_error and _text(continued) == _text(continued_unknown).replace(unknown, alices)
    (foreign_resource, foreign_prompt), (unknown_resource, unknown_prompt) = refusals
    assert foreign_resource == unknown_resource.replace(unknown, alices)
    assert foreign_prompt == unknown_prompt.replace(unknown, alices)
    assert sent_by_bob_probing == 0  # nothing of Bob's probing reached Gloo
    assert own["messages"][0]["content"] == "Alice asks about grief"  # type: ignore[index]
    assert [chat["chat_id"] for chat in alices_list["chats"]] == [alices]  # type: ignore[index]


async def test_one_users_excess_calls_are_refused_while_another_users_pass(
    sim: SimulatorState, authorization_server: AuthorizationServer
) -> None:
    alice_token = await authorization_server.token("alice", scopes=[SCOPE])
    bob_token = await authorization_server.token("bob", scopes=[SCOPE])
    limits = FairUse(per_minute=2, in_flight=0)
    with team_server(sim, authorization_server.issuer, fair_use=limits) as base:
        url = f"{base}/mcp"
        async with http_client(url, alice_token) as alice, http_client(url, bob_token) as bob:
            alices = [await alice.call_tool("send_message", {"query": f"question {n}"}) for n in range(3)]
            bobs = [await bob.call_tool("send_message", {"query": f"question {n}"}) for n in range(2)]
    assert [r.is_error for r in alices] == [False, False, True]
    assert _text(alices[2]).startswith("You have made 2 calls to Gloo in the last minute")
    assert "try again in about" in _text(alices[2])
    assert [r.is_error for r in bobs] == [False, False]
    assert sim.requests["message"] == 4  # the refused call never reached Gloo


async def test_every_tool_call_leaves_one_audit_line_without_content_or_secrets(
    sim: SimulatorState, authorization_server: AuthorizationServer
) -> None:
    token = await authorization_server.token("alice", scopes=[SCOPE])
    lines: list[str] = []
    with team_server(sim, authorization_server.issuer, audit=lines) as base:
        async with http_client(f"{base}/mcp", token) as alice:
            chat_id = await _start_chat(alice, "A private question about my marriage")
            await alice.call_tool("get_chat_history", {"chat_id": "cnope"})
            await alice.call_tool("send_message", {"query": "x", "character_limit": "100 words"})
    entries = [json.loads(line) for line in lines]
    principal = f"{authorization_server.issuer}#alice"
    assert [(e["tool"], e["outcome"]) for e in entries] == [
        ("send_message", "ok"),
        ("get_chat_history", "ChatNotFoundError"),
        ("send_message", "invalid_arguments"),
    ]
    assert {e["principal"] for e in entries} == {principal}
    assert entries[0]["chat_id"] == chat_id and entries[1]["chat_id"] == "cnope"
    assert all(isinstance(e["duration_ms"], float) for e in entries)
    everything = "\n".join(lines)
    assert "marriage" not in everything and token not in everything and token.split(".")[2] not in everything


async def test_without_its_store_a_per_user_server_refuses_to_read_or_continue_a_message_api_chat(
    sim: SimulatorState, authorization_server: AuthorizationServer, tmp_path: Any
) -> None:
    from pydantic import SecretStr

    (tmp_path / "blocker").write_text("a file where the store's directory should be")
    unusable = SecretStr(f"sqlite:///{tmp_path / 'blocker' / 'chats.db'}")
    token = await authorization_server.token("alice", scopes=[SCOPE])
    chat_id = "cffffffff-0000-0000-0000-000000000000"
    with team_server(sim, authorization_server.issuer, store_url=unusable) as base:
        async with http_client(f"{base}/mcp", token) as alice:
            read = await alice.call_tool("get_chat_history", {"chat_id": chat_id})
            continued = await alice.call_tool("continue_chat", {"chat_id": chat_id, "query": "And?"})
    for refused in (read, continued):
        assert refused.is_error and "cannot tell which conversations are yours" in _text(refused)
    assert sim.requests["chat"] == 0 and sim.requests["message"] == 0


async def test_calls_beyond_a_users_in_flight_limit_are_refused_until_one_finishes() -> None:
    limits = FairUse(per_minute=0, in_flight=1)
    async with limits.admit("alice"):
        with pytest.raises(RateLimitedError) as refused:
            async with limits.admit("alice"):
                pass
        async with limits.admit("bob"):
            pass
    async with limits.admit("alice"):
        pass
    assert "1 calls to Gloo under way" in refused.value.message and "wait for one to finish" in refused.value.message


@pytest.mark.load  # servers in subprocesses: with the end-to-end runs (pytest -m load, .ci/run)
@pytest.mark.parametrize("issuer_ok", [True, False])
def test_check_says_whether_the_issuer_can_sign_users_in(
    authorization_server: AuthorizationServer, tmp_path: Any, issuer_ok: bool
) -> None:
    import os
    import subprocess
    import sys

    from gloo_mcp.simulator import running_simulator

    state = SimulatorState()
    issuer = authorization_server.issuer if issuer_ok else authorization_server.issuer + "/not-an-issuer"
    with running_simulator(state) as url:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")} | {
            "GLOO_BASE_URL": url,
            "GLOO_API_KEY": state.api_key,
            "XDG_DATA_HOME": str(tmp_path),
            "GLOO_MCP_OAUTH_ISSUER": issuer,
            "GLOO_MCP_RESOURCE_URL": RESOURCE,
        }
        done = subprocess.run(
            [sys.executable, "-m", "gloo_mcp", "check"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("ok    sign-in:" if issuer_ok else "FAIL  sign-in:"), done.stdout
    assert done.returncode == (0 if issuer_ok else 1)
