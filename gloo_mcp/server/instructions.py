"""The server's ``instructions``: how an agent chains the tools (product copy for a language model)."""

__all__ = ["INSTRUCTIONS"]

INSTRUCTIONS = """\
Gloo AI answers questions about faith, values, flourishing and everyday life with grounded, \
cited answers. Use these tools to hold a multi-turn conversation with it:

1. send_message starts a NEW conversation and returns an answer, numbered sources, suggested \
follow-up questions, and a chat_id.
2. Keep that chat_id. For every follow-up in the same conversation call continue_chat with it; \
Gloo remembers the earlier turns, so do not repeat them. A suggested follow-up can be sent as is.
3. get_chat_history reads a conversation back (read-only), its newest messages first; pass its \
next_cursor as cursor for older pages. Use it e.g. after losing context.

Cite Gloo's sources by their numbers and links; never invent URLs. If a chat_id is unknown \
or expired, start a new conversation with send_message. If a send fails with "may or may not \
have been recorded", check get_chat_history before sending again."""
