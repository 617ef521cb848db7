"""sockdemo: the .NET asynchronous server socket, re-created, traced and simulated.

Only re-exports. The pictures and widgets live in ``sockdemo.views.plots``,
``sockdemo.views.live`` and ``sockdemo.views.stepper`` and are imported from there, so
that the command line and the servers never pay for matplotlib or ipywidgets.
"""
from .apm.asyncresult import AsyncResult
from .apm.encoding import ascii_get_bytes, ascii_get_string
from .apm.errors import InvalidOperationError, ObjectDisposedError, ThreadInterrupted
from .apm.reset_event import ManualResetEvent
from .apm.socket import SHUT_RD, SHUT_RDWR, SHUT_WR, Socket, format_endpoint
from .apm.state_object import StateObject, StringBuilder
from .lab.clients import ClientResult, send
from .lab.handle import ServerHandle, main_waits, start_server
from .real.runtime import RealRuntime
from .servers.echo import EchoServer
from .servers.fixed import FixedServer
from .servers.registry import SERVERS
from .servers.seed import SeedServer
from .sim.runtime import SimRuntime
from .sim.scenarios import SCENARIOS, Client, Scenario
from .sim.simulation import Simulation, run_scenario
from .trace.events import Event
from .trace.recording import Trace
from .trace.tracer import Tracer, wait_for_events
from .views.stepper_state import state_at

__all__ = [
    "AsyncResult", "Client", "ClientResult", "EchoServer", "Event", "FixedServer",
    "InvalidOperationError", "ManualResetEvent", "ObjectDisposedError", "RealRuntime",
    "SCENARIOS", "SERVERS", "SHUT_RD", "SHUT_RDWR", "SHUT_WR", "Scenario", "SeedServer",
    "ServerHandle", "SimRuntime", "Simulation", "Socket", "StateObject", "StringBuilder",
    "ThreadInterrupted", "Trace", "Tracer", "ascii_get_bytes", "ascii_get_string",
    "format_endpoint", "main_waits", "run_scenario", "send", "start_server", "state_at",
    "wait_for_events",
]
