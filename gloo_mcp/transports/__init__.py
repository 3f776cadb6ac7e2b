"""How the MCP face is served: stdio, the HTTP app (streamable HTTP behind bounds and auth), uvicorn serving."""
