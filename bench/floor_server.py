"""The floor for cold start and per-call cost: a bare MCPServer with one trivial tool, same SDK, stdio."""

from __future__ import annotations

from mcp.server import MCPServer

server = MCPServer("floor")


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


if __name__ == "__main__":
    server.run("stdio")
