"""``python -m gloo_mcp`` is the ``gloo-mcp`` command."""

from gloo_mcp.cli.main import main

if __name__ == "__main__":
    main()
