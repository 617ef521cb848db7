"""The virtual wire: latency, what a receive returns, the backlog, FIN and reset.

The server here is ``Reader``, a plain loop on ``main`` that accepts one
connection and reads it with ``end_receive`` (no callbacks), so each test
controls when the receives happen and reads off what they returned.
"""
from sockdemo.sim.scenarios import Client, Scenario
from sockdemo.sim.simulation import run_scenario
from sockdemo.trace.text import describe_error


class Reader:
    """Accept one connection, wait ``delay`` seconds, then receive ``size`` bytes
    at a time until the peer is done (or ``reads`` receives), and close it.
    With ``accept=False`` it only listens, so clients fill the backlog, and
    closes the listener after ``delay`` seconds if one is given."""

    def __init__(self, runtime, host, port, backlog, *, accept=True, delay=0.0, size=1024, reads=None):
        self.runtime, self.address, self.backlog = runtime, (host, port), backlog
        self.accept, self.delay, self.size, self.reads = accept, delay, size, reads
        self.received: list[bytes] = []
        self.error = None

    def start_listening(self) -> None:
        rt = self.runtime
        listener = rt.socket()
        listener.bind(self.address)
        listener.listen(self.backlog)
        if not self.accept:
            if self.delay:
                rt.sleep(self.delay)
                listener.close()
            return
        conn = listener.end_accept(listener.begin_accept(None))
        if self.delay:
            rt.sleep(self.delay)
        buffer = bytearray(self.size)
        try:
            while self.reads is None or len(self.received) < self.reads:
                n = conn.end_receive(conn.begin_receive(buffer, 0, self.size, 0, None))
                self.received.append(bytes(buffer[:n]))
                if n == 0:
                    break
        except ConnectionResetError as exc:
            self.error = describe_error(exc)
        conn.close()


def run(*clients, **options):
    scenario = Scenario(clients=clients, server=Reader,
                        server_options=options.pop("reader", {}), **options)
    return run_scenario(scenario)


def times(sim, *kinds):
    return [(e.kind, e.t) for e in sim.trace.events if e.kind in kinds]


def test_the_handshake_and_each_write_take_one_latency():
    sim = run(Client.text("hello"), latency=250e-6)
    # The SYN arrives at 250 us; the accept event wakes a pool worker, whose
    # accept() is the next engine tick (the page's .NET Framework, BeginAccept on main).
    assert times(sim, "client_connect", "accept", "client_connected", "client_send", "chunk") == [
        ("client_connect", 0), ("accept", 260), ("client_connected", 500),
        ("client_send", 500), ("chunk", 750)]


def test_writes_that_arrive_before_the_receive_coalesce_into_one():
    sim = run(Client.pieces("one ", "two", gap=0.0), reader={"delay": 0.001})
    assert sim.server.received == [b"one two", b""]


def test_a_write_that_arrives_after_the_receive_began_is_a_receive_of_its_own():
    sim = run(Client.pieces("one ", "two", gap=0.001))
    assert sim.server.received == [b"one ", b"two", b""]


def test_rcvbuf_splits_what_arrived_into_receives_of_at_most_that_many_bytes():
    sim = run(Client.text("abcdefghij"), rcvbuf=4, reader={"delay": 0.001})
    assert sim.server.received == [b"abcd", b"efgh", b"ij", b""]


def test_a_full_backlog_refuses_the_next_clients():
    sim = run(*(Client.text(f"client {i}", at=i * 0.001) for i in range(1, 4)),
              backlog=1, reader={"accept": False})
    assert sim.result.conns == {"client-1": 1, "client-2": None, "client-3": None}
    refused = sim.trace.of_kind("client_error")
    assert [e.thread for e in refused] == ["client-2", "client-3"]
    assert all(e["error"].startswith("ConnectionRefusedError") for e in refused)


def test_a_half_close_completes_the_pending_receive_with_0_bytes_one_latency_later():
    sim = run(Client(end="close"))
    assert sim.server.received == [b""]
    (shutdown,), (eof,) = sim.trace.of_kind("client_shutdown"), sim.trace.of_kind("eof")
    assert eof.thread == "engine" and eof.t - shutdown.t == 100


def test_a_receive_begun_after_the_fin_arrived_returns_0_bytes_at_once():
    sim = run(Client.text("hi", end="close"))   # the bytes and the FIN arrive together
    assert sim.server.received == [b"hi", b""]
    (begin_after,) = [e for e in sim.trace.of_kind("begin") if e["op"] == "receive"][1:]
    (eof,) = sim.trace.of_kind("eof")
    assert (eof.thread, eof.t) == ("main", begin_after.t)


def test_the_server_closing_reaches_the_client_as_eof_one_latency_later():
    sim = run(Client.text("hi", end="close"))
    (close,), (eof,) = sim.trace.of_kind("close"), sim.trace.of_kind("client_eof")
    assert close.conn == 1 and eof.t - close.t == 100
    assert sim.trace.of_kind("client_error") == []


def test_a_reset_fails_the_pending_receive_one_latency_later():
    sim = run(Client(end="reset"))
    assert sim.server.received == []
    assert sim.server.error.startswith("ConnectionResetError")
    (reset,), (failed,) = sim.trace.of_kind("client_reset"), sim.trace.of_kind("op_error")
    assert (failed.thread, failed["op"]) == ("engine", "receive") and failed.t - reset.t == 100


def test_closing_with_unread_data_resets_the_connection():
    sim = run(Client.text("never read", end="eof"), reader={"delay": 0.001, "reads": 0})
    (close,), (error,) = sim.trace.of_kind("close"), sim.trace.of_kind("client_error")
    assert error["error"] == "ConnectionResetError: the server reset the connection"
    assert error.t - close.t == 100
    assert sim.trace.of_kind("client_eof") == []


def test_closing_the_listener_resets_its_backlog_in_the_same_step():
    sim = run(Client.text("one", end="eof"), Client.text("two", at=0.001, end="eof"),
              reader={"accept": False, "delay": 0.01})
    closes = [(e.thread, e.conn, e.t) for e in sim.trace.of_kind("close")]
    t = closes[0][2]
    assert closes == [("main", None, t), ("main", 1, t), ("main", 2, t)]
    resets = sorted((e.thread, e.t - t, e["error"]) for e in sim.trace.of_kind("client_error"))
    assert resets == [(f"client-{i}", 100, "ConnectionResetError: the server reset the connection")
                      for i in (1, 2)]   # each had written: unread data
