"""The agent example says which extra a real model needs instead of a traceback (issue 20, item 8)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "agent_conversation.py"


@pytest.mark.skipif(importlib.util.find_spec("openai") is not None, reason="the openai package is installed here")
def test_an_openai_model_without_the_openai_package_names_the_extra_to_install() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--model", "openai:gpt-5"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert 'pip install "pydantic-ai-slim[openai]"' in done.stderr and "openai:gpt-5" in done.stderr
    assert "simulator" not in done.stdout  # it stopped before starting anything


def test_the_example_and_the_readme_name_the_extra() -> None:
    readme = (EXAMPLE.parent.parent / "README.md").read_text(encoding="utf-8")
    assert "pydantic-ai-slim[openai]" in EXAMPLE.read_text(encoding="utf-8") and "pydantic-ai-slim[openai]" in readme
