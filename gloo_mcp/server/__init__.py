"""The MCP face: module-level tools, resources and prompts, the process state they reach through the
lifespan, and :func:`build_server`, which only constructs, registers and returns the server."""

from gloo_mcp.server.build import DEFAULT_HEARTBEAT_INTERVAL, build_server

__all__ = ["DEFAULT_HEARTBEAT_INTERVAL", "build_server"]
