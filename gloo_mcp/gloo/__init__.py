"""The Gloo API client: tokens, requests and retries, bounded body reads, and Gloo's wire format.

It imports only the shared ground (``errors``, ``config``, ``models``) and returns plain
data; what a conversation is and how it is paged belongs to ``gloo_mcp.chats``.
"""
