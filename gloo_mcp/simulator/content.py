"""Deterministic answers, sources and follow-ups for the simulator.

Everything here is invented for testing and demos and says so: answers open with a
simulator notice, and sources point at example.org. Nothing pretends to come from Gloo.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["CATALOGUE", "PUBLISHERS", "SIMULATOR_NOTICE", "answer_for", "sources_for", "suggestions_for"]

SIMULATOR_NOTICE = "[Simulated answer from the gloo-mcp simulator — not Gloo AI.]"

_THEMES: tuple[tuple[str, str], ...] = (
    (
        "meaning",
        "Many traditions hold that meaning is found less by escaping hardship than by facing it with others: "
        "naming what hurts, staying connected to people who care, and choosing small acts of service. "
        "Reflection, prayer or journaling can help you notice what still matters to you, and purpose often "
        "grows from the values a challenge brings into focus.",
    ),
    (
        "hope",
        "Hope is often described as a practice rather than a feeling: keeping routines that sustain you, "
        "remembering times you came through before, and letting a community carry you when you cannot carry "
        "yourself. Honest lament and gratitude can sit side by side.",
    ),
    (
        "relationships",
        "Healthy relationships rest on attention, forgiveness and shared purpose. Listening without rushing "
        "to fix, admitting your own part, and serving together can deepen trust over time.",
    ),
    (
        "work",
        "Work can be a place of calling when it serves others and uses your gifts. Boundaries, rest and "
        "mentors help keep ambition from crowding out the people and practices that sustain you.",
    ),
)

PUBLISHERS: tuple[str, ...] = ("Example Press", "Flourishing Lab (simulated)", "Sample Ministries")

CATALOGUE: tuple[dict[str, Any], ...] = tuple(
    {
        "item_id": f"i{index:04d}-sim",
        "item_title": title,
        "item_url": f"https://example.org/simulated/{slug}",
        "publisher_name": publisher,
        "snippets": [snippet],
        "type": "article",
        "certainty": round(0.95 - index * 0.05, 2),
    }
    for index, (title, slug, publisher, snippet) in enumerate(
        (
            (
                "Finding Purpose in Suffering",
                "purpose-in-suffering",
                "Example Press",
                "Purpose often emerges from the values a hardship brings into focus.",
            ),
            (
                "The Practice of Hope",
                "practice-of-hope",
                "Flourishing Lab (simulated)",
                "Hope behaves more like a habit than a mood.",
            ),
            (
                "Community in Hard Seasons",
                "community-hard-seasons",
                "Sample Ministries",
                "People recover meaning faster when they are not alone.",
            ),
            (
                "Lament and Gratitude",
                "lament-and-gratitude",
                "Example Press",
                "Honest grief and thankfulness can coexist.",
            ),
            (
                "Serving Others as a Path to Meaning",
                "serving-others",
                "Sample Ministries",
                "Small acts of service reconnect us to what matters.",
            ),
            (
                "Rest, Work and Calling",
                "rest-work-calling",
                "Flourishing Lab (simulated)",
                "Calling is sustained by rhythms of rest.",
            ),
            (
                "Forgiveness in Everyday Relationships",
                "everyday-forgiveness",
                "Example Press",
                "Forgiveness is a decision repeated over time.",
            ),
            (
                "Measuring Flourishing",
                "measuring-flourishing",
                "Flourishing Lab (simulated)",
                "Flourishing spans health, relationships, meaning and character.",
            ),
        ),
        start=1,
    )
)


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.strip().lower().encode()).digest()[:8], "big")


def _theme(query: str) -> tuple[str, str]:
    lowered = query.lower()
    for theme in _THEMES:
        if theme[0] in lowered:
            return theme
    return _THEMES[_digest(query) % len(_THEMES)]


def _truncate(text: str, limit: int) -> str:
    if limit <= 0 or len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:") + "…"


def answer_for(query: str, *, turn: int, character_limit: int) -> str:
    """The simulated answer to ``query`` as the ``turn``-th question of its chat."""
    topic, body = _theme(query)
    lead = f'You asked: "{query.strip()}".' if turn == 1 else f'Following up (question {turn}): "{query.strip()}".'
    return _truncate(f"{SIMULATOR_NOTICE} {lead} On {topic}: {body}", character_limit)


def sources_for(query: str, *, limit: int, publishers: list[str]) -> list[dict[str, Any]]:
    """Up to ``limit`` catalogue items, only from ``publishers`` when any are named, in a stable order."""
    pool = [item for item in CATALOGUE if not publishers or item["publisher_name"] in publishers]
    if not pool or limit <= 0:
        return []
    start = _digest(query) % len(pool)
    ordered = pool[start:] + pool[:start]
    return [dict(item) for item in ordered[:limit]]


_FOLLOW_UPS = (
    "What are practical first steps toward {topic} this week?",
    "How have others experienced {topic} in a difficult season?",
    "What does scripture say about {topic}?",
    "How can a community support {topic}?",
    "What habits help sustain {topic} over years?",
)


def suggestions_for(query: str, *, turn: int = 1) -> list[str]:
    """Three follow-up questions on the query's theme, moving on with each turn of the chat."""
    topic, _ = _theme(query)
    start = (turn - 1) * 3
    return [_FOLLOW_UPS[(start + i) % len(_FOLLOW_UPS)].format(topic=topic) for i in range(3)]
