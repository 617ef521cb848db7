"""Events, the tracer that hands them out, and the Trace that keeps them. Only re-exports."""
from .events import Event
from .lanes import lane_order
from .recording import Trace
from .tracer import Tracer, wait_for_events

__all__ = ["Event", "Trace", "Tracer", "lane_order", "wait_for_events"]
