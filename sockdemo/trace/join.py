"""Which connection a client's step belongs to: the join made when a trace is read.

Mirrors nothing in .NET; it is what a packet capture does when it follows a
TCP stream: it matches the two ends of one connection by their endpoints.
A client of the real fleet knows only its own local port, and the server only
its connection number; the ``accept`` event says which peer endpoint each
connection has. So a client event (kind ``client_*``, ``conn`` None,
``info["port"]``) belongs to the connection of the accept whose peer port is
its port. A recorded event is never rewritten with that conn: whoever reads
the trace makes the join, with this module (the plots, ``Trace.for_conn``, the
stepper).

The rule, for a client event whose port is p:

1. the latest accept of p before it (a port a later client reuses joins the
   later connection from that accept on);
2. else the first accept of p after it (a client may write before the server
   accepts: TCP queues the bytes);
3. else no connection (the server never accepted it).

A reader that takes the events one at a time, as the stepper does, knows rule
2's answer only once that accept arrives: ``joined_conn`` with the ports
accepted so far gives rules 1 and 3, and ``accepted_port`` says, at each
accept, which waiting port it answers. ``join_conns`` applies all three to a
whole list.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Optional, Sequence

from . import kinds
from .events import Event

__all__ = ["accepted_port", "client_port", "joined_conn", "join_conns"]


def _port(value) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def accepted_port(ev: Event) -> Optional[int]:
    """The peer's port of an ``accept`` that made a connection; None for any other event."""
    if ev.kind != kinds.ACCEPT or ev.conn is None:
        return None
    peer = ev.info.get("peer")
    return _port(peer[1]) if isinstance(peer, (list, tuple)) and len(peer) >= 2 else None


def client_port(ev: Event) -> Optional[int]:
    """The local port of a client event that carries no conn (the real fleet's); else None."""
    if ev.conn is not None or not kinds.is_client(ev.kind):
        return None
    return _port(ev.info.get("port"))


def joined_conn(ev: Event, conn_of_port: Mapping[int, int]) -> Optional[int]:
    """``ev``'s connection: its own ``conn``, or for a client event without one the
    conn of the latest accept of its port in ``conn_of_port`` (None: not accepted yet)."""
    port = client_port(ev)
    return ev.conn if port is None else conn_of_port.get(port)


def join_conns(events: Sequence[Event]) -> list[Optional[int]]:
    """Each event's connection, in order: ``conn``, or for a client event the joined one."""
    conn_of_port: dict[int, int] = {}
    waiting: dict[int, list[int]] = defaultdict(list)   # port -> indexes before its accept
    out: list[Optional[int]] = []
    for i, ev in enumerate(events):
        conn = joined_conn(ev, conn_of_port)
        if conn is None and (port := client_port(ev)) is not None:
            waiting[port].append(i)
        out.append(conn)
        port = accepted_port(ev)
        if port is not None:
            conn_of_port[port] = ev.conn
            for j in waiting.pop(port, ()):
                out[j] = ev.conn
    return out
