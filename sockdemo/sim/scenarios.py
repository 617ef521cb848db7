"""Scenarios: who connects when, sends what, and how the server is set up.

Mirrors no .NET piece; it is the script of a simulated run. A ``Scenario`` is
plain frozen data (easy to read in a notebook, easy to vary with
``scenario.with_(seed=3)``), and ``SCENARIOS`` is the named library the
lessons and ``python -m sockdemo demo --sim --scenario NAME`` use.

A ``Client`` connects at ``at`` seconds, writes each piece after its delay,
then ends in one of four ways:

- ``close``: half-close (``shutdown(SHUT_WR)``) and read until the server closes;
- ``eof``:   read until the server closes (its pieces should carry ``<EOF>``);
  with ``timeout``, half-close after that long and keep reading (the companion
  client against the seed server);
- ``reset``: abort the connection (an RST: the server's receive fails);
- ``idle``:  do nothing more, holding the connection open.

Times are in seconds (virtual); bytes or str (UTF-8) for the pieces.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping, Optional, Union

from ..servers.broken import ForgetfulServer, SleepyServer
from ..servers.registry import server_class

__all__ = ["Client", "Scenario", "SCENARIOS", "get_scenario", "describe", "COMPANION_MESSAGE"]

COMPANION_MESSAGE = b"This is a test<EOF>"
ENDS = ("close", "eof", "reset", "idle")

Data = Union[bytes, str]


def _bytes(piece: Data) -> bytes:
    return piece.encode("utf-8") if isinstance(piece, str) else bytes(piece)


@dataclass(frozen=True)
class Client:
    sends: tuple = ()                 # ((delay_s, bytes), ...): the pieces and the pause before each
    at: float = 0.0                   # when it connects
    end: str = "close"                # close | eof | reset | idle
    timeout: Optional[float] = None   # eof only: half-close after this long without the server closing

    def __post_init__(self):
        if self.end not in ENDS:
            raise ValueError(f"end must be one of {', '.join(ENDS)}, not {self.end!r}")
        object.__setattr__(self, "sends", tuple((float(d), _bytes(p)) for d, p in self.sends))

    @classmethod
    def pieces(cls, *pieces: Data, gap: float = 0.0, at: float = 0.0, end: str = "close",
               timeout: Optional[float] = None) -> "Client":
        """Write ``pieces`` one after another, ``gap`` seconds apart."""
        return cls(tuple((gap if i else 0.0, p) for i, p in enumerate(pieces)), at, end, timeout)

    @classmethod
    def text(cls, text: Data, chunk: Optional[int] = None, gap: float = 0.0, **kw) -> "Client":
        """Write ``text`` whole, or in ``chunk``-byte pieces ``gap`` seconds apart."""
        data = _bytes(text)
        if not chunk:
            return cls.pieces(data, gap=gap, **kw)
        return cls.pieces(*(data[i:i + chunk] for i in range(0, len(data), chunk)), gap=gap, **kw)

    @property
    def data(self) -> bytes:
        return b"".join(p for _, p in self.sends)


@dataclass(frozen=True)
class Scenario:
    clients: tuple = ()
    description: str = ""
    mode: str = "seed"                 # seed | fixed | echo
    server: Optional[type] = None      # a server class instead of the mode's
    server_options: Mapping = field(default_factory=dict)
    latency: float = 100e-6            # one way, seconds
    cpu: float = 10e-6                 # virtual time each runtime call costs a thread
    pool: int = 2                      # the pool's minimum size
    inject: bool = False               # add a worker after 500 ms of starvation
    rcvbuf: Optional[int] = None       # the socket's receive buffer: one receive returns at most this
    seed: int = 0
    backlog: int = 10
    host: str = "127.0.0.1"
    port: int = 11000
    dotnet: str = "framework"         # which .NET to behave as: "framework" (the page) or "modern"
    unhandled: str = "record"
    name: str = ""

    def __post_init__(self):
        object.__setattr__(self, "clients", tuple(self.clients))
        object.__setattr__(self, "server_options", dict(self.server_options))

    def with_(self, **changes) -> "Scenario":
        return dataclasses.replace(self, **changes)

    def server_class(self) -> type:
        return self.server or server_class(self.mode)


# -- the library ----------------------------------------------------------------

_C = Client

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario(name="one_client", description="one client sends one line, then half-closes",
             clients=(_C.text("Hello, server!"),)),
    Scenario(name="two_clients", description="two clients write in pieces at the same time: their callbacks interleave",
             clients=(_C.text("first client here", chunk=6, gap=0.0002),
                      _C.text("second client, hi", chunk=6, gap=0.0002))),
    Scenario(name="three_clients", description="three clients one after another, distinct texts (real "
                                               "clients can do this too)",
             clients=(_C.text("alpha says hello"), _C.text("bravo says hi", at=0.01),
                      _C.text("charlie says hey", at=0.02))),
    Scenario(name="split_message", description="one message written in 4 pieces, 1 ms apart: 4 receives",
             clients=(_C.text("a message in four parts", chunk=6, gap=0.001),)),
    Scenario(name="coalesced", description="three writes 1 us apart reach a busy server: fewer receives than writes",
             clients=(_C.pieces("one ", "two ", "three", gap=1e-6),)),
    Scenario(name="long_message", description="a 3000-byte message: the 1024-byte buffer splits it",
             clients=(_C.text("x" * 3000),)),
    Scenario(name="utf8_split", description="'café!' with the 'é' split across two writes (and two receives)",
             clients=(_C.pieces(b"caf\xc3", b"\xa9!", gap=0.001),)),
    Scenario(name="one_byte", description="a 1-byte message: the seed server drops it silently (> 1)",
             clients=(_C.text("x"),)),
    Scenario(name="idle_client", description="a client connects, writes, and never finishes: no timeout "
                                             "frees the connection",
             clients=(_C.text("hello?", end="idle"),)),
    Scenario(name="reset_mid_message", description="a client resets in the middle of a message: end_receive raises",
             clients=(_C.pieces("half a mess", gap=0.0, end="reset"),)),
    Scenario(name="starved_pool", description="ReadCallback sleeps 2 s on a 1-thread pool: three clients "
                                              "queue behind it",
             server=SleepyServer, pool=1,
             clients=tuple(_C.text(f"client {i} waiting") for i in range(1, 4))),
    Scenario(name="starved_pool_injected", description="the same starvation, with the pool adding a thread after "
                                                       "500 ms",
             server=SleepyServer, pool=1, inject=True,
             clients=tuple(_C.text(f"client {i} waiting") for i in range(1, 4))),
    Scenario(name="forgotten_set", description="the accept callback forgets allDone.Set(): the second "
                                               "client is never accepted",
             server=ForgetfulServer,
             clients=(_C.text("first"), _C.text("second", at=0.001))),
    Scenario(name="companion_vs_seed", description="the companion client waits for an echo the seed server "
                                                   "never sends; it half-closes after 1 s",
             clients=(_C.pieces(COMPANION_MESSAGE, end="eof", timeout=1.0),)),
    Scenario(name="companion_vs_echo", description="the companion client against the echo server: the reply comes back",
             mode="echo", clients=(_C.pieces(COMPANION_MESSAGE, end="eof", timeout=1.0),)),
    Scenario(name="backlog_overflow", description="a class of 14 connects at once to a backlog of 10: some are refused",
             backlog=10, clients=tuple(_C.text(f"student {i:02d}") for i in range(1, 15))),
)}


def get_scenario(name_or_scenario) -> Scenario:
    if isinstance(name_or_scenario, Scenario):
        return name_or_scenario
    try:
        return SCENARIOS[name_or_scenario]
    except KeyError:
        raise ValueError(f"unknown scenario {name_or_scenario!r}; known: {', '.join(SCENARIOS)}") from None


def describe() -> str:
    """One line per named scenario."""
    width = max(map(len, SCENARIOS))
    return "\n".join(f"{name:<{width}}  {s.description}" for name, s in SCENARIOS.items())
