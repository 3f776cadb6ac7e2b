"""Settings, read once from the environment (or a ``.env`` file) and passed down.

Only the command line calls :func:`load_settings`; everything else receives a
:class:`Settings`. Secrets are ``SecretStr`` so no repr, log line or error shows them.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails

from gloo_mcp.errors import ConfigurationError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "GUARD_VARIABLES",
    "Settings",
    "configured_auth_mode",
    "default_store_url",
    "env_file_values",
    "is_loopback_url",
    "load_settings",
    "load_settings_for_serving",
    "merged_environment",
    "resource_url_warning",
]

DEFAULT_BASE_URL = "https://platform.ai.gloo.com"

DEFAULT_TIMEOUT = 50.0
"""Seconds for one whole tool call. Hosts built on the TypeScript SDK give up on a request
after 60 s unless they opt into progress resets; ending first means the agent reads our
"may or may not have been recorded" sentence instead of a host time-out it would retry."""

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["text", "json"]
Backend = Literal["message", "completions"]
SharedLimits = Literal["auto", "off"]

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
    "GLOO_MCP_LOG_FORMAT": "log_format",
    "GLOO_MCP_AUTH_TOKEN": "mcp_auth_token",
    "GLOO_BACKEND": "backend",
    "GLOO_STORE_URL": "store_url",
    "GLOO_MCP_RESOURCE_LINKS": "resource_links",
    "GLOO_CONTEXT_BUDGET": "context_budget",
    "GLOO_MCP_OAUTH_ISSUER": "oauth_issuer",
    "GLOO_MCP_RESOURCE_URL": "resource_url",
    "GLOO_MCP_OAUTH_SCOPES": "oauth_scopes",
    "GLOO_MCP_CALLS_PER_MINUTE": "calls_per_minute",
    "GLOO_MCP_CALLS_IN_FLIGHT": "calls_in_flight",
    "GLOO_MCP_SHARED_LIMITS": "shared_limits",
}
_FIELD_ENV = {field: env for env, field in _ENV_FIELDS.items()}

GUARD_VARIABLES = frozenset(
    {"GLOO_MCP_AUTH_TOKEN", "GLOO_MCP_OAUTH_ISSUER", "GLOO_MCP_RESOURCE_URL", "GLOO_MCP_OAUTH_SCOPES"}
)
"""Variables that decide who may call the server: if one is set but unusable, serving is refused
rather than carried on without it (a configuration error must never open a door)."""

MIN_AUTH_TOKEN_LENGTH = 16
CHARACTER_LIMIT_RANGE = (1, 100_000)
SOURCES_LIMIT_RANGE = (0, 50)


class Settings(BaseModel):
    """Everything gloo-mcp needs to know about its upstream and its request defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str | None = None
    client_secret: SecretStr | None = None
    api_key: SecretStr | None = None
    base_url: str = DEFAULT_BASE_URL
    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0, le=3600)
    character_limit: int = Field(default=1000, ge=CHARACTER_LIMIT_RANGE[0], le=CHARACTER_LIMIT_RANGE[1])
    sources_limit: int = Field(default=5, ge=SOURCES_LIMIT_RANGE[0], le=SOURCES_LIMIT_RANGE[1])
    publishers: tuple[str, ...] = ()
    enable_suggestions: bool = True
    log_level: LogLevel = "WARNING"
    log_format: LogFormat = "text"
    """``json``: every log line one JSON object, like the audit lines beside it on stderr (json_logs.py)."""
    mcp_auth_token: SecretStr | None = None
    """Bearer token HTTP clients of gloo-mcp must send (Streamable HTTP only)."""
    backend: Backend = "message"
    """Which Gloo API answers: the Message API (Gloo keeps the chat) or Completions V2 (we keep it)."""
    store_url: SecretStr | None = None
    """Where conversations are kept (sqlite:////absolute/path or postgresql://…, whose password is a secret)."""
    context_budget: int | None = Field(default=None, ge=0, le=10_000_000)
    """Completions V2: tokens of earlier turns sent with each question (default: from the model's context window)."""
    oauth_issuer: str | None = None
    """HTTP: the OAuth authorization server whose JWT access tokens sign users in (per-user conversations)."""
    resource_url: str | None = None
    """HTTP with OAuth: this server's public MCP URL, the audience its tokens must be issued for (RFC 8707)."""
    oauth_scopes: tuple[str, ...] = ()
    """HTTP with OAuth: scopes every token must carry (403 insufficient_scope otherwise)."""
    calls_per_minute: int = Field(default=60, ge=0, le=100_000)
    """Calls to Gloo each principal may start per minute (0: no limit)."""
    calls_in_flight: int = Field(default=4, ge=0, le=1_000)
    """Calls to Gloo each principal may have under way at once (0: no limit)."""
    shared_limits: SharedLimits = "auto"
    """HTTP: ``auto`` counts the two limits above in a PostgreSQL store, together with every replica sharing it
    (in the process with SQLite, which one host uses); ``off`` counts them in each replica alone."""
    resource_links: bool = False
    """Whether tool results carry ``resource_link`` blocks (protocol 2025-06-18+ hosts only; opt-in)."""

    @field_validator("mcp_auth_token")
    @classmethod
    def _token_long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < MIN_AUTH_TOKEN_LENGTH:
            raise ValueError(
                f"it must be at least {MIN_AUTH_TOKEN_LENGTH} characters long; generate one with "
                'python -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
        return token

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


_STORE_URL_SHAPE = "sqlite:////absolute/path/chats.db (four slashes) or postgresql://user:password@host:5432/db"
_PERCENT_ESCAPES = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _check_store_url(raw: str) -> str:
    """Accept a store URL that the drivers can parse; every complaint names a part, never its value.

    A password is a secret: no message quotes any piece of the URL.
    """
    url = raw.strip()
    if url.startswith("sqlite:///"):
        return url
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigurationError(f"GLOO_STORE_URL must look like {_STORE_URL_SHAPE}.")
    netloc = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
    if _PERCENT_ESCAPES.search(netloc.rpartition("@")[0]):
        raise ConfigurationError(
            "GLOO_STORE_URL's user name or password contains a '%' that is not percent-encoding; write each "
            "special character of the password percent-encoded (% as %25, @ as %40, / as %2F)."
        )
    try:  # urlsplit refuses unbalanced IPv6 brackets; .port refuses a port that is not a number in range
        urlsplit(url).port  # noqa: B018
    except ValueError:
        raise ConfigurationError(
            f"GLOO_STORE_URL has a malformed host or port; it must look like {_STORE_URL_SHAPE}."
        ) from None
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


_USERINFO = re.compile(r"^([^/?#]*//)?[^/?#@]*@")


def shown_url(raw: str) -> str:
    """A URL someone configured, fit to quote back: without what may be a secret (a user name and password, a
    query, a fragment). Sentences about settings reach /health and /readyz, which anyone who can connect reads."""
    text = _USERINFO.sub(lambda m: f"{m.group(1) or ''}…@", raw.strip())
    return text.split("?", 1)[0].split("#", 1)[0]


def _normalise_base_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"GLOO_BASE_URL must be an http(s) URL such as {DEFAULT_BASE_URL}; got {shown_url(raw)!r}."
        )
    if parts.scheme != "https" and not is_loopback_url(url):
        raise ConfigurationError(
            "GLOO_BASE_URL must use https unless it points at this machine, so credentials never travel in "
            f"plaintext; got {parts.scheme}://{parts.hostname}."
        )
    if parts.username or parts.password:
        raise ConfigurationError("GLOO_BASE_URL must not contain a user name or password.")
    return url


def _check_oauth_url(env: str, raw: str) -> str:
    """An OAuth issuer or resource URL that can work: https (http only on loopback), absolute, no fragment.

    The access room checks it again; here the sentence can name the variable, since only the
    command line knows where the value came from.
    """
    url = raw.strip()
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_url(url)):
        raise ConfigurationError(f"{env} must be an https:// URL (http:// only on loopback); got {shown_url(url)!r}.")
    if not parts.hostname or parts.fragment:
        raise ConfigurationError(f"{env} must be an absolute URL without a #fragment; got {shown_url(url)!r}.")
    return url


def _field_value(field: str, value: str) -> object:
    """One variable's text as the value its field takes; ConfigurationError when it cannot be one."""
    if field == "publishers":
        return tuple(p.strip() for p in value.split(",") if p.strip())
    if field == "oauth_scopes":
        return tuple(scope for scope in value.replace(",", " ").split() if scope)
    if field == "log_level":
        return value.upper()
    if field == "base_url":
        return _normalise_base_url(value)
    if field == "store_url":
        return _check_store_url(value)
    if field in ("oauth_issuer", "resource_url"):
        return _check_oauth_url(_FIELD_ENV[field], value)
    if field in ("backend", "log_format", "shared_limits"):
        return value.lower()
    return value


_SECRET_FIELDS = frozenset({"client_secret", "api_key", "mcp_auth_token", "store_url"})
"""Fields whose values no message repeats (a store URL may hold a password)."""

_CHOICES: dict[str, tuple[str, ...]] = {
    "backend": get_args(Backend),
    "log_level": get_args(LogLevel),
    "log_format": get_args(LogFormat),
    "shared_limits": get_args(SharedLimits),
}
_KINDS = {
    "float_parsing": "a number of seconds",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_parsing": "true or false",
}
_LEADING_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)")


def _reason(field: str, item: ErrorDetails, raw: str | None) -> str:
    """Why a value is unusable, in one clause: what it must be, what it was (unless secret), the closest choice."""
    reason = item["msg"].removeprefix("Value error, ")  # our validators' own sentences need no prefix
    if raw is None or field in _SECRET_FIELDS:
        return reason
    shown = raw.strip()[:60]
    choices = _CHOICES.get(field)
    if choices is not None:
        listed = " or ".join(f"{choice!r}" for choice in choices)
        folded = {choice.lower(): choice for choice in choices}
        close = difflib.get_close_matches(shown.lower(), list(folded), n=1, cutoff=0.6)
        guess = f"; did you mean {folded[close[0]]!r}?" if close else ""
        return f"it must be {listed}; got {shown!r}{guess}"
    kind = _KINDS.get(item["type"])
    if kind is None:
        return f"{reason.rstrip('.')}; got {shown!r}"
    if kind == "true or false":
        return f"it must be true or false; got {shown!r}"
    default = Settings.model_fields[field].default
    number = _LEADING_NUMBER.match(shown) if kind == "a number of seconds" else None  # "50s" meant 50
    example = number.group(1) if number else f"{default:g}" if isinstance(default, float) else str(default)
    return f"it must be {kind}, e.g. {example}; got {shown!r}"


def env_file_values(path: Path) -> dict[str, str] | None:
    """The names and values in a ``.env`` file, or None when there is no such file."""
    if not path.is_file():
        return None
    from dotenv import dotenv_values  # local: loaded only when there is a file to read

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def merged_environment(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> dict[str, str]:
    """The ``.env`` file's values (default: the working directory's) under the real environment's, which win as
    users of dotenv expect: what every command reads its settings from."""
    file_values = env_file_values(env_file if env_file is not None else Path.cwd() / ".env") or {}
    return {**file_values, **(os.environ if environ is None else environ)}


def _validated(values: Mapping[str, str]) -> tuple[Settings, list[tuple[str, ConfigurationError]]]:
    """Settings from every usable variable, and (variable, error) for each one that is not usable.

    Blank strings count as unset. A bad variable is left out, so the rest still apply.
    """
    data: dict[str, object] = {}
    problems: list[tuple[str, ConfigurationError]] = []
    for env, field in _ENV_FIELDS.items():
        raw = values.get(env)
        if raw is None or not raw.strip():
            continue
        try:
            data[field] = _field_value(field, raw.strip())
        except ConfigurationError as error:
            problems.append((env, error))
    while True:
        try:
            return Settings.model_validate(data), problems
        except ValidationError as exc:
            for item in exc.errors():
                field = str(item["loc"][0]) if item["loc"] else ""
                env = _FIELD_ENV.get(field, field)
                reason = _reason(field, item, values.get(env)).rstrip(".")
                ending = "" if reason.endswith("?") else "."
                problems.append((env, ConfigurationError(f"{env} is invalid: {reason}{ending}")))
                if data.pop(field, None) is None:  # not one field's fault: nothing can be left out safely
                    raise problems[-1][1] from None


def configured_auth_mode(values: Mapping[str, str]) -> Literal["api_key", "client_credentials", "none"]:
    """How a server given ``values`` (see :func:`merged_environment`) would authenticate to Gloo, by the rules
    :func:`load_settings` applies (a blank or unusable variable counts as unset)."""
    try:
        settings, _ = _validated(values)
    except ConfigurationError:
        return "none"
    return settings.auth_mode


def resource_url_warning(resource_url: str | None, mcp_path: str) -> str | None:
    """A sentence when ``GLOO_MCP_RESOURCE_URL`` (what hosts connect to) does not end in the MCP endpoint's path."""
    if resource_url is None or urlsplit(resource_url).path.rstrip("/").endswith(mcp_path):
        return None
    return (
        f"GLOO_MCP_RESOURCE_URL ({resource_url}) does not end in {mcp_path}, where gloo-mcp serves MCP; hosts "
        f"connect to the resource URL and tokens name it as their audience, so give the full MCP URL, such as "
        f"https://mcp.example.com{mcp_path}."
    )


def load_settings(environ: Mapping[str, str] | None = None, *, env_file: Path | None = None) -> Settings:
    """Build settings from ``environ`` (default: the process environment) over ``env_file``.

    Raises :class:`ConfigurationError` naming the first offending variable.
    """
    settings, problems = _validated(merged_environment(environ, env_file))
    if problems:
        raise problems[0][1]
    return settings


def load_settings_for_serving(
    environ: Mapping[str, str] | None = None, *, env_file: Path | None = None
) -> tuple[Settings, ConfigurationError | None]:
    """Settings for a server that must fail closed: the usable ones, and the first problem to report.

    A bad variable other than a guard is left out and its error returned, so the server can
    start and report it on every call while its guards stay on. A bad guard variable
    (:data:`GUARD_VARIABLES`) raises: serving without the guard it asked for would open a door.
    """
    settings, problems = _validated(merged_environment(environ, env_file))
    for env, error in problems:
        if env in GUARD_VARIABLES:
            raise error
    return settings, (problems[0][1] if problems else None)
