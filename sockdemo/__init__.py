"""sockdemo: the .NET asynchronous server socket, re-created, traced and simulated.

Only re-exports. The pictures and widgets live in ``sockdemo.views.plots``,
``sockdemo.views.live`` and ``sockdemo.views.stepper`` and are imported from there, so
that the command line and the servers never pay for matplotlib or ipywidgets.
"""
from .apm.socket import SHUT_RD, SHUT_RDWR, SHUT_WR, Socket, format_endpoint
from .apm.asyncresult import AsyncResult
from .lab.clients import ClientResult, send
from .servers.echo import EchoServer
from .apm.encoding import ascii_get_bytes, ascii_get_string
from .apm.errors import InvalidOperationError, ObjectDisposedError, ThreadInterrupted
from .trace.events import Event
from .servers.fixed import FixedServer
from .lab.handle import ServerHandle, start_server
from .servers.registry import SERVERS
from .trace.tracer import Tracer, wait_for_events
from .real.runtime import RealRuntime
from .apm.reset_event import ManualResetEvent
from .sim.scenarios import SCENARIOS, Client, Scenario
from .servers.seed import SeedServer
from .sim.runtime import SimRuntime
from .sim.simulation import Simulation, run_scenario
from .apm.state_object import StateObject, StringBuilder
from .views.stepper_state import state_at
from .trace.recording import Trace

__all__ = [
    "AsyncResult", "Client", "ClientResult", "EchoServer", "Event", "FixedServer",
    "InvalidOperationError", "ManualResetEvent", "ObjectDisposedError", "RealRuntime",
    "SCENARIOS", "SERVERS", "SHUT_RD", "SHUT_RDWR", "SHUT_WR", "Scenario", "SeedServer",
    "ServerHandle", "SimRuntime", "Simulation", "Socket", "StateObject", "StringBuilder",
    "ThreadInterrupted", "Trace", "Tracer", "ascii_get_bytes", "ascii_get_string",
    "format_endpoint", "run_scenario", "send", "start_server", "state_at", "wait_for_events",
]
