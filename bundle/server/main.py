"""The bundle's entry point: ``uv run server/main.py`` serves gloo-mcp over stdio.

The ``gloo_mcp`` package sits beside this file, so Python finds it through the script's
directory whatever the working directory; uv supplies Python and the dependencies.
"""

from gloo_mcp.cli.main import main

if __name__ == "__main__":
    main()
