"""``gloo-mcp check``: is this installation ready to talk to Gloo? One line per finding, no chat created.

Findings: configuration (with the ``.env`` file it read, and warnings for a base URL with a
path and for ``GLOO_*`` names gloo-mcp does not know), reachability, credentials (on the
configured backend's API, counted only when the answer is shaped like Gloo's), and the
conversation store (its absolute file, a warning for a relative path or a file
not there yet; check creates nothing). A ``warn`` line never changes the exit status.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import anyio

from gloo_mcp.chats.store import LOCAL_OWNER, describe_url, open_store
from gloo_mcp.config import (
    _ENV_FIELDS,
    DEFAULT_BASE_URL,
    Settings,
    env_file_values,
    load_settings,
    resource_url_warning,
)
from gloo_mcp.errors import ConfigurationError, GlooError, StoreError
from gloo_mcp.gloo.client import SIMULATOR_NOTE, GlooClient

__all__ = ["run_check"]

# GLOO_* names the project's own tooling reads (tests, benchmarks): not typos, not settings.
_TOOLING = frozenset({"GLOO_MCP_NO_SKIPS", "GLOO_MCP_INSPECTOR", "GLOO_MCP_TEST_POSTGRES_URL"})
_TOOLING_PREFIXES = ("GLOO_MCP_BENCH_", "GLOO_MCP_TEST_")


def _line(verdict: str, text: str) -> None:
    print(f"{verdict:<4}  {text}", flush=True)


def _looks_meant(name: str, *, in_env_file: bool) -> str | None:
    """The name ``name`` would be as a gloo-mcp variable, when it looks meant as one; None otherwise.

    GLOO_* names in any case are ours. In ``.env``, which holds this server's settings, so is
    a name that is a setting once GLOO_ is put in front (API_KEY, client_id); elsewhere such
    a name may be another program's.
    """
    upper = name.upper()
    if upper.startswith("GLOO_"):
        return upper
    if in_env_file and f"GLOO_{upper}" in _ENV_FIELDS:
        return f"GLOO_{upper}"
    return None


def _unknown_names(environ: Mapping[str, str], file_values: Mapping[str, str] | None) -> list[str]:
    """One warning per name meant as a setting that is not one, with the closest setting's name when one is close."""
    known = list(_ENV_FIELDS)
    sources = [("the environment", environ), (".env", file_values or {})]
    warnings = []
    for where, values in sources:
        for name in sorted(values):
            meant = _looks_meant(name, in_env_file=where == ".env")
            if meant is None or name in _ENV_FIELDS or meant in _TOOLING or meant.startswith(_TOOLING_PREFIXES):
                continue
            close = [meant] if meant in _ENV_FIELDS else difflib.get_close_matches(meant, known, n=1)
            guess = f"; did you mean {close[0]}?" if close else "; it is ignored."
            warnings.append(f"{name} (in {where}) is not a gloo-mcp setting{guess}")
    return warnings


def _base_url_warning(base_url: str) -> str | None:
    path = urlsplit(base_url).path
    if not path or path == "/":
        return None
    return (
        f"GLOO_BASE_URL has a path ({path[:60]}); Gloo's base URL is an origin such as {DEFAULT_BASE_URL}, "
        "and gloo-mcp adds /ai/v1/… and /oauth2/token to it itself."
    )


def _sqlite_file(url: str) -> tuple[Path, list[tuple[str, str]]]:
    """The absolute file a ``sqlite:///`` URL names, and what to say about it; nothing is created.

    A relative path resolves against each process's working directory (a host's is rarely
    the user's), and a missing file would be created, directories and all, on first use.
    """
    named = Path(url.removeprefix("sqlite:///"))
    location = named.absolute()
    said: list[tuple[str, str]] = []
    if not named.is_absolute():
        said.append(
            (
                "warn",
                f"GLOO_STORE_URL names a relative path ({named}), which every process resolves against its own working "
                f"directory (here sqlite:///{location}); write an absolute one with four slashes, such as "
                f"sqlite:////{named.as_posix()}.",
            )
        )
    if location.exists():
        return location, said
    ancestor = next(parent for parent in location.parents if parent.exists())
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        what = "is not a directory" if not ancestor.is_dir() else "is not writable"
        raise StoreError(
            f"Could not open the conversation store sqlite:///{location}: it does not exist, and {ancestor} {what} "
            "to create it in; check GLOO_STORE_URL."
        )
    said.append(
        (
            "warn",
            f"sqlite:///{location} does not exist yet; gloo-mcp creates it (and any missing directory) on first use. "
            "check created nothing.",
        )
    )
    return location, said


async def _store(settings: Settings) -> list[tuple[str, str]]:
    """Open the conversation store, if it exists, and count what it holds; create nothing."""
    url = settings.resolved_store_url
    said: list[tuple[str, str]] = []
    if url.startswith("sqlite:///"):
        location, said = _sqlite_file(url)
        url = f"sqlite:///{location}"
        if not location.exists():
            return said
    store = await open_store(url)
    try:
        chats, more = await store.list_chats(owner=LOCAL_OWNER, text=None, limit=1000, cursor=None)
    finally:
        await store.aclose()
    count = f"{len(chats)}{'+' if more else ''}"
    # check has no caller: it counts the local principal's (stdio, the shared token), and says so.
    whose = "the local principal (stdio and shared-token callers)"
    if settings.oauth_issuer is not None:
        whose = "the local principal (stdio and shared-token callers; signed-in users' own are not counted)"
    return [("ok", f"{describe_url(url)} ({count} conversations of {whose}; backend {settings.backend})"), *said]


async def _sign_in(settings: Settings) -> list[tuple[str, str]]:
    """The OAuth issuer answers with its metadata and signing keys (HTTP per-user sign-in only)."""
    from gloo_mcp.access.oauth import verifier_from_settings

    verifier = verifier_from_settings(settings)
    assert verifier is not None
    async with verifier:
        await verifier.discover()
    return [
        (
            "ok",
            f"{verifier.issuer} publishes its metadata and signing keys; tokens must be issued for {verifier.resource}",
        )
    ]


async def _probe(settings: Settings) -> bool:
    """Reachability, credentials, the store, then sign-in if configured: one line each; stops at the first failure."""
    client = GlooClient.open(settings)
    try:
        try:
            reached = await client.reach()
        except GlooError as error:
            _line("FAIL", f"reachability: {error}")
            return False
        _line("ok", f"reachability: {reached}")
        try:
            _line("ok", f"credentials: {await client.verify_credentials()}")
        except GlooError as error:
            _line("FAIL", f"credentials: {error}")
            return False
    finally:
        await client.aclose()
    if SIMULATOR_NOTE in reached and settings.store_url is None:
        _line(
            "warn",
            "store: GLOO_BASE_URL is the gloo-mcp simulator but GLOO_STORE_URL is not set, so simulated chats "
            "would be listed with your real ones; give them a store of their own with GLOO_STORE_URL (the "
            "simulator suggests one).",
        )
    steps: list[tuple[str, Callable[[], Awaitable[list[tuple[str, str]]]]]] = [("store", lambda: _store(settings))]
    if settings.oauth_issuer is not None or settings.resource_url is not None:
        steps.append(("sign-in", lambda: _sign_in(settings)))
    for finding, step in steps:
        try:
            said = await step()
        except GlooError as error:
            _line("FAIL", f"{finding}: {error}")
            return False
        for verdict, text in said:
            _line(verdict, f"{finding}: {text}")
    return True


def run_check(environ: Mapping[str, str], env_file: Path) -> int:
    """Returns 0 when the configuration is usable, Gloo answers, and it accepted the credentials.

    ``environ`` is the process environment and ``env_file`` the ``.env`` it may be read with.
    """
    file_values = env_file_values(env_file)
    source = f"read {env_file}" if file_values is not None else f"no .env in {env_file.parent}, environment only"
    warnings = _unknown_names(environ, file_values)
    try:
        settings = load_settings(environ, env_file=env_file)
    except ConfigurationError as error:
        _line("FAIL", f"configuration: {error} ({source})")
        for warning in warnings:
            _line("warn", f"configuration: {warning}")
        return 1
    _line(
        "ok",
        f"configuration: base URL {settings.base_url}, backend {settings.backend}, timeout {settings.timeout:g} s "
        f"({source})",
    )
    if settings.resource_url is not None:
        from gloo_mcp.transports.http_app import MCP_PATH

        resource_warning = resource_url_warning(settings.resource_url, MCP_PATH)
        warnings = ([resource_warning] if resource_warning else []) + warnings
    base_url_warning = _base_url_warning(settings.base_url)
    for warning in ([base_url_warning] if base_url_warning else []) + warnings:
        _line("warn", f"configuration: {warning}")
    try:
        settings.require_credentials()
    except ConfigurationError as error:
        _line("FAIL", f"credentials: {error}")
        return 1
    return 0 if anyio.run(_probe, settings) else 1
