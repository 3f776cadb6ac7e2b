"""Settings from the environment and .env: defaults, precedence, validation, and masked secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from gloo_mcp.config import DEFAULT_BASE_URL, load_settings
from gloo_mcp.errors import ConfigurationError

NO_FILE = Path("/nonexistent/.env")


def test_defaults_match_the_design() -> None:
    settings = load_settings({}, env_file=NO_FILE)
    assert settings.base_url == DEFAULT_BASE_URL
    assert (settings.character_limit, settings.sources_limit) == (1000, 5)
    assert settings.timeout < 60  # ends before the hosts' usual 60 s request timeout
    assert settings.publishers == () and settings.enable_suggestions is True
    assert settings.log_level == "WARNING" and settings.auth_mode == "none"


def test_every_variable_is_read() -> None:
    settings = load_settings(
        {
            "GLOO_CLIENT_ID": "id",
            "GLOO_CLIENT_SECRET": "secret",
            "GLOO_BASE_URL": "https://gloo.example/",
            "GLOO_TIMEOUT": "30",
            "GLOO_CHARACTER_LIMIT": "500",
            "GLOO_SOURCES_LIMIT": "3",
            "GLOO_PUBLISHERS": "A Press, B Press,",
            "GLOO_ENABLE_SUGGESTIONS": "false",
            "GLOO_MCP_LOG_LEVEL": "debug",
        },
        env_file=NO_FILE,
    )
    assert settings.auth_mode == "client_credentials" and settings.base_url == "https://gloo.example"
    assert settings.token_url == "https://gloo.example/oauth2/token"
    assert (settings.timeout, settings.character_limit, settings.sources_limit) == (30, 500, 3)
    assert settings.publishers == ("A Press", "B Press")
    assert settings.enable_suggestions is False and settings.log_level == "DEBUG"


def test_api_key_takes_precedence_over_client_credentials() -> None:
    settings = load_settings({"GLOO_API_KEY": "k", "GLOO_CLIENT_ID": "i", "GLOO_CLIENT_SECRET": "s"}, env_file=NO_FILE)
    assert settings.auth_mode == "api_key"


def test_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GLOO_API_KEY=from-file\nGLOO_TIMEOUT=15\n")
    settings = load_settings({"GLOO_TIMEOUT": "20"}, env_file=env_file)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "from-file"
    assert settings.timeout == 20


def test_plain_http_is_refused_for_a_remote_base_url() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"GLOO_BASE_URL": "http://platform.ai.gloo.com"}, env_file=NO_FILE)
    assert "must use https" in str(caught.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765", "http://localhost:1", "http://[::1]:2"])
def test_plain_http_is_allowed_on_loopback(url: str) -> None:
    assert load_settings({"GLOO_BASE_URL": url}, env_file=NO_FILE).base_url == url


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"GLOO_TIMEOUT": "soon"}, "GLOO_TIMEOUT"),
        ({"GLOO_TIMEOUT": "-1"}, "GLOO_TIMEOUT"),
        ({"GLOO_SOURCES_LIMIT": "500"}, "GLOO_SOURCES_LIMIT"),
        ({"GLOO_ENABLE_SUGGESTIONS": "perhaps"}, "GLOO_ENABLE_SUGGESTIONS"),
        ({"GLOO_MCP_LOG_LEVEL": "LOUD"}, "GLOO_MCP_LOG_LEVEL"),
        ({"GLOO_BASE_URL": "ftp://x"}, "GLOO_BASE_URL"),
        ({"GLOO_BACKEND": "v3"}, "GLOO_BACKEND"),
        ({"GLOO_STORE_URL": "mysql://db/x"}, "GLOO_STORE_URL"),
        ({"GLOO_MCP_AUTH_TOKEN": "short"}, "GLOO_MCP_AUTH_TOKEN"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env, env_file=NO_FILE)
    assert str(caught.value).startswith(variable)


def test_backend_and_store_are_read_and_the_store_defaults_to_the_user_data_directory(tmp_path: Path) -> None:
    default = load_settings({}, env_file=NO_FILE)
    chosen = load_settings(
        {"GLOO_BACKEND": "Completions", "GLOO_STORE_URL": f"sqlite:///{tmp_path}/x.db"}, env_file=NO_FILE
    )
    assert default.backend == "message" and default.resolved_store_url.endswith("/gloo-mcp/chats.db")
    assert default.resolved_store_url.startswith("sqlite:///")
    assert chosen.backend == "completions" and chosen.resolved_store_url == f"sqlite:///{tmp_path}/x.db"


def test_a_postgresql_password_is_masked_in_the_settings_repr() -> None:
    settings = load_settings({"GLOO_STORE_URL": "postgresql://u:pw-789@db/x"}, env_file=NO_FILE)
    assert "pw-789" not in repr(settings) and settings.resolved_store_url == "postgresql://u:pw-789@db/x"


def test_secrets_are_masked_in_the_settings_repr() -> None:
    settings = load_settings({"GLOO_API_KEY": "key-123", "GLOO_CLIENT_SECRET": "sec-456"}, env_file=NO_FILE)
    assert "key-123" not in repr(settings) and "sec-456" not in repr(settings)
    assert "key-123" not in str(settings.model_dump())


def test_a_lone_client_id_says_which_variable_is_missing() -> None:
    settings = load_settings({"GLOO_CLIENT_ID": "id"}, env_file=NO_FILE)
    with pytest.raises(ConfigurationError) as caught:
        settings.require_credentials()
    assert str(caught.value).startswith("GLOO_CLIENT_SECRET is not set")
