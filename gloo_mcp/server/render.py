"""Markdown for hosts that show only a tool's text block.

Each rendering is complete on its own — answer, numbered sources with links, follow-ups
and the ``chat_id`` to continue with — because some hosts show the text block and never
the structured content.
"""

from __future__ import annotations

from gloo_mcp.models import ChatHistory, ChatList, ChatMessage, ChatReply, ModelList, Source

__all__ = [
    "CHAT_URI_TEMPLATE",
    "chat_list_markdown",
    "chat_uri",
    "history_markdown",
    "models_markdown",
    "reply_markdown",
]

CHAT_URI_TEMPLATE = "gloo://chats/{chat_id}"


def chat_uri(chat_id: str) -> str:
    """The resource that holds a conversation's transcript."""
    return CHAT_URI_TEMPLATE.format(chat_id=chat_id)


def _source_line(number: int, source: Source) -> str:
    title = source.title or source.url or "Untitled source"
    head = f"[{title}]({source.url})" if source.url else title
    if source.publisher:
        head += f" — {source.publisher}"
    line = f"{number}. {head}"
    if source.snippet:
        line += f"\n   > {source.snippet}"
    return line


def _sources_block(sources: list[Source]) -> list[str]:
    if not sources:
        return []
    return ["", "**Sources**", *(_source_line(i, s) for i, s in enumerate(sources, start=1))]


def _suggestions_block(suggestions: list[str], heading: str) -> list[str]:
    if not suggestions:
        return []
    return ["", f"**{heading}**", *(f"- {s}" for s in suggestions)]


def reply_markdown(reply: ChatReply) -> str:
    """One answer, ready to show a person or a text-only model."""
    lines = [reply.answer.strip() or "_(Gloo returned an empty answer.)_"]
    lines += _sources_block(reply.sources)
    lines += _suggestions_block(reply.suggestions, "Suggested follow-ups (send one with continue_chat)")
    if reply.earlier_turns_omitted:
        turns = "turn was" if reply.earlier_turns_omitted == 1 else "turns were"
        lines += [
            "",
            f"_The conversation's {reply.earlier_turns_omitted:,} oldest {turns} not sent to the model, to fit its "
            "context window; get_chat_history still has them._",
        ]
    lines += [
        "",
        f"chat_id: `{reply.chat_id}` — pass it to continue_chat to ask a follow-up. "
        f"Transcript: resource `{chat_uri(reply.chat_id)}`.",
    ]
    return "\n".join(lines)


def _turn(message: ChatMessage) -> list[str]:
    who = {"user": "User", "assistant": "Gloo"}.get(message.role, message.role)
    when = f" · {message.timestamp:%Y-%m-%d %H:%M:%S} UTC" if message.timestamp else ""
    lines = ["", f"### {who}{when}", message.content.strip() or "_(empty)_"]
    lines += _sources_block(message.sources)
    lines += _suggestions_block(message.suggestions, "Suggested follow-ups")
    return lines


def history_markdown(history: ChatHistory) -> str:
    """A page of a conversation, oldest turn first, saying where the older messages are."""
    title = history.title or "Conversation"
    shown = len(history.messages)
    if history.has_more:
        first = history.first_index + 1
        extent = f"messages {first:,} to {history.first_index + shown:,} of {history.total_messages:,} (the newest)"
    else:
        extent = f"{shown} messages"
    lines = [f"## {title}", f"chat_id: `{history.chat_id}` · {extent}"]
    if history.has_more:
        lines += [f"_Older messages: call get_chat_history with cursor `{history.next_cursor}`._"]
    if not history.messages:
        lines += ["", "_Gloo returned no messages for this chat._"]
    for message in history.messages:
        lines += _turn(message)
    lines += ["", f"Continue with continue_chat(chat_id=`{history.chat_id}`). Resource: `{chat_uri(history.chat_id)}`."]
    return "\n".join(lines)


def chat_list_markdown(page: ChatList) -> str:
    """A page of conversations, most recently active first."""
    if not page.chats:
        return "No conversations found. send_message starts one."
    lines = ["**Conversations** (most recently active first)"]
    lines += [
        f"- `{chat.chat_id}` — {chat.title} ({chat.backend}; last active {chat.updated_at:%Y-%m-%d %H:%M} UTC)"
        for chat in page.chats
    ]
    if page.next_cursor:
        lines += ["", f"More: call list_chats with cursor `{page.next_cursor}`."]
    return "\n".join(lines)


def models_markdown(listing: ModelList) -> str:
    """The model catalogue as a list an agent can pick from."""
    if not listing.models:
        return "No models match."
    lines = ["**Models** (pass an id as model, or a family as model_family; Completions V2 only)"]
    for model in listing.models:
        extras = [x for x in (model.family, f"{model.context_window:,} tokens" if model.context_window else None) if x]
        lines.append(f"- `{model.id}` — {model.name or model.id}" + (f" ({', '.join(extras)})" if extras else ""))
    return "\n".join(lines)
