"""What of a Completions V2 conversation is sent to the model: the newest whole turns that fit a token budget.

V2 keeps nothing, so every turn resends the conversation; without a bound a long chat grows
past the model's context window and then fails on every turn. Each request therefore
carries the system line, the newest earlier turns whose estimated tokens fit the budget
(whole turns, oldest dropped first, never split), and the question.

The budget is ``GLOO_CONTEXT_BUDGET`` when set; else it comes from the routed model's
context window in Gloo's catalogue (less room for the answer, the question and a margin,
and at most half the window, since every turn pays for what it resends); else
:data:`DEFAULT_BUDGET`, which fits every model in the catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gloo_mcp.errors import GlooError, InvalidRequestError
from gloo_mcp.models import ChatMessage, ModelInfo

__all__ = [
    "DEFAULT_BUDGET",
    "budget_for",
    "estimate_tokens",
    "fit_newest_turns",
    "is_context_overflow",
    "smaller_budget",
]

DEFAULT_BUDGET = 8_000
"""Tokens of earlier turns when the model is not known (automatic routing): small enough for any model."""

_CHARS_PER_TOKEN = 3  # English averages about 4; 3 over-counts, so the estimate errs on the safe side
_MESSAGE_OVERHEAD = 4  # tokens a chat format spends on each message's role and separators
_MARGIN = 512
_OVERFLOW = re.compile(r"context (length|window)|too many tokens|prompt is too long|maximum .*tokens", re.IGNORECASE)


def estimate_tokens(text: str) -> int:
    """A deliberately high estimate of ``text``'s tokens, without a model-specific tokenizer."""
    return len(text) // _CHARS_PER_TOKEN + _MESSAGE_OVERHEAD


def budget_for(*, configured: int | None, model: ModelInfo | None, answer_characters: int, question: str) -> int:
    """Tokens that earlier turns may take in one request."""
    if configured is not None:
        return configured
    if model is None or not model.context_window:
        return DEFAULT_BUDGET
    reserved = answer_characters // _CHARS_PER_TOKEN + estimate_tokens(question) + _MARGIN
    return max(0, min(model.context_window // 2, model.context_window - reserved))


def smaller_budget(budget: int) -> int:
    """The budget for the one retry after Gloo said the conversation did not fit."""
    return budget // 4


def fit_newest_turns(messages: Sequence[ChatMessage], budget: int) -> tuple[list[ChatMessage], int]:
    """The newest whole turns of ``messages`` (oldest first) whose estimate fits ``budget``, and how many were left out.

    A turn is a user message with the answers that follow it; turns are kept or dropped
    whole, newest first, so the model never sees an answer without its question.
    """
    turns: list[list[ChatMessage]] = []
    for message in messages:
        if message.role == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    kept: list[list[ChatMessage]] = []
    used = 0
    for turn in reversed(turns):
        cost = sum(estimate_tokens(m.content) for m in turn)
        if used + cost > budget or turn[0].role != "user":  # an answer whose question is not here is not sent
            break
        kept.append(turn)
        used += cost
    return [m for turn in reversed(kept) for m in turn], len(turns) - len(kept)


def is_context_overflow(error: GlooError) -> bool:
    """Whether Gloo rejected a request because the conversation did not fit the model (nothing was recorded)."""
    return isinstance(error, InvalidRequestError) and _OVERFLOW.search(error.message) is not None
