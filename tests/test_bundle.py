"""The MCP Bundle: ``python -m bundle`` builds ``gloo-mcp.mcpb``, and it runs the way a host runs it.

The end-to-end test builds the bundle with the documented command, unpacks it as a host
installs it, resolves ``server.mcp_config`` with the toolchain's own
``getMcpConfigForManifest`` (the code Claude Desktop uses: ``${__dirname}``, the user's
``user_config`` values over the manifest's defaults), starts that command with the official
SDK's stdio client, lists the tools and sends a message to the simulator.

It needs Node.js/npm (the toolchain), uv (the bundle's runtime) and PyPI (uv installs the
locked dependencies); it takes tens of seconds on a cold cache, so it runs with ``-m load``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from bundle.build import MCPB_VERSION, mcpb_module, render_manifest
from gloo_mcp import __version__
from gloo_mcp.simulator import SimulatorState, running_simulator
from tests.conftest import TOOL_NAMES

ROOT = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT = 600.0  # npm install and uv lock on a cold cache
SERVER_TIMEOUT = 240.0  # the first start: uv creates the environment and installs the locked dependencies
PROMPT_NAMES = {"ask_gloo", "summarize_gloo_chat"}

# Variables a host's environment supplies; the manifest's env goes over them. Proxy and uv
# index settings pass through so uv reaches PyPI the way this machine does.
_PASSED_THROUGH = ("HOME", "LANG", "SYSTEMROOT", "SSL_CERT_FILE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


def _tool(name: str) -> str | None:
    """An executable next to this Python (an unactivated venv) or on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


@pytest.fixture(scope="module")
def bundle_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``gloo-mcp.mcpb`` built once by the documented command, into a temporary directory."""
    missing = [name for name in ("node", "npm") if _tool(name) is None]
    if missing:
        pytest.skip(f"building the bundle needs {' and '.join(missing)} (Node.js 20+): the toolchain comes from npm")
    if _tool("uv") is None:
        pytest.skip("the bundle runs under uv, which is not installed: pip install uv (the dev extra has it)")
    output = tmp_path_factory.mktemp("dist") / "gloo-mcp.mcpb"
    done = subprocess.run(
        [sys.executable, "-m", "bundle", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert output.is_file()
    return output


@pytest.fixture
def installed(bundle_file: Path, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """The bundle unpacked as a host installs it, and its manifest."""
    directory = tmp_path / "Claude Extensions" / "gloo-mcp"  # a space in the path, as on macOS and Windows
    with zipfile.ZipFile(bundle_file) as archive:
        archive.extractall(directory)
    manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
    return directory, manifest


@pytest.fixture
def live_sim() -> Iterator[tuple[SimulatorState, str]]:
    state = SimulatorState()
    with running_simulator(state) as url:
        yield state, url


def host_mcp_config(manifest_path: Path, directory: Path, user_config: dict[str, Any]) -> dict[str, Any]:
    """``mcp_config`` as Claude Desktop resolves it, by the toolchain's own ``getMcpConfigForManifest``."""
    script = (
        "const [module, manifestPath, directory, userConfig] = process.argv.slice(1);"
        "const { getMcpConfigForManifest } = await import(module);"
        "const { readFileSync } = await import('node:fs');"
        "const config = await getMcpConfigForManifest({"
        "  manifest: JSON.parse(readFileSync(manifestPath, 'utf8')), extensionPath: directory,"
        "  systemDirs: { HOME: process.env.HOME ?? '' }, userConfig: JSON.parse(userConfig), pathSeparator: '/' });"
        "process.stdout.write(JSON.stringify(config ?? null));"
    )
    node = _tool("node")
    assert node is not None
    done = subprocess.run(
        [
            node,
            "--input-type=module",
            "-e",
            script,
            mcpb_module("dist/shared/config.js").as_uri(),
            str(manifest_path),
            str(directory),
            json.dumps(user_config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    config: dict[str, Any] | None = json.loads(done.stdout)
    assert config is not None, "the host would not start the server: required configuration is missing"
    return config


def host_environment(config_env: dict[str, str], simulator_url: str) -> dict[str, str]:
    """The environment a host gives the server: its own basics, then the manifest's env over them."""
    uv = _tool("uv")
    assert uv is not None
    base = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
    base |= {key: value for key, value in os.environ.items() if key.startswith("UV_")}
    return (
        base
        | {
            "PATH": os.pathsep.join([str(Path(uv).parent), os.environ.get("PATH", "")]),  # the host provides uv
            # Test-only, not from the manifest: uv uses this Python rather than downloading one, the
            # conversation store goes to the tests' data directory, and Gloo is the simulator.
            "UV_PYTHON": sys.executable,
            "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"],
            "GLOO_BASE_URL": simulator_url,
        }
        | config_env
    )


def test_the_manifest_declares_what_the_server_serves_and_every_optional_setting_can_stay_blank() -> None:
    manifest = render_manifest()
    assert manifest["manifest_version"] == "0.4"
    assert manifest["server"]["type"] == "uv"
    assert {t["name"] for t in manifest["tools"]} == TOOL_NAMES
    assert {p["name"] for p in manifest["prompts"]} == PROMPT_NAMES
    assert manifest["compatibility"]["runtimes"]["python"] == ">=3.11"
    settings = manifest["user_config"]
    assert settings["api_key"]["sensitive"] is True and settings["client_secret"]["sensitive"] is True
    # A host substitutes a setting the user left empty only when it has a default; without one the
    # literal "${user_config.x}" would reach gloo-mcp as a value. Blank defaults read as unset.
    for key, setting in settings.items():
        assert setting.get("required", False) is False, key
        assert "default" in setting, key
    env = manifest["server"]["mcp_config"]["env"]
    assert set(env) == {"GLOO_API_KEY", "GLOO_CLIENT_ID", "GLOO_CLIENT_SECRET", "GLOO_BACKEND", "GLOO_PUBLISHERS"}
    assert {value.removeprefix("${user_config.").removesuffix("}") for value in env.values()} == set(settings)


@pytest.mark.load
def test_the_built_bundle_holds_a_valid_manifest_and_only_what_uv_runs(
    bundle_file: Path, installed: tuple[Path, dict[str, Any]]
) -> None:
    with zipfile.ZipFile(bundle_file) as archive:
        names = set(archive.namelist())
    assert {"manifest.json", "pyproject.toml", "uv.lock", "server/main.py", "server/gloo_mcp/cli/main.py"} <= names
    # The uv type forbids bundled packages; nothing compiled or cached travels either.
    assert not any(n.startswith(("server/lib/", "server/venv/", ".venv/")) or "__pycache__" in n for n in names)
    directory, manifest = installed
    assert manifest["version"] == __version__
    assert json.loads(mcpb_module("package.json").read_text())["version"] == MCPB_VERSION
    node = _tool("node")
    assert node is not None
    done = subprocess.run(
        [node, str(mcpb_module("dist/cli/cli.js")), "validate", str(directory / "manifest.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.load
@pytest.mark.parametrize("credentials", ["api_key", "client_credentials"])
async def test_the_unpacked_bundle_starts_as_a_host_starts_it_and_answers_from_the_simulator(
    installed: tuple[Path, dict[str, Any]], live_sim: tuple[SimulatorState, str], credentials: str
) -> None:
    directory, manifest = installed
    state, url = live_sim
    user_config = (
        {"api_key": state.api_key}
        if credentials == "api_key"
        else {"client_id": state.client_id, "client_secret": state.client_secret}
    )
    config = host_mcp_config(directory / "manifest.json", directory, user_config)
    assert "${" not in json.dumps(config), config  # every placeholder resolved, blanks included
    assert "GLOO_BASE_URL" not in config["env"]  # the manifest leaves Gloo's address at its default

    params = StdioServerParameters(
        command=config["command"],
        args=config["args"],
        env=host_environment(config["env"], url),
        cwd=directory.parent,  # hosts start servers from elsewhere: the args must not rely on the cwd
    )
    with anyio.fail_after(SERVER_TIMEOUT):
        async with Client(params) as client:
            tools = (await client.list_tools()).tools
            prompts = (await client.list_prompts()).prompts
            result = await client.call_tool("send_message", {"query": "Where does hope come from?"})

    assert {t.name for t in tools} == {t["name"] for t in manifest["tools"]} == TOOL_NAMES
    assert {p.name for p in prompts} == {p["name"] for p in manifest["prompts"]}
    assert not result.is_error, result.content
    assert result.structured_content is not None and result.structured_content["chat_id"]
    assert state.requests["message"] == 1
    assert state.requests["token"] == (1 if credentials == "client_credentials" else 0)
