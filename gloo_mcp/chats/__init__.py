"""Who keeps a conversation: the backends (Message API, Completions V2), the context window,
follow-up suggestions, the conversation store and paging with its cursors.

Built on the Gloo client (``gloo_mcp.gloo``) and the shared ground; knows nothing of MCP.
"""
