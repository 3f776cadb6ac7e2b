"""The package's rooms and the one direction its imports may point (read from the source with ``ast``).

The order, from the ground up::

    ground      gloo_mcp (its __init__), errors, config, models, telemetry: shared data, settings,
                errors, and the metrics and spans every room records
    gloo        gloo_mcp.gloo: the Gloo API client
    chats       gloo_mcp.chats: backends, context window, follow-ups, store, paging
    access      gloo_mcp.access: principals, OAuth, fair use, audit
    server      gloo_mcp.server: the MCP face
    transports  gloo_mcp.transports: stdio, the HTTP app, uvicorn serving
    cli         gloo_mcp.cli and gloo_mcp.__main__: the commands

A module may import its own room and the rooms below it, never one above. Why this order:
each room is built from the more basic ones and is what the next one is built from. The
Gloo client knows only the ground, so it can be tested and replaced on its own, and returns
plain data; a conversation (who keeps it, how it is paged) is made of Gloo calls and a store;
deciding who may call and how much needs the store's notion of an owner, but never the MCP
face, which only asks it; the face wires all of them into tools; a transport serves a built
face; a command chooses settings and a transport. A change in a room can break only the rooms
above it, so the folder a change lands in says what it can break.

Telemetry is ground, not a room of its own: the Gloo client times its requests and token
fetches, fair use counts refusals and the face instruments its operations, so every room
records through it; it imports nothing of gloo-mcp but the ground.

The simulator stands beside the rooms, not in the order: it may import the ground, itself, and
``gloo_mcp.transports.serving`` (it runs on the same uvicorn serving, which imports nothing of
gloo-mcp); only the commands import it, so the server never depends on the fake Gloo.

Every import counts: module level, inside functions (the lazy ones of the cold start) and
under ``TYPE_CHECKING``. The graph of imports that run (all but ``TYPE_CHECKING`` ones) has no
cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gloo_mcp"
ROOMS = ("ground", "gloo", "chats", "access", "server", "transports", "cli")
RANK = {room: rank for rank, room in enumerate(ROOMS)}
SIMULATOR_MAY_IMPORT = {"gloo_mcp.transports.serving"}
MAX_FUNCTION_LINES = 120


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def room_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in {"errors", "config", "models", "telemetry"}:
        return "ground"
    if parts[1] == "__main__":
        return "cli"
    return parts[1]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, *, typing_only: bool = False) -> Iterator[tuple[str, int, bool]]:
    """(imported gloo_mcp module, line, whether only under TYPE_CHECKING) for every import in ``tree``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), typing_only=True)
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), typing_only=typing_only)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "gloo_mcp":
                    yield alias.name, node.lineno, typing_only
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "gloo_mcp":
                for alias in node.names:  # `from gloo_mcp.server import tools` imports the module tools
                    submodule = f"{node.module}.{alias.name}"
                    yield (submodule if submodule in MODULES else node.module), node.lineno, typing_only
        else:
            yield from _imports(node, typing_only=typing_only)


def _edges() -> Iterator[tuple[str, str, int, bool]]:
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for imported, line, typing_only in _imports(tree):
            yield module, imported, line, typing_only


def test_the_package_has_modules_in_every_room_and_few_flat_modules() -> None:
    assert {room_of(module) for module in MODULES} == set(ROOMS) | {"simulator"}
    flat = sorted(m for m, p in MODULES.items() if p.parent == PACKAGE)
    assert flat == [
        "gloo_mcp",
        "gloo_mcp.__main__",
        "gloo_mcp.config",
        "gloo_mcp.errors",
        "gloo_mcp.models",
        "gloo_mcp.telemetry",
    ]


def test_every_import_names_a_module_that_exists() -> None:
    missing = [
        f"{module}:{line} imports {imported}" for module, imported, line, _ in _edges() if imported not in MODULES
    ]
    assert missing == []


def test_the_gloo_client_imports_nothing_but_the_shared_ground() -> None:
    upward = [
        f"{module}:{line} imports {imported}"
        for module, imported, line, _ in _edges()
        if room_of(module) == "gloo" and room_of(imported) not in {"ground", "gloo"}
    ]
    assert upward == []


def test_no_module_imports_a_room_above_its_own() -> None:
    upward = [
        f"{module} ({room_of(module)}):{line} imports {imported} ({room_of(imported)})"
        for module, imported, line, _ in _edges()
        if room_of(module) in RANK and room_of(imported) in RANK and RANK[room_of(imported)] > RANK[room_of(module)]
    ]
    assert upward == []


def test_access_never_imports_the_mcp_face() -> None:
    assert [(m, i) for m, i, _, _ in _edges() if room_of(m) == "access" and room_of(i) == "server"] == []


def test_the_simulator_imports_only_the_ground_itself_and_the_uvicorn_serving() -> None:
    outside = [
        f"{module}:{line} imports {imported}"
        for module, imported, line, _ in _edges()
        if room_of(module) == "simulator"
        and room_of(imported) not in {"ground", "simulator"}
        and imported not in SIMULATOR_MAY_IMPORT
    ]
    assert outside == []


def test_only_the_commands_import_the_simulator() -> None:
    importers = {
        module
        for module, imported, _, _ in _edges()
        if room_of(imported) == "simulator" and room_of(module) != "simulator"
    }
    assert {room_of(module) for module in importers} <= {"cli"}


def test_the_imports_that_run_form_no_cycle() -> None:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module, imported, _, typing_only in _edges():
        if not typing_only and imported != module:
            graph[module].add(imported)
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert cycles == []


def test_no_function_in_the_package_is_longer_than_120_lines() -> None:
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert long == []
