"""The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in tests/conformance/)
against gloo-mcp's HTTP server, at both protocol eras.

The baselines list only scenarios and checks that need the suite's reference fixture
tools, prompts and resources (``test_image_content``, ``slow_compute``, ``test://static-text``
…), each with its reason; everything else must pass, the generic Tasks checks included.
A baseline entry that starts passing fails the run too (the suite calls it stale).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gloo_mcp.simulator import SimulatorState
from tests.test_http import running_http

pytestmark = pytest.mark.load  # a Node program and ~200 scenarios: with the end-to-end runs

SUITE = Path(__file__).parent / "conformance"
CONFORMANCE = SUITE / "node_modules" / ".bin" / "conformance"
GENERIC_TASK_CHECKS = {
    "tasks-extension-advertised",
    "sep-2663-tasks-methods-non-declaring",
    "sep-2663-tasks-get-invalid-task-id-32602",
}


def _checks(output: Path) -> dict[str, str]:
    """Every check the run wrote, by id, with its status."""
    statuses: dict[str, str] = {}
    for path in output.rglob("checks.json"):
        for check in json.loads(path.read_text()):
            statuses[check["id"]] = check["status"]
    return statuses


@pytest.mark.parametrize("revision", ["2026-07-28", "2025-11-25"])
def test_the_official_conformance_suite_passes_every_applicable_check(
    sim: SimulatorState, tmp_path: Path, revision: str
) -> None:
    if not CONFORMANCE.exists() or shutil.which("node") is None:
        pytest.skip("the conformance suite is not installed: npm ci --prefix tests/conformance (.ci/run does it)")
    baseline = SUITE / f"expected-failures-{revision}.yml"
    output = tmp_path / "results"
    with running_http(sim) as url:
        run = subprocess.run(
            [
                str(CONFORMANCE),
                "server",
                "--url",
                url,
                "--requirements",
                revision,
                "-o",
                str(output),
                "--expected-failures",
                str(baseline),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env=os.environ | {"NO_COLOR": "1"},
            cwd=SUITE,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    if revision == "2026-07-28":
        statuses = _checks(output)
        assert {check: statuses.get(check) for check in GENERIC_TASK_CHECKS} == dict.fromkeys(
            GENERIC_TASK_CHECKS, "SUCCESS"
        )
