"""sockdemo: the .NET asynchronous server socket, re-created, traced and simulated.

Only re-exports. The pictures and widgets live in ``sockdemo.plots``,
``sockdemo.live`` and ``sockdemo.stepper`` and are imported from there, so
that the command line and the servers never pay for matplotlib or ipywidgets.
"""
from .apm_socket import SHUT_RD, SHUT_RDWR, SHUT_WR, Socket, format_endpoint
from .asyncresult import AsyncResult
from .clients import ClientResult, send
from .echo_server import EchoServer
from .encoding import ascii_get_bytes, ascii_get_string
from .errors import InvalidOperationError, ObjectDisposedError, ThreadInterrupted
from .events import Event
from .fixed_server import FixedServer
from .handle import SERVERS, ServerHandle, start_server
from .instrument import Tracer, wait_for_events
from .real_runtime import RealRuntime
from .reset_event import ManualResetEvent
from .scenarios import SCENARIOS, Client, Scenario
from .seed_server import SeedServer
from .sim_runtime import SimRuntime
from .simulator import Simulation, run_scenario
from .state_object import StateObject, StringBuilder
from .stepper_state import state_at
from .trace import Trace

__all__ = [
    "AsyncResult", "Client", "ClientResult", "EchoServer", "Event", "FixedServer",
    "InvalidOperationError", "ManualResetEvent", "ObjectDisposedError", "RealRuntime",
    "SCENARIOS", "SERVERS", "SHUT_RD", "SHUT_RDWR", "SHUT_WR", "Scenario", "SeedServer",
    "ServerHandle", "SimRuntime", "Simulation", "Socket", "StateObject", "StringBuilder",
    "ThreadInterrupted", "Trace", "Tracer", "ascii_get_bytes", "ascii_get_string",
    "format_endpoint", "run_scenario", "send", "start_server", "state_at", "wait_for_events",
]
