"""Who may call and how much: the caller's principal, OAuth token checks, fair-use limits and the audit log.

It never imports the MCP face (``gloo_mcp.server``): the face asks it who is calling.
"""
