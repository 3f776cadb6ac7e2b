"""``gloo-mcp config HOST``: a ready-to-paste MCP server entry for each popular host.

The entry names this installation's executable by absolute path (hosts start servers
without the user's shell, virtualenv or PATH) and lists the variables to fill in as
placeholders: a real secret is never printed, even when one is set here.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any, Literal

__all__ = ["HOSTS", "host_config", "server_command", "where_it_goes"]

Host = Literal["claude-desktop", "claude-code", "cursor", "vscode"]
HOSTS: tuple[Host, ...] = ("claude-desktop", "claude-code", "cursor", "vscode")
SERVER_NAME = "gloo"

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


def _variables(api_key: bool) -> list[str]:
    return ["GLOO_API_KEY"] if api_key else ["GLOO_CLIENT_ID", "GLOO_CLIENT_SECRET"]


def _windows_env(platform: str) -> dict[str, str]:
    # Windows consoles default to a legacy code page; JSON-RPC must be UTF-8.
    return {"PYTHONIOENCODING": "utf-8"} if platform == "win32" else {}


def host_config(host: Host, *, api_key: bool = False, platform: str = sys.platform) -> dict[str, Any]:
    """The JSON document (or fragment) ``host`` reads its MCP servers from."""
    command, *args = server_command()
    variables = _variables(api_key)
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
        server = {"type": "stdio", "command": command, "args": args, "env": {**env, **_windows_env(platform)}}
        return {"inputs": inputs, "servers": {SERVER_NAME: server}}
    env = {**{name: f"<your {_WHAT[name]}>" for name in variables}, **_windows_env(platform)}
    entry: dict[str, Any] = {"command": command, "args": args, "env": env}
    if host == "claude-code":
        entry = {"type": "stdio", **entry}
    return {"mcpServers": {SERVER_NAME: entry}}


def where_it_goes(host: Host) -> str:
    """One line telling the user where to paste the document."""
    return {
        "claude-desktop": "Merge into claude_desktop_config.json (Claude Desktop: Settings > Developer > Edit Config): "
        "~/Library/Application Support/Claude/ on macOS, %APPDATA%\\Claude\\ on Windows; fill in the <placeholders>, "
        "then restart Claude.",
        "claude-code": "Save as .mcp.json in your project root (shared with the team), or add it for yourself with "
        f"`claude mcp add-json {SERVER_NAME} '<the \"{SERVER_NAME}\" object>'`; fill in the <placeholders>.",
        "cursor": "Merge into ~/.cursor/mcp.json (all projects) or .cursor/mcp.json (this project); fill in the "
        "<placeholders>.",
        "vscode": "Save as .vscode/mcp.json in your workspace; VS Code asks for the values on first start "
        "and keeps them encrypted.",
    }[host]
