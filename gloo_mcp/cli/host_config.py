"""``gloo-mcp config HOST``: a ready-to-paste MCP server entry for each popular host.

The local entry names this installation's executable by absolute path (hosts start servers
without the user's shell, virtualenv or PATH), or, with ``portable``, ``uvx gloo-mcp`` for a
file to share. It asks for the credentials that are configured where it runs (the
environment over ``.env``, as ``check`` reads them). Secrets appear as references the host
resolves where it can (Claude Code's ``${VAR}``, VS Code's encrypted ``${input:…}``) and as
placeholders to fill in elsewhere; ``GLOO_BASE_URL`` and ``GLOO_BACKEND``, which are not
secrets, are copied when they are set here. The remote entry (``--url``) points the host at a gloo-mcp deployment served
over Streamable HTTP: with OAuth the host signs its user in itself, and with the shared
token it sends a placeholder the host fills in. A real secret is never printed, even
when one is set here.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "CARRIED_VARIABLES",
    "HOSTS",
    "PORTABLE_COMMAND",
    "carried_settings",
    "check_remote_url",
    "command_sentence",
    "credentials_choice",
    "host_config",
    "remote_host_config",
    "remote_where_it_goes",
    "render",
    "server_command",
    "where_it_goes",
]

Host = Literal["claude-desktop", "claude-code", "cursor", "vscode", "windsurf", "codex", "gemini-cli", "zed"]
HOSTS: tuple[Host, ...] = (
    "claude-desktop",
    "claude-code",
    "cursor",
    "vscode",
    "windsurf",
    "codex",
    "gemini-cli",
    "zed",
)
SERVER_NAME = "gloo"

TOKEN_VARIABLE = "GLOO_MCP_AUTH_TOKEN"
_TOKEN_INPUT = "gloo-mcp-auth-token"
_EXAMPLE_URL = "https://mcp.example.com/mcp"

CARRIED_VARIABLES = ("GLOO_BASE_URL", "GLOO_BACKEND")
"""Settings a local entry copies from the environment ``gloo-mcp config`` runs in: they choose which Gloo answers,
and neither is a secret."""

PORTABLE_COMMAND = ["uvx", "gloo-mcp"]
"""The entry's command for any machine with uv: uv fetches gloo-mcp from PyPI on first start."""

_WHAT = {"GLOO_CLIENT_ID": "Gloo client id", "GLOO_CLIENT_SECRET": "Gloo client secret", "GLOO_API_KEY": "Gloo API key"}


def server_command() -> list[str]:
    """The command line that starts this installation's gloo-mcp over stdio."""
    scripts = Path(sys.executable).parent  # the console script sits next to the interpreter
    for name in ("gloo-mcp", "gloo-mcp.exe"):
        candidate = scripts / name
        if candidate.is_file():
            return [str(candidate.absolute())]
    found = shutil.which("gloo-mcp")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "gloo_mcp"]


def credentials_choice(values: Mapping[str, str], *, api_key_flag: bool, source: str) -> tuple[bool, str]:
    """Whether the entry asks for ``GLOO_API_KEY`` (else the client credentials), and one sentence saying why.

    ``values`` is what a server started here would read (the environment over ``.env``),
    judged by the settings' own rules; ``source`` names where they came from.
    """
    from gloo_mcp.config import configured_auth_mode  # local: the stdio server's start-up does not need it

    if api_key_flag:
        return True, "It authenticates with GLOO_API_KEY (--api-key)."
    mode = configured_auth_mode(values)
    if mode == "api_key":
        return True, f"It authenticates with GLOO_API_KEY, which is set here ({source})."
    if mode == "client_credentials":
        return False, f"It authenticates with GLOO_CLIENT_ID and GLOO_CLIENT_SECRET, which are set here ({source})."
    return False, (
        f"It authenticates with GLOO_CLIENT_ID and GLOO_CLIENT_SECRET; no complete Gloo credentials are set here "
        f"({source}): add --api-key to use GLOO_API_KEY instead."
    )


def command_sentence(host: Host, command: Sequence[str]) -> str:
    """One sentence saying which command the printed entry runs, and how to get the other form."""
    if list(command) == PORTABLE_COMMAND:
        return (
            "It runs `uvx gloo-mcp`, so it works on any machine where the host finds uv on its PATH (uv installs "
            "gloo-mcp from PyPI on first start)."
        )
    return (
        f"It runs this machine's gloo-mcp ({shlex.join(command)}); for an entry that works on other machines too, "
        f"`gloo-mcp config {host} --uvx` prints the portable form, which runs `uvx gloo-mcp`."
    )


def _variables(api_key: bool) -> list[str]:
    return ["GLOO_API_KEY"] if api_key else ["GLOO_CLIENT_ID", "GLOO_CLIENT_SECRET"]


def _windows_env(platform: str) -> dict[str, str]:
    # Windows consoles default to a legacy code page; JSON-RPC must be UTF-8.
    return {"PYTHONIOENCODING": "utf-8"} if platform == "win32" else {}


def carried_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The :data:`CARRIED_VARIABLES` set in ``environ``; a base URL carrying a user name or password is left out."""
    carried = {}
    for name in CARRIED_VARIABLES:
        value = (environ.get(name) or "").strip()
        if not value:
            continue
        if name == "GLOO_BASE_URL" and ("@" in value or any(c.isspace() for c in value)):
            continue  # it may hold a credential; gloo-mcp refuses such a URL anyway
        carried[name] = value
    return carried


def host_config(
    host: Host,
    *,
    api_key: bool = False,
    platform: str = sys.platform,
    carried: Mapping[str, str] | None = None,
    portable: bool = False,
) -> dict[str, Any]:
    """The JSON document (or fragment) ``host`` reads its MCP servers from.

    ``carried`` (see :func:`carried_settings`) is copied into the entry's ``env`` as it is;
    ``portable`` runs :data:`PORTABLE_COMMAND` instead of this installation's executable.
    """
    command, *args = PORTABLE_COMMAND if portable else server_command()
    variables = _variables(api_key)
    extra = {**dict(carried or {}), **_windows_env(platform)}
    if host == "vscode":  # VS Code prompts for ${input:…} values and stores them encrypted
        inputs = [
            {
                "type": "promptString",
                "id": name.lower().replace("_", "-"),
                "description": f"Your {_WHAT[name]}",
                "password": name != "GLOO_CLIENT_ID",
            }
            for name in variables
        ]
        env = {name: f"${{input:{name.lower().replace('_', '-')}}}" for name in variables}
        server = {"type": "stdio", "command": command, "args": args, "env": {**env, **extra}}
        return {"inputs": inputs, "servers": {SERVER_NAME: server}}
    if host == "claude-code":  # .mcp.json: Claude Code expands ${VAR} from the environment it starts in
        env = {name: f"${{{name}}}" for name in variables}
        return {
            "mcpServers": {SERVER_NAME: {"type": "stdio", "command": command, "args": args, "env": {**env, **extra}}}
        }
    if host == "codex":  # config.toml: env_vars forwards these from the environment Codex starts in
        entry: dict[str, Any] = {"command": command, "args": args, "env_vars": variables}
        if extra:
            entry["env"] = extra
        return {"mcp_servers": {SERVER_NAME: entry}}
    if host == "windsurf":  # mcp_config.json interpolates ${env:VAR} from the environment Windsurf starts in
        env = {name: f"${{env:{name}}}" for name in variables}
    elif host == "gemini-cli":  # settings.json expands $VAR from the environment Gemini CLI starts in
        env = {name: f"${name}" for name in variables}
    else:  # Claude Desktop, Cursor and Zed: placeholders to fill in
        env = {name: f"<your {_WHAT[name]}>" for name in variables}
    key = "context_servers" if host == "zed" else "mcpServers"
    return {key: {SERVER_NAME: {"command": command, "args": args, "env": {**env, **extra}}}}


def _toml_value(value: Any) -> str:
    if isinstance(value, str):  # a TOML basic string: JSON's escapes are TOML's
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def render(host: Host, document: dict[str, Any]) -> str:
    """The document as the host's file holds it: TOML for Codex (``[mcp_servers.gloo]``), JSON for the others."""
    if host != "codex":
        return json.dumps(document, indent=2)
    lines = []
    for name, entry in document["mcp_servers"].items():
        lines.append(f"[mcp_servers.{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in entry.items())
    return "\n".join(lines)


def where_it_goes(host: Host) -> str:
    """One line telling the user where to paste the document."""
    return {
        "claude-desktop": "Merge into claude_desktop_config.json (Claude Desktop: Settings > Developer > Edit Config): "
        "~/Library/Application Support/Claude/ on macOS, %APPDATA%\\Claude\\ on Windows; fill in the <placeholders>, "
        "then restart Claude.",
        "claude-code": "Save as .mcp.json in your project root; it holds no secret: Claude Code fills in the "
        "${GLOO_…} references from the environment it starts in, so export them in the shell you run `claude` from.",
        "cursor": "Merge into ~/.cursor/mcp.json (all projects) or .cursor/mcp.json (this project); fill in the "
        "<placeholders>.",
        "vscode": "Save as .vscode/mcp.json in your workspace; VS Code asks for the values on first start "
        "and keeps them encrypted.",
        "windsurf": "Merge into ~/.codeium/windsurf/mcp_config.json (Windsurf Settings > Cascade > MCP Servers > "
        "View raw config), then refresh the servers; Windsurf fills in the ${env:GLOO_…} references from the "
        "environment it starts in.",
        "codex": "Add to ~/.codex/config.toml (or .codex/config.toml in a trusted project); Codex forwards the "
        "variables named in env_vars from the environment it starts in, so export them in the shell you run `codex` "
        "from.",
        "gemini-cli": "Merge into ~/.gemini/settings.json (all projects) or .gemini/settings.json (this project); "
        "Gemini CLI expands the $GLOO_… references from the environment it starts in.",
        "zed": "Merge into Zed's settings.json (zed: open settings), under context_servers; fill in the "
        "<placeholders>.",
    }[host]


def check_remote_url(raw: str) -> str:
    """The MCP URL of a deployment as hosts will reach it; ValueError with one sentence when it cannot be one.

    It must be http(s) with a host, https unless it points at this machine (a bearer
    token must not cross a network in plaintext), and carry no user name, password or
    fragment. No message repeats the URL whole: a mistyped one may hold a password.
    """
    from gloo_mcp.config import is_loopback_url  # local: the stdio server's start-up does not need it

    url = raw.strip()
    if not url or any(char.isspace() or not char.isprintable() for char in url):
        raise ValueError(f"--url must be the server's MCP URL without spaces, such as {_EXAMPLE_URL}.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # parsing the port raises ValueError when it is not a number in range
    except ValueError:
        raise ValueError(f"--url has a malformed host or port; it must look like {_EXAMPLE_URL}.") from None
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "--url must not contain a user name or password; with --shared-token the host sends the token in a "
            "header instead."
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--url must be an http(s) URL with a host, such as {_EXAMPLE_URL}.")
    if parts.fragment:
        raise ValueError(f"--url must not have a #fragment; it must look like {_EXAMPLE_URL}.")
    if parts.scheme != "https" and not is_loopback_url(url):
        raise ValueError(
            "--url must use https unless it points at this machine, so tokens never cross the network in plaintext; "
            f"got http://{parts.hostname}."
        )
    return url


def remote_host_config(host: Host, url: str, *, shared_token: bool = False) -> dict[str, Any]:
    """The JSON document ``host`` reads a remote (Streamable HTTP) server at ``url`` from.

    Without ``shared_token`` the entry has no credentials: the server names its
    authorization server (RFC 9728) and the host signs its user in. With it, the entry
    sends ``Authorization: Bearer`` and a reference the host resolves (an environment
    variable, or VS Code's encrypted prompt), never the token itself. Raises ValueError
    for Claude Desktop, which adds remote servers as connectors in its settings, not in
    its JSON file; the sentence says how.
    """
    if host == "claude-desktop":
        raise ValueError(_claude_desktop_connector(url, shared_token=shared_token))
    if host == "vscode":  # VS Code prompts for ${input:…} values and stores them encrypted
        server: dict[str, Any] = {"type": "http", "url": url}
        if not shared_token:
            return {"servers": {SERVER_NAME: server}}
        server["headers"] = {"Authorization": f"Bearer ${{input:{_TOKEN_INPUT}}}"}
        prompt = {
            "type": "promptString",
            "id": _TOKEN_INPUT,
            "description": f"The gloo-mcp server's shared token ({TOKEN_VARIABLE})",
            "password": True,
        }
        return {"inputs": [prompt], "servers": {SERVER_NAME: server}}
    if host == "codex":  # config.toml: Codex sends the named variable as the bearer token
        entry: dict[str, Any] = {"url": url}
        if shared_token:
            entry["bearer_token_env_var"] = TOKEN_VARIABLE
        return {"mcp_servers": {SERVER_NAME: entry}}
    key = "mcpServers"
    if host == "claude-code":  # .mcp.json: Claude Code expands ${VAR} in url and headers from its environment
        server, reference = {"type": "http", "url": url}, f"${{{TOKEN_VARIABLE}}}"
    elif host == "windsurf":  # serverUrl; ${env:VAR} interpolated in headers too
        server, reference = {"serverUrl": url}, f"${{env:{TOKEN_VARIABLE}}}"
    elif host == "gemini-cli":  # httpUrl is Streamable HTTP (url would be the old SSE transport)
        server, reference = {"httpUrl": url}, f"${TOKEN_VARIABLE}"
    elif host == "zed":  # no interpolation in Zed's settings: a placeholder
        server, reference, key = {"url": url}, "<your gloo-mcp shared token>", "context_servers"
    else:  # Cursor reads ${env:VAR} from the environment it was started in
        server, reference = {"url": url}, f"${{env:{TOKEN_VARIABLE}}}"
    if shared_token:
        server["headers"] = {"Authorization": f"Bearer {reference}"}
    return {key: {SERVER_NAME: server}}


def _claude_desktop_connector(url: str, *, shared_token: bool) -> str:
    if shared_token:
        return (
            f"Claude Desktop's custom connectors sign users in with OAuth and cannot send the shared {TOKEN_VARIABLE}; "
            "configure GLOO_MCP_OAUTH_ISSUER on the server and add the URL under Settings > Connectors > Add custom "
            "connector, or run gloo-mcp locally (gloo-mcp config claude-desktop)."
        )
    return (
        "Claude Desktop adds remote servers as connectors, not in claude_desktop_config.json: open Settings > "
        f"Connectors > Add custom connector and enter {url} (Claude connects from Anthropic's cloud, so the URL must "
        "be reachable from the internet, and signs each user in with OAuth)."
    )


def remote_where_it_goes(host: Host, url: str, *, shared_token: bool = False) -> str:
    """One line telling the user where the remote entry goes and how the host will authenticate."""
    if host == "claude-desktop":
        return _claude_desktop_connector(url, shared_token=shared_token)
    if shared_token:
        auth = {
            "claude-code": f".mcp.json takes {TOKEN_VARIABLE} from the environment Claude Code starts in, the command "
            "from your shell now.",
            "cursor": f"Cursor reads {TOKEN_VARIABLE} from the environment it starts in.",
            "vscode": "VS Code asks for the shared token on first start and keeps it encrypted.",
            "windsurf": f"Windsurf reads {TOKEN_VARIABLE} from the environment it starts in.",
            "codex": f"Codex reads {TOKEN_VARIABLE} from the environment it starts in.",
            "gemini-cli": f"Gemini CLI reads {TOKEN_VARIABLE} from the environment it starts in.",
            "zed": "replace the <placeholder> with the shared token (Zed's settings hold it as written).",
        }[host]
    else:
        auth = {
            "claude-code": "then run /mcp in Claude Code to sign in",
            "cursor": "Cursor offers to sign you in (in its MCP settings) when it first connects",
            "vscode": "VS Code asks you to sign in when it first starts the server",
            "windsurf": "Windsurf offers to sign you in when it first connects",
            "codex": f"then run `codex mcp login {SERVER_NAME}` to sign in",
            "gemini-cli": "Gemini CLI signs you in when it first connects (or run /mcp auth gloo)",
            "zed": "Zed offers to sign you in when it first connects",
        }[host] + f" (a server with one shared {TOKEN_VARIABLE} needs --shared-token instead)."
    if host == "claude-code":
        command = f"claude mcp add --transport http {SERVER_NAME} {shlex.quote(url)}"
        if shared_token:  # the shell fills the variable in once, into Claude Code's own user settings
            command += f' --header "Authorization: Bearer ${TOKEN_VARIABLE}"'
        return (
            "Save as .mcp.json in your project root (shared with the team), or add it for yourself with "
            f"`{command}`; {auth}"
        )
    where = {
        "cursor": "Merge into ~/.cursor/mcp.json (all projects) or .cursor/mcp.json (this project)",
        "vscode": "Save as .vscode/mcp.json in your workspace",
        "windsurf": "Merge into ~/.codeium/windsurf/mcp_config.json, then refresh the servers",
        "codex": "Add to ~/.codex/config.toml (or .codex/config.toml in a trusted project)",
        "gemini-cli": "Merge into ~/.gemini/settings.json (all projects) or .gemini/settings.json (this project)",
        "zed": "Merge into Zed's settings.json, under context_servers",
    }[host]
    return f"{where}; {auth}"
