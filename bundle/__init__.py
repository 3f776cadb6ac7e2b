"""The MCP Bundle (``.mcpb``) of gloo-mcp for Claude Desktop: ``python -m bundle`` builds it (see README.md)."""
