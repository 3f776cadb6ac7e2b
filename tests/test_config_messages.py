"""A setting that cannot be used says what it got and what would work (issue 20, item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gloo_mcp.config import load_settings
from gloo_mcp.errors import ConfigurationError

NO_FILE = Path("/nonexistent/.env")


def refusal(name: str, value: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({name: value}, env_file=NO_FILE)
    return caught.value.message


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("GLOO_BACKEND", "completion", "got 'completion'; did you mean 'completions'?"),
        ("GLOO_MCP_LOG_LEVEL", "warn", "got 'warn'; did you mean 'WARNING'?"),
        ("GLOO_MCP_LOG_FORMAT", "jsonl", "got 'jsonl'; did you mean 'json'?"),
        ("GLOO_MCP_SHARED_LIMITS", "of", "got 'of'; did you mean 'off'?"),
        ("GLOO_TIMEOUT", "50s", "a number of seconds, e.g. 50; got '50s'"),
        ("GLOO_CHARACTER_LIMIT", "1k", "a whole number, e.g. 1000; got '1k'"),
        ("GLOO_ENABLE_SUGGESTIONS", "yesplease", "true or false; got 'yesplease'"),
        ("GLOO_SOURCES_LIMIT", "99", "less than or equal to 50; got '99'"),
    ],
)
def test_a_bad_value_is_echoed_with_what_would_work(name: str, value: str, says: str) -> None:
    message = refusal(name, value)
    assert message.startswith(f"{name} is invalid: ") and says in message, message


def test_a_choice_far_from_any_lists_the_choices_without_a_guess() -> None:
    message = refusal("GLOO_BACKEND", "zzz")
    assert "'message' or 'completions'" in message and "got 'zzz'" in message and "did you mean" not in message


@pytest.mark.parametrize(
    ("name", "secret"), [("GLOO_MCP_AUTH_TOKEN", "short-secret"), ("GLOO_STORE_URL", "mysql://u:hunter2@db/x")]
)
def test_a_secret_setting_is_never_echoed(name: str, secret: str) -> None:
    message = refusal(name, secret)
    assert secret not in message and "hunter2" not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [("GLOO_MCP_OAUTH_ISSUER", "http://login.example.com/"), ("GLOO_MCP_RESOURCE_URL", "http://mcp.example.com/mcp")],
)
def test_an_oauth_url_that_cannot_work_names_its_variable(name: str, value: str) -> None:
    message = refusal(name, value)
    assert message.startswith(f"{name} must be an https:// URL") and value in message
