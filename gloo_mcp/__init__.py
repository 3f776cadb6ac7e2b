"""gloo-mcp: an MCP server that gives AI agents grounded, multi-turn conversations with Gloo AI.

Importing this package is cheap on purpose: hosts spawn the server often, so the
simulator, the demo and the HTTP transport load only when a command needs them.
"""

__version__ = "0.1.0"
