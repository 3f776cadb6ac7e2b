"""Argument rules shared by every entry point, and one sentence for each way to break them.

The SDK validates a tool's arguments with pydantic and would hand the model a multi-line
dump with documentation links. :func:`argument_error` turns the first problem into one
sentence that names the argument, what was wrong, and what is allowed (read from the
tool's own input schema, so the sentence cannot drift from the schema hosts see).
Prompts, resource templates and argument completion take a ``chat_id`` as a plain
string; :func:`checked_chat_id` applies the tools' rule to them. The tools' parameters
are declared here too (bounds in the schema, descriptions as product copy).

Optional numbers and booleans are ``anyOf [type, null]`` in the schema, and some clients
(Inspector 0.15's CLI, smolagents/mcpadapt) convert an argument only where the schema has a
top-level ``type``, so they send ``"2"`` and ``"true"`` as text. Those two spellings, and only
those, are read as written (:func:`_number_from_digits`, :func:`_boolean_from_word`); the
schema stays strict, and every other text (``"2.5"``, ``" 2"``, ``"yes"``) or a boolean for a
number is still refused in one sentence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints, ValidationError

from gloo_mcp.config import CHARACTER_LIMIT_RANGE, SOURCES_LIMIT_RANGE
from gloo_mcp.errors import InvalidRequestError
from gloo_mcp.gloo.routing import ModelFamily, Tradition
from gloo_mcp.models import CHAT_ID_MAX_LENGTH, CHAT_ID_PATTERN, could_be_chat_id

__all__ = [
    "CHAT_ID_MAX_LENGTH",
    "CHAT_ID_PATTERN",
    "DEFAULT_PAGE_SIZE",
    "MAX_PUBLISHERS_TEXT",
    "MAX_QUERY_LENGTH",
    "AutoRouting",
    "CharacterLimit",
    "ChatId",
    "Cursor",
    "EnableSuggestions",
    "FamilyFilter",
    "HistoryCursor",
    "ModelFamilyInput",
    "ModelId",
    "PageSize",
    "Publishers",
    "QueryText",
    "SearchText",
    "SourcesLimit",
    "TraditionInput",
    "argument_error",
    "checked_chat_id",
    "could_be_chat_id",
]

_CHAT_ID_RULE = f"1 to {CHAT_ID_MAX_LENGTH} letters, digits, '.', '_', ':' or '-'"
_SHOWN_VALUE_LENGTH = 40


def checked_chat_id(raw: str) -> str:
    """``raw`` trimmed, if it obeys the tools' chat_id rule; else InvalidRequestError in one sentence."""
    text = raw.strip()
    if not could_be_chat_id(text):
        problem = "is empty" if not text else f"is {_shown(text)}"
        raise InvalidRequestError(
            f"chat_id {problem}, but it must be {_CHAT_ID_RULE}: the chat_id that send_message returned."
        )
    return text


def _shown(value: object) -> str:
    """A short, one-line rendering of a rejected value (never the whole of a huge one)."""
    if isinstance(value, str):
        kind = "the text"
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, bool):
        return "true" if value else "false"
    elif value is None:
        return "null"
    elif isinstance(value, int | float):
        return f"the number {value}"
    elif isinstance(value, list):
        return f"a list of {len(value)}"
    elif isinstance(value, Mapping):
        return "an object"
    else:
        kind, text = "a value", repr(value)
    if len(text) > _SHOWN_VALUE_LENGTH:
        return f'{kind} {text[: _SHOWN_VALUE_LENGTH - 1]}…" ({len(str(value)):,} characters)'
    return f"{kind} {text}"


def _allowed(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    """What a JSON-schema property accepts, in words (``defs``: the schema's ``$defs``)."""
    reference = schema.get("$ref")
    if isinstance(reference, str):
        schema = defs.get(reference.rpartition("/")[2], {})
    options = schema.get("anyOf")
    if isinstance(options, list):
        kinds = [_allowed(option, defs) for option in options if option.get("type") != "null"]
        nullable = any(option.get("type") == "null" for option in options)
        return " or ".join(kinds) + (", or null for the server default" if nullable else "")
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return f"a whole number from {low:,} to {high:,}"
        return "a whole number"
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        items = schema.get("items", {})
        most = schema.get("maxItems")
        limit = f" of at most {most}" if most is not None else ""
        return f"a list{limit} (each {_allowed(items, defs)})" if items else f"a list{limit}"
    if kind == "string":
        if schema.get("pattern") == CHAT_ID_PATTERN:
            return _CHAT_ID_RULE
        low, high = schema.get("minLength"), schema.get("maxLength")
        if low is not None and high is not None:
            return f"text of {low:,} to {high:,} characters"
        if high is not None:
            return f"text of at most {high:,} characters"
        return "text"
    return "a value of the documented type"


def _problem(error: Mapping[str, Any]) -> str:
    if error["type"] == "missing":
        return "is missing"
    value = error.get("input")
    if isinstance(value, str) and not value.strip():
        return "is empty"
    if isinstance(value, list) and not value:
        return "is an empty list"
    return f"is {_shown(value)}"


def argument_error(tool: str, error: ValidationError, input_schema: Mapping[str, Any] | None) -> str:
    """One sentence for the first problem ``error`` found in a call of ``tool``."""
    first = error.errors()[0]
    location = [part for part in first["loc"] if not (isinstance(part, str) and part.endswith("Arguments"))]
    name = str(location[0]) if location else "arguments"
    where = name + "".join(f"[{part}]" for part in location[1:])
    properties = (input_schema or {}).get("properties", {})
    defs = (input_schema or {}).get("$defs", {})
    schema = properties.get(name)
    if schema is None:
        return f"{tool}: {where} {_problem(first)}; check the arguments against the tool's input schema."
    if len(location) > 1 and isinstance(schema.get("anyOf"), list):
        schema = next((o for o in schema["anyOf"] if o.get("type") == "array"), schema)
    if len(location) > 1 and "items" in schema:
        schema = schema["items"]
    return f"{tool}: {where} {_problem(first)}, but it must be {_allowed(schema, defs)}."


# --- the tools' parameters ---------------------------------------------------------------

_MAX_DIGITS = 18  # more digits than any option's bound: left as text, refused like any other text


def _number_from_digits(value: object) -> object:
    """A string of ASCII digits as the whole number it spells; anything else unchanged (and strictly checked)."""
    if isinstance(value, str) and 0 < len(value) <= _MAX_DIGITS and value.isascii() and value.isdigit():
        return int(value)
    return value


def _boolean_from_word(value: object) -> object:
    """Exactly ``"true"`` or ``"false"`` as the boolean; anything else unchanged (and strictly checked)."""
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


_DIGITS_AS_TEXT = BeforeValidator(_number_from_digits)
_WORD_AS_TEXT = BeforeValidator(_boolean_from_word)

MAX_QUERY_LENGTH = 10_000
MAX_PUBLISHERS_TEXT = 50 * 200
QueryText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_LENGTH),
    Field(description="The question or message for Gloo, in plain language (1 to 10,000 characters)."),
]
ChatId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=CHAT_ID_MAX_LENGTH, pattern=CHAT_ID_PATTERN),
    Field(description="The chat_id returned by send_message (or an earlier continue_chat)."),
]
# strict: true or "2.5" is a mistake to report, not a number to guess (true once became a 1-character limit);
# only digits sent as text are read as the number they spell (clients that stringify optional numbers)
CharacterLimit = Annotated[
    int | None,
    Field(
        strict=True,
        ge=CHARACTER_LIMIT_RANGE[0],
        le=CHARACTER_LIMIT_RANGE[1],
        description='Longest answer, in characters (a number; digits as text, e.g. "500", work too). '
        "Omit for the server default (GLOO_CHARACTER_LIMIT).",
    ),
    _DIGITS_AS_TEXT,
]
SourcesLimit = Annotated[
    int | None,
    Field(
        strict=True,
        ge=SOURCES_LIMIT_RANGE[0],
        le=SOURCES_LIMIT_RANGE[1],
        description='Most sources to cite; 0 for none (a number; digits as text, e.g. "3", work too). '
        "Omit for the server default (GLOO_SOURCES_LIMIT).",
    ),
    _DIGITS_AS_TEXT,
]
Publishers = Annotated[
    list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] | None,
    Field(
        max_length=50,
        description="Only draw sources from these publishers (by name). Omit for the server default; [] for any.",
    ),
]
EnableSuggestions = Annotated[
    bool | None,
    Field(
        strict=True,
        description='Whether Gloo should suggest follow-up questions (true or false; "true" or "false" as text '
        "work too). Omit for the server default.",
    ),
    _WORD_AS_TEXT,
]

ModelId = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=200,
        description="Completions V2 only: a model id from list_models. Give at most one of model, model_family, "
        "auto_routing; with none, Gloo routes automatically.",
    ),
]
ModelFamilyInput = Annotated[
    ModelFamily | None, Field(description="Completions V2 only: let Gloo pick the best model of this family.")
]
AutoRouting = Annotated[
    bool | None,
    Field(
        strict=True,
        description='Completions V2 only: true lets Gloo pick the model (the default; "true" or "false" as text '
        "work too).",
    ),
    _WORD_AS_TEXT,
]
TraditionInput = Annotated[
    Tradition | None,
    Field(
        description="Completions V2 only: answer from this Christian tradition; not_faith_specific needs publishers. "
        "Omit for a general Christian view."
    ),
]
SearchText = Annotated[
    str | None,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Field(description="Only conversations whose title contains this text (any case), or with this exact chat_id."),
]
PageSize = Annotated[
    int | None,
    Field(
        strict=True,
        ge=1,
        le=100,
        description='Most conversations to return (1 to 100; default 20; digits as text, e.g. "50", work too).',
    ),
    _DIGITS_AS_TEXT,
]
DEFAULT_PAGE_SIZE = 20
Cursor = Annotated[
    str | None, Field(max_length=500, description="next_cursor from the previous page; omit for the newest.")
]
HistoryCursor = Annotated[
    str | None,
    Field(max_length=500, description="next_cursor from the previous page, for older messages; omit for the newest."),
]
FamilyFilter = Annotated[
    str | None, Field(max_length=50, description="Only models of this family, e.g. Anthropic or OpenAI.")
]
