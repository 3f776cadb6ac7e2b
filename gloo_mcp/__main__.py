"""``python -m gloo_mcp`` is the ``gloo-mcp`` command."""

import sys

if sys.version_info < (3, 11):  # noqa: UP036  # before anything that needs 3.11: one sentence, not a traceback
    sys.exit(f"gloo-mcp needs Python 3.11 or newer; this is Python {'.'.join(map(str, sys.version_info[:3]))}.")

from gloo_mcp.cli.main import main

if __name__ == "__main__":
    main()
