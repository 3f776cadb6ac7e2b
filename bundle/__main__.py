"""``python -m bundle`` (from the repository root) writes ``dist/gloo-mcp.mcpb``."""

import sys

from bundle.build import main

if __name__ == "__main__":
    sys.exit(main())
