"""Settings, read once from the environment (or a ``.env`` file) and passed down.

Only the command line calls :func:`load_settings`; everything else receives a
:class:`Settings`. Secrets are ``SecretStr`` so no repr, log line or error shows them.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from gloo_mcp.errors import ConfigurationError

__all__ = ["DEFAULT_BASE_URL", "Settings", "default_store_url", "is_loopback_url", "load_settings"]

DEFAULT_BASE_URL = "https://platform.ai.gloo.com"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Backend = Literal["message", "completions"]

# Environment variable → Settings field. Order is the order users read in .env.example.
_ENV_FIELDS: dict[str, str] = {
    "GLOO_CLIENT_ID": "client_id",
    "GLOO_CLIENT_SECRET": "client_secret",
    "GLOO_API_KEY": "api_key",
    "GLOO_BASE_URL": "base_url",
    "GLOO_TIMEOUT": "timeout",
    "GLOO_CHARACTER_LIMIT": "character_limit",
    "GLOO_SOURCES_LIMIT": "sources_limit",
    "GLOO_PUBLISHERS": "publishers",
    "GLOO_ENABLE_SUGGESTIONS": "enable_suggestions",
    "GLOO_MCP_LOG_LEVEL": "log_level",
    "GLOO_MCP_AUTH_TOKEN": "mcp_auth_token",
    "GLOO_BACKEND": "backend",
    "GLOO_STORE_URL": "store_url",
}
_FIELD_ENV = {field: env for env, field in _ENV_FIELDS.items()}

CHARACTER_LIMIT_RANGE = (1, 100_000)
SOURCES_LIMIT_RANGE = (0, 50)


class Settings(BaseModel):
    """Everything gloo-mcp needs to know about its upstream and its request defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str | None = None
    client_secret: SecretStr | None = None
    api_key: SecretStr | None = None
    base_url: str = DEFAULT_BASE_URL
    timeout: float = Field(default=120.0, gt=0, le=3600)
    character_limit: int = Field(default=1000, ge=CHARACTER_LIMIT_RANGE[0], le=CHARACTER_LIMIT_RANGE[1])
    sources_limit: int = Field(default=5, ge=SOURCES_LIMIT_RANGE[0], le=SOURCES_LIMIT_RANGE[1])
    publishers: tuple[str, ...] = ()
    enable_suggestions: bool = True
    log_level: LogLevel = "WARNING"
    mcp_auth_token: SecretStr | None = Field(default=None, min_length=16)
    """Bearer token HTTP clients of gloo-mcp must send (Streamable HTTP only)."""
    backend: Backend = "message"
    """Which Gloo API answers: the Message API (Gloo keeps the chat) or Completions V2 (we keep it)."""
    store_url: SecretStr | None = None
    """Where conversations are kept (sqlite:///path or postgresql://…, whose password is a secret)."""

    @property
    def resolved_store_url(self) -> str:
        return self.store_url.get_secret_value() if self.store_url is not None else default_store_url()

    @property
    def has_credentials(self) -> bool:
        """Whether either supported way of authenticating is configured."""
        return self.api_key is not None or (self.client_id is not None and self.client_secret is not None)

    @property
    def auth_mode(self) -> Literal["api_key", "client_credentials", "none"]:
        if self.api_key is not None:
            return "api_key"
        if self.client_id is not None and self.client_secret is not None:
            return "client_credentials"
        return "none"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    def require_credentials(self) -> None:
        """Raise the error a tool call shows when no way to authenticate is configured."""
        if self.has_credentials:
            return
        if self.client_id is not None or self.client_secret is not None:
            missing = "GLOO_CLIENT_SECRET" if self.client_secret is None else "GLOO_CLIENT_ID"
            raise ConfigurationError(
                f"{missing} is not set; set both GLOO_CLIENT_ID and GLOO_CLIENT_SECRET (or GLOO_API_KEY) "
                "in the server's environment or .env file, then restart it."
            )
        raise ConfigurationError(
            "No Gloo credentials are configured; set GLOO_API_KEY, or GLOO_CLIENT_ID and GLOO_CLIENT_SECRET, "
            "in the server's environment or .env file, then restart it."
        )


def user_data_dir() -> Path:
    """Where a per-user application keeps its data, by platform convention."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def default_store_url() -> str:
    return f"sqlite:///{user_data_dir() / 'gloo-mcp' / 'chats.db'}"


def _check_store_url(raw: str) -> str:
    url = raw.strip()
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigurationError(
            "GLOO_STORE_URL must be sqlite:///absolute/path/chats.db or postgresql://user:password@host/db; "
            f"got a value starting {url[:12]!r}."
        )
    return url


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (plain http is allowed only there)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _normalise_base_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"GLOO_BASE_URL must be an http(s) URL such as {DEFAULT_BASE_URL}; got {raw.strip()!r}."
        )
    if parts.scheme != "https" and not is_loopback_url(url):
        raise ConfigurationError(
            "GLOO_BASE_URL must use https unless it points at this machine, so credentials never travel in "
            f"plaintext; got {parts.scheme}://{parts.hostname}."
        )
    if parts.username or parts.password:
        raise ConfigurationError("GLOO_BASE_URL must not contain a user name or password.")
    return url


def _from_strings(values: Mapping[str, str]) -> dict[str, object]:
    """Turn raw variable strings into field values; blank strings count as unset."""
    data: dict[str, object] = {}
    for env, field in _ENV_FIELDS.items():
        raw = values.get(env)
        if raw is None or not raw.strip():
            continue
        value = raw.strip()
        if field == "publishers":
            data[field] = tuple(p.strip() for p in value.split(",") if p.strip())
        elif field == "log_level":
            data[field] = value.upper()
        elif field == "base_url":
            data[field] = _normalise_base_url(value)
        elif field == "store_url":
            data[field] = _check_store_url(value)
        elif field == "backend":
            data[field] = value.lower()
        else:
            data[field] = value
    return data


def load_settings(environ: Mapping[str, str] | None = None, *, env_file: Path | None = None) -> Settings:
    """Build settings from ``environ`` (default: the process environment) over ``env_file``.

    Real environment variables win over the ``.env`` file, as users of dotenv expect.
    Raises :class:`ConfigurationError` naming the offending variable.
    """
    file_values: dict[str, str] = {}
    path = env_file if env_file is not None else Path.cwd() / ".env"
    if path.is_file():
        from dotenv import dotenv_values  # local: loaded only when there is a file to read

        file_values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    merged = {**file_values, **(os.environ if environ is None else environ)}
    data = _from_strings(merged)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        env = _FIELD_ENV.get(field, field)
        raise ConfigurationError(f"{env} is invalid: {first['msg']}.") from None
