"""No secret, token or Authorization value appears in logs (even DEBUG), errors, reprs or tool output."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from gloo_mcp.cli.main import configure_logging
from gloo_mcp.gloo.client import GlooClient
from gloo_mcp.simulator import Fault, SimulatorState
from tests.conftest import mcp_session, sim_settings


async def test_no_secret_in_debug_logs_or_any_tool_output(
    sim: SimulatorState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    async with mcp_session(sim) as client:
        ok = await client.call_tool("send_message", {"query": "hi"})
        sim.revoke_all_tokens()
        sim.inject("message", Fault(status=500, body=b'{"detail": "boom"}'))
        failed = await client.call_tool("send_message", {"query": "again"})
        missing = await client.call_tool("get_chat_history", {"chat_id": "cmissing"})
    for result in (ok, failed, missing):
        outputs.append(result.model_dump_json())
    haystack = caplog.text + "".join(outputs)
    assert failed.is_error and missing.is_error
    assert sim.client_secret not in haystack
    assert sim.tokens, "a token was issued"
    for token in sim.tokens:
        assert token not in haystack


async def test_wrong_credentials_error_does_not_echo_them(sim: SimulatorState) -> None:
    async with mcp_session(sim, client_secret=SecretStr("hunter2-secret")) as client:
        result = await client.call_tool("send_message", {"query": "hi"})
    assert result.is_error and "hunter2-secret" not in result.model_dump_json()


def test_client_repr_shows_no_secret(sim: SimulatorState) -> None:
    client = GlooClient.open(sim_settings(sim, api_key=SecretStr("key-xyz")))
    assert "key-xyz" not in repr(client) and sim.client_secret not in repr(client)


def test_log_lines_with_an_authorization_value_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("DEBUG")
        logging.getLogger("somewhere").debug("sending headers Authorization: Bearer abc.def-123")
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "abc.def-123" not in captured.err and "Bearer [redacted]" in captured.err
