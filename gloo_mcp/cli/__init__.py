"""The ``gloo-mcp`` command (``gloo_mcp.cli.main``) and its subcommands: check, demo, host configuration."""
