"""The package as PyPI and the MCP Registry see it: metadata, server.json, and the built wheel in a fresh venv.

The quick tests keep ``server.json``, ``pyproject.toml``, ``gloo_mcp.config`` and the README's
ownership marker in agreement: the registry checks them only at publish time, after a PyPI
version is spent. The load test builds the sdist and wheel, checks them as PyPI would
(``twine check --strict``), installs the wheel with its dependencies into a new virtualenv and
drives the installed ``gloo-mcp`` over stdio.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import typing
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from pydantic import SecretStr

from gloo_mcp import __version__
from gloo_mcp.config import _ENV_FIELDS, GUARD_VARIABLES, Settings, load_settings
from tests.conftest import TOOL_NAMES

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
SERVER_JSON: dict[str, Any] = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
NO_FILE = Path("/nonexistent/.env")

# Variables that only a Streamable HTTP deployment reads; a stdio host has no use for them.
HTTP_ONLY = GUARD_VARIABLES | {"GLOO_MCP_CALLS_PER_MINUTE", "GLOO_MCP_CALLS_IN_FLIGHT", "GLOO_MCP_SHARED_LIMITS"}

# The registry's server name pattern, and the characters that may continue a name (its mcpname.go).
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$")
NAME_CHAR = re.compile(r"[A-Za-z0-9._/-]")


def declares_mcp_name(text: str, name: str) -> bool:
    """Whether ``text`` holds ``mcp-name: <name>`` as a whole token, as the registry's PyPI check requires."""
    token = f"mcp-name: {name}"
    start = text.find(token)
    while start >= 0:
        rest = text[start + len(token) :]
        if not rest or not NAME_CHAR.match(rest[0]) or rest.startswith(("-->", "--!>")):
            return True
        start = text.find(token, start + 1)
    return False


def the_package() -> dict[str, Any]:
    [package] = SERVER_JSON["packages"]
    assert isinstance(package, dict)
    return package


def env_entries() -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in the_package()["environmentVariables"]}


def test_server_json_describes_the_pypi_package_pyproject_builds_at_the_same_version() -> None:
    package = the_package()
    assert SERVER_JSON["version"] == package["version"] == PYPROJECT["version"] == __version__
    assert package["registryType"] == "pypi" and package["identifier"] == PYPROJECT["name"]
    assert "registryBaseUrl" not in package  # the registry's default for pypi: the public index
    assert package["transport"] == {"type": "stdio"}
    assert NAME_PATTERN.match(SERVER_JSON["name"]) and SERVER_JSON["name"].endswith("/gloo-mcp")
    assert 1 <= len(SERVER_JSON["description"]) <= 100  # the registry refuses a longer one at publish time
    assert SERVER_JSON["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    assert SERVER_JSON["repository"] == {"url": PYPROJECT["urls"]["Repository"], "source": "github"}


def test_server_json_lists_exactly_the_variables_a_stdio_server_reads() -> None:
    listed = list(env_entries())
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    assert set(listed) <= set(_ENV_FIELDS), f"not read by gloo_mcp.config: {set(listed) - set(_ENV_FIELDS)}"
    assert set(listed) == set(_ENV_FIELDS) - HTTP_ONLY, "a new variable needs a server.json entry (or HTTP_ONLY)"


def test_server_json_marks_as_secret_exactly_the_settings_kept_as_secrets() -> None:
    for name, entry in env_entries().items():
        annotation = Settings.model_fields[_ENV_FIELDS[name]].annotation
        is_secret = annotation is SecretStr or SecretStr in typing.get_args(annotation)
        assert entry["isSecret"] is is_secret, name
        assert entry["isRequired"] is False, f"{name}: the server starts without it and says what to set"
        assert entry["description"].strip(), name


def test_server_json_defaults_and_choices_are_values_gloo_mcp_accepts_and_uses() -> None:
    built_in = Settings()
    for name, entry in env_entries().items():
        field = _ENV_FIELDS[name]
        if "default" in entry:
            # A host that writes the advertised default must get exactly what leaving it unset gives.
            assert getattr(load_settings({name: entry["default"]}, env_file=NO_FILE), field) == getattr(
                built_in, field
            ), name
        for choice in entry.get("choices", []):
            load_settings({name: choice}, env_file=NO_FILE)
        if "choices" in entry and "default" in entry:
            assert entry["default"] in entry["choices"], name


def test_readme_carries_the_registry_ownership_marker_for_the_server_json_name() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert declares_mcp_name(readme, SERVER_JSON["name"])
    assert PYPROJECT["readme"]["file"] == "README.md"  # the README is what PyPI publishes as the description


def test_the_ownership_check_refuses_a_longer_name_as_the_registry_does() -> None:
    assert declares_mcp_name("<!-- mcp-name: io.github.a/b -->", "io.github.a/b")
    assert declares_mcp_name("<!-- mcp-name: io.github.a/b-->", "io.github.a/b")
    assert not declares_mcp_name("mcp-name: io.github.a/b-pro", "io.github.a/b")
    assert not declares_mcp_name("mcp-name: io.github.a/c", "io.github.a/b")


def test_pyproject_metadata_is_complete_for_pypi() -> None:
    classifiers = set(PYPROJECT["classifiers"])
    minimum = PYPROJECT["requires-python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {minimum}" in classifiers
    assert {"Typing :: Typed", "Operating System :: OS Independent"} <= classifiers
    # PEP 639: the SPDX expression replaces license classifiers, which PyPI deprecates next to it.
    assert not any(c.startswith("License ::") for c in classifiers)
    assert PYPROJECT["license"] == "MIT" and (ROOT / "LICENSE").is_file()
    assert {"Homepage", "Documentation", "Repository", "Issues"} <= set(PYPROJECT["urls"])
    assert {"mcp", "model-context-protocol", "gloo"} <= set(PYPROJECT["keywords"])
    assert (ROOT / "gloo_mcp" / "py.typed").is_file()


def run(command: list[str], *, timeout: float, cwd: Path | None = None) -> str:
    """One bounded step; its output is shown when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)
    assert done.returncode == 0, (
        f"{command[:4]} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return done.stdout


def build_into(out: Path) -> tuple[Path, Path]:
    """The sdist, and the wheel built from that sdist (so the sdist must hold everything the wheel needs)."""
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], timeout=600)
    [sdist] = out.glob("gloo_mcp-*.tar.gz")
    [wheel] = out.glob("gloo_mcp-*.whl")
    return sdist, wheel


def check_contents(sdist: Path, wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = Parser().parsestr(archive.read(f"gloo_mcp-{__version__}.dist-info/METADATA").decode())
    assert {name.split("/")[0] for name in names} == {"gloo_mcp", f"gloo_mcp-{__version__}.dist-info"}
    assert "gloo_mcp/py.typed" in names and "gloo_mcp/simulator/__init__.py" in names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
    assert metadata["Name"] == "gloo-mcp" and metadata["Version"] == __version__
    assert metadata["License-Expression"] == "MIT"
    # What PyPI will publish as the description, and the registry will search for the marker.
    description = metadata.get_payload()
    assert isinstance(description, str) and declares_mcp_name(description, SERVER_JSON["name"])
    assert metadata["Description-Content-Type"] == "text/markdown"

    with tarfile.open(sdist) as archive:
        members = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    for required in ("README.md", "LICENSE", "pyproject.toml", "server.json", "gloo_mcp/py.typed", "tests/conftest.py"):
        assert required in members, required
    unwanted = {".venv", "dist", "build", "node_modules", ".ci", "__pycache__", ".hypothesis", ".git", ".env"}
    strays = sorted(member for member in members if unwanted & set(member.split("/")))
    assert not strays, strays


async def list_tools_over_stdio(command: Path, cwd: Path, data_home: Path) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    env["XDG_DATA_HOME"] = str(data_home)  # never the user's conversation store
    params = StdioServerParameters(command=str(command), args=[], env=env, cwd=str(cwd))
    with anyio.fail_after(60):
        async with Client(params) as client:
            result = await client.list_tools()
    return {tool.name for tool in result.tools}


@pytest.mark.load
async def test_the_built_wheel_passes_twine_installs_in_a_fresh_venv_and_serves_its_tools_over_stdio(
    tmp_path: Path,
) -> None:
    sdist, wheel = build_into(tmp_path / "dist")
    run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)], timeout=120)
    check_contents(sdist, wheel)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    bin_dir = venv / ("Scripts" if sys.platform == "win32" else "bin")
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], timeout=600)

    # Run from an empty directory: nothing from the checkout (no .env, no gloo_mcp/) can stand in.
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    gloo_mcp = bin_dir / "gloo-mcp"
    assert run([str(gloo_mcp), "--version"], timeout=60, cwd=empty).strip() == f"gloo-mcp {__version__}"
    located = run([str(bin_dir / "python"), "-c", "import gloo_mcp; print(gloo_mcp.__file__)"], timeout=60, cwd=empty)
    assert Path(located.strip()).is_relative_to(venv)
    assert await list_tools_over_stdio(gloo_mcp, empty, tmp_path / "data") == TOOL_NAMES
