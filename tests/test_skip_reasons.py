"""A skipped test says why in the suite's default output, so a skip is never silent (issue 20, item 7)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_default_options_print_each_skip_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "test_one_skip.py").write_text(
        "import pytest\n\n\ndef test_needs_something() -> None:\n    pytest.skip('no frobnicator on this machine')\n"
    )
    options = ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), "-n", "0", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *options, str(tmp_path / "test_one_skip.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SKIPPED" in done.stdout and "no frobnicator on this machine" in done.stdout
