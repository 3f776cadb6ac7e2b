"""Suggested follow-up questions on Completions V2, which (unlike the Message API) suggests none itself.

A second, short completion asks for three follow-ups to the question in its conversation.
It runs *beside* the answer, not after it: it needs the question, not the answer, so the
answer is never delayed by it, and a reply waits for suggestions at most
:data:`GRACE_SECONDS` after its answer is complete (docs/performance.md measures the cost).
Its text never reaches progress notifications, and any failure of it (an error, a time-out,
an unusable reply) only costs the suggestions, never the answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from gloo_mcp.errors import GlooError
from gloo_mcp.gloo.client import GlooClient
from gloo_mcp.gloo.completions import complete
from gloo_mcp.gloo.routing import Routing

__all__ = ["GRACE_SECONDS", "INSTRUCTION", "SUGGESTIONS", "parse_follow_ups", "suggest_follow_ups"]

logger = logging.getLogger(__name__)

SUGGESTIONS = 3
GRACE_SECONDS = 3.0
"""How long a finished answer waits for its suggestions before it is handed over without them."""

INSTRUCTION = (
    "Suggest exactly three short follow-up questions the user could ask next in this conversation. "
    "Write them in the user's voice, each under 120 characters and ending with a question mark, "
    "one per line, with nothing else."
)
_CONTEXT_TURNS = 2  # the newest earlier turns shown to the suggester: enough for the thread, cheap to send
_LIST_MARKER = re.compile(r"^\s*(?:[-*•]|\d+[.)]|Q\d*:)\s*")
_LONGEST = 200


def parse_follow_ups(text: str) -> list[str]:
    """The questions in a suggester's reply: one per line, list markers and quotes stripped, at most three."""
    questions: list[str] = []
    for line in text.splitlines():
        question = _LIST_MARKER.sub("", line).strip().strip('"“”').strip()
        if question.endswith("?") and len(question) <= _LONGEST and question not in questions:
            questions.append(question)
    return questions[:SUGGESTIONS]


async def suggest_follow_ups(
    client: GlooClient, earlier: Sequence[Mapping[str, str]], question: str, *, routing: Routing
) -> list[str]:
    """Up to three follow-up questions for ``question`` after ``earlier`` turns; [] if none could be had."""
    tail = [m for m in earlier if m["role"] in ("user", "assistant")][-2 * _CONTEXT_TURNS :]
    messages = [{"role": "system", "content": INSTRUCTION}, *tail, {"role": "user", "content": question}]
    try:
        # the same model, without a tradition (not_faith_specific needs grounding this call does not have)
        completion = await complete(client, messages, routing=replace(routing, tradition=None))
    except GlooError as error:
        logger.info("no follow-up suggestions: %s", error.message)
        return []
    return parse_follow_ups(completion.content)
