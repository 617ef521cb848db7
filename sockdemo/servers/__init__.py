"""The servers, written once in the sample's own shape: seed (the page), fixed, echo,
and the asyncio twin. Only re-exports."""
from .echo import EchoServer
from .fixed import FixedServer
from .seed import SeedServer

__all__ = ["EchoServer", "FixedServer", "SeedServer"]
