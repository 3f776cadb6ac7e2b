"""On Python 3.10 the project says what it needs, not pip's or the interpreter's error (issue 20, item 7)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEEDS = "gloo-mcp needs Python 3.11 or newer"


def as_if_on_python_3_10(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m MODULE ARGS`` with ``sys.version_info`` reading 3.10.13, as an older interpreter's would."""
    code = (
        "import runpy, sys; sys.version_info = (3, 10, 13, 'final', 0); "
        f"sys.argv[1:] = {list(args)!r}; runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("module", ["gloo_mcp", "bundle"])
def test_python_dash_m_on_3_10_says_which_python_it_needs(module: str) -> None:
    done = as_if_on_python_3_10(module, "--version")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == f"{NEEDS}; this is Python 3.10.13."


def test_the_bundles_entry_point_says_it_too() -> None:
    code = (ROOT / "bundle" / "server" / "main.py").read_text(encoding="utf-8")
    assert NEEDS in code and code.index("version_info") < code.index("from gloo_mcp")


def test_the_readme_says_it_before_the_first_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.index(NEEDS) < readme.index("```bash")
