"""The real world: OS sockets, one selector engine thread, a named worker pool. Only re-exports."""
from .runtime import RealRuntime
from .thread_pool import ThreadPool

__all__ = ["RealRuntime", "ThreadPool"]
