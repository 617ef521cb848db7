"""The simulated world: kernel, virtual network, scenarios, Simulation. Only re-exports."""
from .runtime import SimRuntime
from .scenarios import SCENARIOS, Client, Scenario
from .simulation import Simulation, run_scenario

__all__ = ["SCENARIOS", "Client", "Scenario", "SimRuntime", "Simulation", "run_scenario"]
