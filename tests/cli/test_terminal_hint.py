"""The terminal hint names commands that work from where the user ran gloo-mcp (issue 20, item 5)."""

from __future__ import annotations

from gloo_mcp.cli.main import invoked_as, terminal_hint


def test_a_relative_path_is_repeated_as_typed() -> None:
    program = invoked_as(".venv/bin/gloo-mcp", [".venv/bin/python", ".venv/bin/gloo-mcp"], on_path=None)
    assert program == ".venv/bin/gloo-mcp"
    hint = terminal_hint(program)
    assert "`.venv/bin/gloo-mcp demo`" in hint and "@2.12.0 .venv/bin/gloo-mcp`" in hint


def test_the_command_found_on_path_is_named_bare() -> None:
    assert invoked_as("/opt/tools/bin/gloo-mcp", ["python", "/opt/tools/bin/gloo-mcp"], "/opt/tools/bin/gloo-mcp") == (
        "gloo-mcp"
    )


def test_another_gloo_mcp_on_path_means_the_full_path() -> None:
    assert invoked_as("/home/you/a/.venv/bin/gloo-mcp", ["python"], "/usr/bin/gloo-mcp") == (
        "/home/you/a/.venv/bin/gloo-mcp"
    )


def test_python_dash_m_is_named_with_the_interpreter_typed() -> None:
    program = invoked_as("/src/gloo_mcp/__main__.py", [".venv/bin/python", "-m", "gloo_mcp"], on_path=None)
    assert program == ".venv/bin/python -m gloo_mcp"
    assert "`.venv/bin/python -m gloo_mcp demo`" in terminal_hint(program)


def test_an_absolute_path_below_the_working_directory_is_named_relative_to_it() -> None:
    assert invoked_as("/home/you/gm/.venv/bin/gloo-mcp", ["python"], None, cwd="/home/you/gm") == ".venv/bin/gloo-mcp"
    assert invoked_as("/home/you/gm/gloo-mcp", ["python"], None, cwd="/home/you/gm") == "./gloo-mcp"
    assert invoked_as("/opt/gloo-mcp", ["python"], None, cwd="/home/you/gm") == "/opt/gloo-mcp"


def test_a_path_with_spaces_is_quoted_for_the_shell() -> None:
    assert invoked_as("/My Tools/gloo-mcp", ["python"], on_path=None) == "'/My Tools/gloo-mcp'"
