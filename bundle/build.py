"""Build ``dist/gloo-mcp.mcpb``, the MCP Bundle Claude Desktop installs in one click.

Steps: read the tools and prompts from the real server (in process, no network), fill in
``manifest.template.json``, stage the bundle (manifest, ``server/main.py``, the ``gloo_mcp``
package, a ``pyproject.toml`` with the runtime dependencies and the ``uv.lock`` that pins
them), then validate and pack it with the pinned bundle toolchain from npm.

Raises :class:`BuildError` (one sentence) when a tool it needs is missing or a step fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

__all__ = [
    "MCPB_VERSION",
    "OUTPUT",
    "ROOT",
    "TOOLCHAIN",
    "BuildError",
    "build",
    "install_toolchain",
    "mcpb_module",
    "render_manifest",
]

MCPB_VERSION = "2.1.2"
"""The ``@anthropic-ai/mcpb`` release that validates and packs (its newest manifest version is 0.4)."""

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "bundle"
OUTPUT = ROOT / "dist" / "gloo-mcp.mcpb"
TOOLCHAIN = ROOT / "build" / "mcpb-toolchain"
"""npm prefix the toolchain is installed into once (build/ is ignored by git)."""

_STEP_TIMEOUT = 300.0  # seconds for one npm install, uv lock, validate or pack
_PACKAGE_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")


class BuildError(Exception):
    """A build step could not run or failed; the message says which and what to do."""


def _say(line: str) -> None:
    sys.stderr.write(f"bundle: {line}\n")


def _run(command: list[str], what: str, *, cwd: Path | None = None) -> str:
    """Run one step, bounded in time; its output is shown only when it fails."""
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=_STEP_TIMEOUT, check=False)
    except FileNotFoundError:
        raise BuildError(f"{what}: {command[0]} is not installed.") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"{what} took longer than {_STEP_TIMEOUT:.0f} s.") from None
    if done.returncode != 0:
        raise BuildError(f"{what} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def _executable(name: str, hint: str) -> str:
    """``name`` next to this Python first (an unactivated venv's bin), then on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else shutil.which(name)
    if found is None:
        raise BuildError(f"{name} is not installed: {hint}")
    return found


def mcpb_module(path: str) -> Path:
    """A file of the installed toolchain, e.g. ``dist/cli/cli.js``."""
    return TOOLCHAIN / "node_modules" / "@anthropic-ai" / "mcpb" / path


def install_toolchain() -> Path:
    """``@anthropic-ai/mcpb@MCPB_VERSION`` under ``build/``, installed from npm unless already there."""
    package = mcpb_module("package.json")
    if package.is_file() and json.loads(package.read_text())["version"] == MCPB_VERSION:
        return mcpb_module("dist/cli/cli.js")
    npm = _executable("npm", "install Node.js 20+ (it brings npm).")
    _say(f"installing @anthropic-ai/mcpb@{MCPB_VERSION} into {TOOLCHAIN.relative_to(ROOT)}")
    TOOLCHAIN.mkdir(parents=True, exist_ok=True)
    package_spec = f"@anthropic-ai/mcpb@{MCPB_VERSION}"
    command = [npm, "install", "--prefix", str(TOOLCHAIN), "--no-audit", "--no-fund", "--silent", package_spec]
    _run(command, f"npm install {package_spec}")
    return mcpb_module("dist/cli/cli.js")


async def _capabilities() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The server's tools and prompts, as an MCP client lists them (in process, without credentials)."""
    from mcp import Client

    from gloo_mcp.config import Settings
    from gloo_mcp.server import build_server

    async with Client(build_server(Settings())) as client:
        tools = (await client.list_tools()).tools
        prompts = (await client.list_prompts()).prompts
    declared_tools: list[dict[str, Any]] = []
    for tool in tools:  # the description's first paragraph: what the install dialog shows
        summary = (tool.description or tool.title or "").split("\n\n")[0].replace("\n", " ")
        declared_tools.append({"name": tool.name, "description": summary})
    declared_prompts: list[dict[str, Any]] = []
    for prompt in prompts:
        arguments = [argument.name for argument in prompt.arguments or []]
        declared_prompts.append(
            {"name": prompt.name, "description": prompt.description or prompt.title or "", "arguments": arguments}
        )
    return declared_tools, declared_prompts


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def render_manifest() -> dict[str, Any]:
    """``manifest.json``: the template with the package's version, Python range, tools and prompts.

    Prompt texts live in the template (a prompt's text there is what the manifest shows, the
    server renders the real one); a prompt the server has and the template lacks, or the
    reverse, stops the build, as does a template text that leaves out one of its arguments.
    """
    import anyio

    from gloo_mcp import __version__

    project = _project()
    if project["version"] != __version__:
        raise BuildError(f"pyproject.toml says {project['version']} but gloo_mcp.__version__ is {__version__}.")
    manifest: dict[str, Any] = json.loads((HERE / "manifest.template.json").read_text())
    tools, prompts = anyio.run(_capabilities)
    texts = {p["name"]: p["text"] for p in manifest["prompts"]}
    if set(texts) != {p["name"] for p in prompts}:
        raise BuildError(
            f"manifest.template.json has texts for prompts {sorted(texts)} but the server has "
            f"{sorted(p['name'] for p in prompts)}; give every prompt a text."
        )
    for prompt in prompts:
        prompt["text"] = texts[prompt["name"]]
        missing = [a for a in prompt["arguments"] if f"${{arguments.{a}}}" not in prompt["text"]]
        if missing:
            raise BuildError(f"the text of prompt {prompt['name']} never uses argument(s) {missing}.")
    manifest["version"] = __version__
    _add_project_links(manifest, project)
    manifest["tools"] = tools
    manifest["prompts"] = prompts
    manifest["compatibility"]["runtimes"]["python"] = project["requires-python"]
    return manifest


def _add_project_links(manifest: dict[str, Any], project: dict[str, Any]) -> None:
    """Author and links from the package metadata, where pyproject.toml has them."""
    authors = project.get("authors") or []
    if authors and authors[0].get("name"):
        manifest["author"] = {"name": authors[0]["name"]}
    urls: dict[str, str] = project.get("urls") or {}
    if "Repository" in urls:
        manifest["repository"] = {"type": "git", "url": urls["Repository"]}
    if "Homepage" in urls:
        manifest["homepage"] = urls["Homepage"]
    if "Issues" in urls:
        manifest["support"] = urls["Issues"]


def _bundle_pyproject(project: dict[str, Any]) -> str:
    """What uv installs for the bundle: gloo-mcp's runtime dependencies, and no build of a package."""
    dependencies = "".join(f"    {json.dumps(d)},\n" for d in project["dependencies"])
    return (
        "# Generated by `python -m bundle` from gloo-mcp's pyproject.toml: the environment uv makes for the bundle.\n"
        "[project]\n"
        f'name = "gloo-mcp-bundle"\n'
        f"version = {json.dumps(project['version'])}\n"
        f"description = {json.dumps(project['description'])}\n"
        f"requires-python = {json.dumps(project['requires-python'])}\n"
        f"dependencies = [\n{dependencies}]\n"
        "\n"
        "[tool.uv]\n"
        "# server/main.py imports gloo_mcp from beside it: nothing to build or install but the dependencies.\n"
        "package = false\n"
    )


def _stage(into: Path, manifest: dict[str, Any], uv: str) -> None:
    server = into / "server"
    shutil.copytree(ROOT / "gloo_mcp", server / "gloo_mcp", ignore=_PACKAGE_IGNORE)
    shutil.copy2(HERE / "server" / "main.py", server / "main.py")
    if (ROOT / "LICENSE").is_file():
        shutil.copy2(ROOT / "LICENSE", into / "LICENSE")
    (into / "pyproject.toml").write_text(_bundle_pyproject(_project()))
    (into / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    _run([uv, "lock", "--quiet", "--directory", str(into)], "uv lock")


def build(output: Path = OUTPUT) -> Path:
    """Validate and pack the bundle into ``output``; returns its path."""
    node = _executable("node", "install Node.js 20+.")
    uv = _executable("uv", "pip install uv (it is in the dev extra).")
    cli = install_toolchain()
    manifest = render_manifest()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gloo-mcp-bundle-") as work:
        stage = Path(work) / "gloo-mcp"
        _stage(stage, manifest, uv)
        _run([node, str(cli), "validate", str(stage / "manifest.json")], "mcpb validate")
        output.unlink(missing_ok=True)
        _run([node, str(cli), "pack", str(stage), str(output)], "mcpb pack")
    if not output.is_file():
        raise BuildError(f"mcpb pack reported success but wrote no {output}.")
    size = output.stat().st_size // 1024
    server_type, manifest_version = manifest["server"]["type"], manifest["manifest_version"]
    _say(f"wrote {output} ({size} KiB; manifest {manifest_version}, server type {server_type}, {manifest['version']})")
    return output


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bundle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"where to write the bundle (default {OUTPUT})")
    args = parser.parse_args(argv)
    try:
        build(args.output.resolve())
    except BuildError as error:
        _say(f"error: {error}")
        return 1
    return 0
