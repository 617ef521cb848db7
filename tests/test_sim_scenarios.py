"""What each named scenario shows, exactly as the lessons describe it."""
from sockdemo.sim.scenarios import SCENARIOS, Client, Scenario
from sockdemo.sim.simulation import run_scenario


def chunks(sim, conn=1):
    return [e.nbytes for e in sim.trace.of_kind("chunk") if e.conn == conn]


def test_every_scenario_has_a_one_line_description():
    for name, sc in SCENARIOS.items():
        assert sc.name == name and sc.description and "\n" not in sc.description


def test_one_client_console_is_the_pages():
    sim = run_scenario("one_client")
    assert sim.result.status == "finished"
    assert sim.console == ["Local address and port : 127.0.0.1:11000",
                           "Waiting for a connection...",
                           "Waiting for a connection...",
                           "Read 14 bytes from socket.\n Data : Hello, server!"]


def test_one_client_trace_starts_like_the_page():
    sim = run_scenario("one_client", seed=0)
    kinds = [(e.thread, e.kind) for e in sim.trace.events[:13]]
    # No connection is waiting when main begins its accept: the engine sees the
    # accept event and a pool worker performs the accept and runs the callback.
    assert kinds == [("client-1", "client_connect"), ("main", "console"), ("main", "listen"),
                     ("main", "reset"), ("main", "console"), ("main", "begin"), ("main", "wait"),
                     ("engine", "ready"), ("pool-1", "accept"), ("pool-1", "callback_start"),
                     ("pool-1", "end"), ("pool-1", "set"), ("pool-1", "begin")]


def test_split_message_arrives_in_as_many_receives_as_writes():
    sim = run_scenario("split_message")
    assert chunks(sim) == [6, 6, 6, 5]
    assert sim.result.messages == {1: ["a message in four parts"]}


def test_writes_close_together_coalesce_into_one_receive():
    sim = run_scenario("coalesced")
    assert [e.nbytes for e in sim.trace.of_kind("client_send")] == [4, 4, 5]
    assert chunks(sim) == [4, 9]
    assert sim.result.messages == {1: ["one two three"]}


def test_the_1024_byte_buffer_splits_a_long_message():
    assert chunks(run_scenario("long_message")) == [1024, 1024, 952]


def test_rcvbuf_caps_each_receive():
    sc = Scenario(clients=(Client.text("abcdefghij"),), rcvbuf=4)
    assert chunks(run_scenario(sc)) == [4, 4, 2]


def test_utf8_split_seed_prints_question_marks_fixed_the_character():
    seed = run_scenario("utf8_split")
    fixed = run_scenario(SCENARIOS["utf8_split"].with_(mode="fixed"))
    assert chunks(seed) == [4, 2]
    assert seed.result.messages == {1: ["caf??!"]}
    assert fixed.result.messages == {1: ["café!"]}


def test_the_seed_server_drops_a_one_byte_message():
    sim = run_scenario("one_byte")
    assert sim.result.messages == {}
    assert not any(line.startswith("Read") for line in sim.console)
    assert [e.kind for e in sim.trace.for_conn(1) if e.kind in ("chunk", "eof", "close")] == \
        ["chunk", "eof", "close"]


def test_an_idle_client_keeps_its_connection_open():
    r = run_scenario("idle_client").result
    assert r.status == "finished" and r.open_conns == [1] and r.messages == {}


def test_a_reset_mid_message_makes_end_receive_raise():
    sim = run_scenario("reset_mid_message")
    errors = sim.trace.of_kind("error")
    assert [e["error"].split(":")[0] for e in errors] == ["ConnectionResetError"]
    assert errors[0].thread.startswith("pool-") and errors[0]["where"] == "ReadCallback"


def test_a_blocking_callback_starves_a_one_thread_pool():
    sim = run_scenario("starved_pool")
    reads = {e.thread for e in sim.trace.of_kind("callback_start") if e["name"] == "ReadCallback"}
    assert reads == {"pool-1"}
    assert sim.result.time_us > 10_000_000   # six 2 s sleeps, one after another


def test_injection_adds_a_thread_after_500_ms_of_starvation():
    plain = run_scenario("starved_pool").result
    sim = run_scenario("starved_pool_injected")
    starts = sim.trace.of_kind("callback_start")
    first = {}
    for e in starts:
        first.setdefault(e.thread, e.t)
    assert "pool-2" in first
    assert first["pool-2"] - first["pool-1"] >= 500_000
    assert sim.result.time_us < plain.time_us


def test_the_forgotten_set_is_a_deadlock_naming_main_and_alldone():
    r = run_scenario("forgotten_set").result
    assert r.status == "deadlock"
    assert r.detail.startswith("deadlock: these threads wait on")
    assert "main waits on allDone" in r.detail
    assert "client-2" in r.detail and "backlog" in r.detail
    assert r.messages == {1: ["first"]}


def test_the_companion_client_waits_for_the_seed_server_until_its_timeout():
    sim = run_scenario("companion_vs_seed")
    timeout = sim.trace.of_kind("client_timeout")
    assert len(timeout) == 1 and timeout[0].t >= 1_000_000
    message = sim.trace.of_kind("message")[0]
    assert message.t > timeout[0].t      # the seed server needs the half-close
    assert sim.result.replies == {"client-1": b""}


def test_the_companion_client_gets_its_echo_from_the_echo_server():
    r = run_scenario("companion_vs_echo").result
    assert r.replies == {"client-1": b"This is a test<EOF>"}
    assert "Sent 19 bytes to client." in r.console


def test_a_full_backlog_refuses_clients():
    sim = run_scenario("backlog_overflow")
    refused = [c for c, conn in sim.result.conns.items() if conn is None]
    assert len(refused) == 3
    assert len(sim.trace.of_kind("client_error")) == 3
    assert sum(map(len, sim.result.messages.values())) == 11


def test_unhandled_stop_ends_the_run_with_stopped():
    sc = SCENARIOS["reset_mid_message"].with_(unhandled="stop")
    r = run_scenario(sc).result
    assert r.status == "stopped" and "ConnectionResetError" in r.detail


def test_every_result_counts_the_trace_it_ran_and_the_messages_in_it():
    # A result is made without reading the trace; it must say what the trace says.
    for name in SCENARIOS:
        sim = run_scenario(name, seed=0)
        in_trace: dict = {}
        for ev in sim.trace.of_kind("message"):
            in_trace.setdefault(ev.conn, []).append(ev["text"])
        assert sim.result.events == len(sim.trace), name
        assert sim.result.messages == in_trace, name
