"""A local Gloo: the same HTTP contract on loopback, with deterministic answers and fault injection.

It exists for tests and demos and says so in every answer. The MCP server never imports it.
"""

from gloo_mcp.simulator.app import create_app
from gloo_mcp.simulator.runner import running_simulator
from gloo_mcp.simulator.state import Fault, SimulatorState

__all__ = ["Fault", "SimulatorState", "create_app", "running_simulator"]
