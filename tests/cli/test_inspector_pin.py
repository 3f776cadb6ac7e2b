"""Wherever gloo-mcp names the MCP Inspector, it names the release that works on Node 20 (issue 20, item 1).

An unpinned ``npx @modelcontextprotocol/inspector`` can resolve to 0.15.0 on Node 20, which sends
``--tool-arg`` numbers as text and has no ``--header``.
"""

from __future__ import annotations

import re
from pathlib import Path

from gloo_mcp.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
PINNED = "@modelcontextprotocol/inspector@2.12.0"
NAMED = re.compile(r"npx(?: -y)? (@modelcontextprotocol/inspector\S*)")


def test_every_inspector_command_in_the_readme_is_pinned_to_the_release_that_works_on_node_20() -> None:
    commands = NAMED.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert commands, "the README no longer shows the Inspector"
    assert {spec.rstrip("`") for spec in commands} == {PINNED}


def test_the_terminal_hint_names_the_pinned_inspector() -> None:
    assert f"npx -y {PINNED} " in cli_main.terminal_hint()
