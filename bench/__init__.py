"""Load and performance runs for gloo-mcp (loopback only, bounded in count and time)."""
