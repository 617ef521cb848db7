"""One server module, two worlds: the simulator and real sockets agree.

Three clients, one after another, each writes a distinct text and half-closes
(``three_clients``). Plain sockets against ``start_server("seed")`` and the
simulated run must agree per connection on the messages, on the console
(addresses aside) and on the order of each connection's I/O events.
"""
import socket

import pytest

from conftest import WAIT, wait_for
from sockdemo.lab.handle import start_server
from sockdemo.sim.scenarios import SCENARIOS
from sockdemo.sim.simulation import run_scenario

IO_KINDS = ("accept", "chunk", "eof", "message", "close")
WAITING = "Waiting for a connection..."


def per_conn_kinds(trace):
    out = {}
    for e in trace.events:
        if e.conn is not None and e.kind in IO_KINDS:
            out.setdefault(e.conn, []).append(e.kind)
        if e.kind == "callback_start" and e.conn is not None:
            out.setdefault(e.conn, []).append(e["name"])
    return out


def without_addresses(lines):
    return [line for line in lines if not line.startswith("Local address and port")]


def real_run(scenario):
    with start_server("seed", pool=2) as server:
        for k, client in enumerate(scenario.clients, 1):
            with socket.create_connection(server.address, timeout=WAIT) as s:
                # The main thread prints "Waiting" again once it has accepted
                # us; wait for that before writing, or it races our "Read".
                wait_for(server, lambda e: e.kind == "console" and e["text"] == WAITING,
                         "the server waiting for the next connection", count=k + 1)
                s.sendall(client.data)
                s.shutdown(socket.SHUT_WR)
                while s.recv(1024):
                    pass
            wait_for(server, lambda e: e.kind == "close" and e.conn is not None,
                     "the server closing the connection", count=k)
    return server


@pytest.fixture(scope="module")
def both():
    scenario = SCENARIOS["three_clients"]
    return real_run(scenario), run_scenario(scenario)


def test_messages_agree_per_connection(both):
    real, sim = both
    messages = {}
    for e in real.trace.of_kind("message"):
        messages.setdefault(e.conn, []).append(e["text"])
    assert messages == sim.result.messages == {1: ["alpha says hello"], 2: ["bravo says hi"],
                                               3: ["charlie says hey"]}


def test_console_lines_agree_addresses_aside(both):
    real, sim = both
    assert without_addresses(real.console) == without_addresses(sim.console)


def test_each_connection_sees_the_same_events_in_the_same_order(both):
    real, sim = both
    assert per_conn_kinds(real.trace) == per_conn_kinds(sim.trace)
