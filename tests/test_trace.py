import json
import os
import threading

import pytest

from sockdemo.trace.events import Event
from sockdemo.trace.recording import Trace
from sockdemo.trace.tracer import Tracer


def ev(seq, t, kind, thread="main", conn=None, nbytes=None, **info):
    return Event(seq, t, kind, thread, conn, nbytes, info)


def sample_events():
    """A small seed-mode run touching every kind of event."""
    return [
        ev(1, 0, "console", text="Local address and port : 127.0.0.1:11000"),
        ev(2, 5, "reset", event="allDone"),
        ev(3, 6, "console", text="Waiting for a connection..."),
        ev(4, 7, "begin", op="accept", id=1),
        ev(5, 8, "wait", event="allDone"),
        ev(6, 9, "client_send", "client-1", nbytes=5, port=50001),  # before accept
        ev(7, 20, "accept", "engine", conn=1, peer=("127.0.0.1", 50001)),
        ev(8, 21, "callback_start", "pool-1", conn=1, name="AcceptCallback", id=1),
        ev(9, 22, "end", "pool-1", conn=1, op="accept"),
        ev(10, 23, "set", "pool-1", event="allDone"),
        ev(11, 24, "wake", "main", event="allDone", signaled=True),
        ev(12, 25, "begin", "pool-1", conn=1, op="receive", id=2),
        ev(13, 26, "callback_end", "pool-1", conn=1, name="AcceptCallback", id=1),
        ev(14, 30, "chunk", "engine", conn=1, nbytes=5),
        ev(15, 31, "client_send", "client-1", nbytes=4, port=50001),  # after accept
        ev(16, 32, "callback_start", "pool-2", conn=1, name="ReadCallback", id=2),
        ev(17, 33, "end", "pool-2", conn=1, nbytes=5, op="receive"),
        ev(18, 34, "begin", "pool-2", conn=1, op="receive", id=3),
        ev(19, 35, "callback_end", "pool-2", conn=1, name="ReadCallback", id=2),
        ev(20, 40, "sent", "engine", conn=1, nbytes=4),
        ev(21, 41, "connected", "client-1", port=50001),
        ev(22, 42, "op_error", "engine", conn=1, op="receive",
           error="ConnectionResetError: reset"),
        ev(23, 43, "eof", "engine", conn=1, nbytes=0),
        ev(24, 44, "callback_start", "pool-10", conn=1, name="ReadCallback", id=3),
        ev(25, 45, "message", "pool-10", conn=1, nbytes=9, text="hello you"),
        ev(26, 46, "shutdown", "pool-10", conn=1, how="both"),
        ev(27, 47, "close", "pool-10", conn=1),
        ev(28, 48, "error", "pool-10", conn=1, error="ValueError: boom"),
        ev(29, 49, "hook_error", "pool-10", hook="bad", error="RuntimeError: x"),
        ev(30, 50, "callback_end", "pool-10", conn=1, name="ReadCallback", id=3),
        ev(31, 51, "callback_start", "pool-2", conn=2, name="SendCallback", id=4),
        # trace cut here: the SendCallback never ends
    ]


@pytest.fixture
def trace():
    return Trace(sample_events())


def chrome(trace):
    return trace.to_chrome()["traceEvents"]


def test_save_load_round_trip_is_equal(trace, tmp_path):
    path = tmp_path / "run.json"
    trace.save(path)
    assert Trace.load(path).events == trace.events


def test_round_trip_keeps_a_payload_key_named_like_a_field(tmp_path):
    info = {"seq": "payload", "end": 3, "info": {"a": 1}, "text": "x"}
    t = Trace([Event(1, 0, "console", "main", None, None, info)])
    t.save(tmp_path / "t.json")
    assert Trace.load(tmp_path / "t.json").events == t.events


def test_tuples_are_recorded_as_lists(trace):
    accept = trace.of_kind("accept")[0]
    assert accept["peer"] == ["127.0.0.1", 50001]


def test_metadata_names_every_thread(trace):
    names = {e["tid"]: e["args"]["name"] for e in chrome(trace)
             if e["ph"] == "M" and e["name"] == "thread_name"}
    assert sorted(names.values()) == sorted(trace.threads)
    assert len(set(names)) == len(names)


def test_sort_index_puts_main_engine_then_pools_in_number_order(trace):
    tids = {e["args"]["name"]: e["tid"] for e in chrome(trace)
            if e["ph"] == "M" and e["name"] == "thread_name"}
    rank = {e["tid"]: e["args"]["sort_index"] for e in chrome(trace)
            if e["ph"] == "M" and e["name"] == "thread_sort_index"}
    order = sorted(tids, key=lambda n: rank[tids[n]])
    assert order == ["main", "engine", "pool-1", "pool-2", "pool-10", "client-1"]


def test_callbacks_become_begin_end_pairs_with_conn(trace):
    begins = [(e["name"], e["ts"], e["args"]["conn"]) for e in chrome(trace) if e["ph"] == "B"]
    ends = [(e["name"], e["ts"], e["args"]["conn"]) for e in chrome(trace) if e["ph"] == "E"]
    assert begins == [("AcceptCallback", 21, 1), ("ReadCallback", 32, 1), ("ReadCallback", 44, 1),
                      ("SendCallback", 51, 2)]
    assert ends == [("AcceptCallback", 26, 1), ("ReadCallback", 35, 1), ("ReadCallback", 50, 1)]


def test_unfinished_callback_is_a_begin_with_no_end(trace):
    ends = {e["args"]["seq"] for e in chrome(trace) if e["ph"] == "E"}
    [send] = [e for e in chrome(trace) if e["ph"] == "B" and e["name"] == "SendCallback"]
    assert send["args"]["seq"] not in ends and len(ends) == 3


def test_instants_carry_the_contract_args(trace):
    inst = {}
    for e in chrome(trace):
        if e["ph"] == "i":
            assert e["s"] == "t"
            inst.setdefault(e["name"], e["args"])
    assert inst["accept"]["conn"] == 1
    assert (inst["chunk"]["conn"], inst["chunk"]["nbytes"]) == (1, 5)
    assert inst["eof"]["conn"] == 1 and inst["close"]["conn"] == 1
    assert inst["error"] == {"conn": 1, "nbytes": None, "seq": 28,
                             "error": "ValueError: boom"}
    assert (inst["message"]["conn"], inst["message"]["nbytes"],
            inst["message"]["text"]) == (1, 9, "hello you")
    # as recorded: a client of the real fleet knows its port, not the server's conn
    assert (inst["client_send"]["conn"], inst["client_send"]["nbytes"],
            inst["client_send"]["port"]) == (None, 5, 50001)


def test_every_non_callback_kind_is_an_instant(trace):
    kinds = {e.kind for e in trace} - {"callback_start", "callback_end"}
    assert kinds == {e["name"] for e in chrome(trace) if e["ph"] == "i"}


def test_flow_arrows_join_each_begin_to_its_callback(trace):
    out = chrome(trace)
    starts = {e["id"]: e for e in out if e["ph"] == "s"}
    finishes = {e["id"]: e for e in out if e["ph"] == "f"}
    assert sorted(starts) == [1, 2, 3]
    assert sorted(finishes) == [1, 2, 3]
    tid = {e["args"]["name"]: e["tid"] for e in out
           if e["ph"] == "M" and e["name"] == "thread_name"}
    assert (starts[1]["tid"], starts[1]["ts"], starts[1]["name"]) == (tid["main"], 7, "begin_accept")
    assert (finishes[1]["tid"], finishes[1]["ts"]) == (tid["pool-1"], 21)
    assert (starts[2]["tid"], finishes[2]["tid"]) == (tid["pool-1"], tid["pool-2"])
    for fid in starts:
        assert starts[fid]["name"] == finishes[fid]["name"]
        assert starts[fid]["cat"] == finishes[fid]["cat"] == "flow"
        assert finishes[fid]["bp"] == "e"


def test_chrome_json_has_valid_shape(trace):
    data = json.loads(trace.dumps())
    assert data["displayTimeUnit"] == "ms"
    assert isinstance(data["otherData"], dict)
    for e in data["traceEvents"]:
        assert e["ph"] in {"M", "B", "E", "i", "s", "f"}
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
        assert isinstance(e["name"], str)
        if e["ph"] != "M":
            assert isinstance(e["ts"], int)
        if e["ph"] in "sf":
            assert "id" in e


def test_output_is_byte_identical(trace, tmp_path):
    trace.save(tmp_path / "a.json")
    Trace(reversed(sample_events())).save(tmp_path / "b.json")
    Trace.load(tmp_path / "a.json").save(tmp_path / "c.json")
    a = (tmp_path / "a.json").read_bytes()
    assert a == (tmp_path / "b.json").read_bytes() == (tmp_path / "c.json").read_bytes()
    assert a.endswith(b"\n")


def test_a_client_event_keeps_its_record_and_for_conn_joins_it():
    t = Trace()
    t(ev(1, 0, "client_send", "client-1", nbytes=3, port=40000))
    early = t.events[0]
    t(ev(2, 1, "accept", "engine", conn=7, peer=("127.0.0.1", 40000)))
    t(ev(3, 2, "client_send", "client-1", nbytes=2, port=40000))
    assert t.events[0] is early and early.conn is None and early["port"] == 40000
    assert t.events[2].conn is None
    assert [e.seq for e in t.for_conn(7)] == [1, 2, 3]


def test_client_send_of_an_unaccepted_port_joins_nothing():
    t = Trace([ev(1, 0, "accept", "engine", conn=1, peer=("127.0.0.1", 1)),
               ev(2, 1, "client_send", "client-2", nbytes=3, port=2)])
    assert t.events[1].conn is None
    assert t.for_conn(1) == t.events[:1]


def test_earlier_events_stay_the_same_objects_as_records_arrive():
    tracer = Tracer(iter(range(10**6)).__next__)
    t = tracer.subscribe(Trace())
    tracer.emit("client_send", None, 3, port=40000)
    tracer.emit("begin", op="accept", id=1)
    before = t.events
    tracer.emit("accept", 7, id=1, peer=("127.0.0.1", 40000))
    tracer.emit("client_send", None, 4, port=40000)
    after = t.events
    assert after[:2] == before and all(a is b for a, b in zip(after, before))
    assert before[0].conn is None
    assert t.since(2) == after[2:]


def test_an_event_before_the_end_is_refused():
    t = Trace([ev(5, 0, "console", text="x")])
    with pytest.raises(ValueError, match="only grows at its end"):
        t(ev(5, 1, "console", text="y"))
    with pytest.raises(ValueError, match="only grows at its end"):
        t(ev(3, 1, "console", text="y"))
    assert len(t) == 1


def test_meta_is_saved_and_loaded(tmp_path):
    t = Trace(sample_events(), meta={"server": "sockdemo.servers.seed.SeedServer"})
    [head] = [e for e in t.to_chrome()["traceEvents"] if e["ph"] == "M" and e["name"] == "sockdemo_trace"]
    assert head["args"]["meta"] == {"server": "sockdemo.servers.seed.SeedServer"}
    t.save(tmp_path / "t.json")
    loaded = Trace.load(tmp_path / "t.json")
    assert loaded.meta == t.meta and loaded.events == t.events
    assert Trace().meta == {} and Trace.from_chrome(Trace().to_chrome()).meta == {}


def test_a_cut_callback_end_survives_the_round_trip(tmp_path):
    t = Trace([ev(1, 0, "callback_start", "pool-1", 1, name="ReadCallback", id=2),
               ev(2, 5, "callback_end", "pool-1", 1, name="ReadCallback", id=2, cut=True)])
    (end,) = [e for e in chrome(t) if e["ph"] == "E"]
    assert end["args"]["cut"] is True and end["ts"] == 5
    t.save(tmp_path / "t.json")
    assert Trace.load(tmp_path / "t.json").events == t.events


def test_conveniences(trace):
    assert trace.threads == ["main", "client-1", "engine", "pool-1", "pool-2", "pool-10"]
    assert trace.connections == [1, 2]
    assert [e.seq for e in trace.of_kind("chunk", "eof")] == [14, 23]
    assert len(trace) == len(list(trace)) == 31


def callback_runs():
    """Callback starts of several names and connections, conn 2 accepted before conn 1."""
    return Trace([
        ev(1, 0, "callback_start", "pool-1", None, name="HoldThePool", id=9),
        ev(2, 1, "callback_start", "pool-1", 2, name="AcceptCallback", id=1),
        ev(3, 2, "callback_start", "main", 1, name="AcceptCallback", id=2),
        ev(4, 3, "callback_start", "main", 1, name="ReadCallback", id=3),
        ev(5, 4, "callback_end", "main", 1, name="ReadCallback", id=3),
        ev(6, 5, "callback_start", "pool-2", 2, name="SendCallback", id=4),
        ev(7, 6, "callback_start", "pool-2", 2, name="ReadCallback", id=5),
        ev(8, 7, "callback_start", "pool-1", 2, name="ReadCallback", id=6),
        ev(9, 8, "callback_start", "pool-1", 1, name="ReadCallback", id=7),
        ev(10, 9, "callback_start", "pool-3", None, name="ReadCallback", id=8),
    ])


def test_callback_starts_are_the_starts_in_order_of_one_name_or_all():
    t = callback_runs()
    assert [e.seq for e in t.callback_starts()] == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert [e.seq for e in t.callback_starts("ReadCallback")] == [4, 7, 8, 9, 10]
    assert [e.seq for e in t.callback_starts("AcceptCallback")] == [2, 3]
    assert t.callback_starts("NoSuchCallback") == []


def test_callback_threads_count_the_runs_each_thread_started():
    t = callback_runs()
    assert t.callback_threads() == {"pool-1": 4, "main": 2, "pool-2": 2, "pool-3": 1}
    reads = t.callback_threads("ReadCallback")
    assert reads == {"main": 1, "pool-2": 1, "pool-1": 2, "pool-3": 1}
    assert reads["engine"] == 0                     # a Counter: a thread that ran none counts 0
    assert t.callback_threads("AcceptCallback") == {"pool-1": 1, "main": 1}
    assert Trace(sample_events()).callback_threads("ReadCallback") == {"pool-2": 1, "pool-10": 1}


def test_first_callback_threads_keep_each_connections_first_run_sorted_by_connection():
    t = callback_runs()
    # conn 2's first ReadCallback ran on pool-2 (its later one on pool-1); the one without a connection is left out
    assert list(t.first_callback_threads("ReadCallback").items()) == [(1, "main"), (2, "pool-2")]
    # accepted conn 2 first, but sorted by connection
    assert list(t.first_callback_threads("AcceptCallback").items()) == [(1, "main"), (2, "pool-1")]
    assert t.first_callback_threads("SendCallback") == {2: "pool-2"}
    assert t.first_callback_threads("HoldThePool") == {}


def test_the_callback_readings_see_events_recorded_after_an_earlier_reading():
    t = callback_runs()
    assert t.callback_threads("SendCallback") == {"pool-2": 1}
    t(ev(11, 10, "callback_start", "main", 3, name="SendCallback", id=10))
    assert [e.seq for e in t.callback_starts("SendCallback")] == [6, 11]
    assert t.callback_threads("SendCallback") == {"pool-2": 1, "main": 1}
    assert t.first_callback_threads("SendCallback") == {2: "pool-2", 3: "main"}


@pytest.mark.parametrize("clock", ["wall", "custom"])
def test_tracer_integration_records_in_seq_order(clock):
    # Both clocks: the wall clock is logged raw and made µs when read, a custom one is µs already.
    ticks = iter(range(10**6))
    tracer = Tracer() if clock == "wall" else Tracer(lambda: next(ticks))
    trace = tracer.subscribe(Trace())

    def work(n):
        for i in range(200):
            tracer.emit("chunk", conn=n, nbytes=i + 1)

    threads = [threading.Thread(target=work, args=(n,), name=f"pool-{n}") for n in (1, 2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert [e.seq for e in trace] == list(range(1, 401))
    assert set(trace.threads) == {"pool-1", "pool-2"}
    assert [e.nbytes for e in trace.for_conn(2)] == list(range(1, 201))
    for n in (1, 2):  # each thread's times never go back
        times = [e.t for e in trace.for_conn(n)]
        assert times == sorted(times) and all(type(t) is int and t >= 0 for t in times)


@pytest.mark.parametrize("text", [
    "not json at all",
    "[1, 2, 3]",
    '{"traceEvents": 5}',
    '{"traceEvents": [{"ph": "i", "ts": 1, "pid": 1, "tid": 9, "args": {"seq": 1}}]}',
    '{"traceEvents": [{"ph": "M", "name": "thread_name", "pid": 1, "tid": 1,'
    ' "args": {"name": "main"}}, {"ph": "i", "ts": 1, "pid": 1, "tid": 1, "args": {}}]}',
])
def test_loading_garbage_raises_value_error_naming_the_file(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="bad.json"):
        Trace.load(path)


# -- bad files and failed saves -------------------------------------------------

@pytest.mark.parametrize("text, says", [
    ("[" * 100_000, "nested too deeply"),
    ('{"traceEvents": [], "otherData": {"x": NaN}}', "NaN"),
    ('{"traceEvents": [], "otherData": {"x": Infinity}}', "Infinity"),
    ('{"traceEvents": {"not": "a list"}}', "traceEvents"),
    ('{"traceEvents": [1, 2]}', "not an object"),
    ('{"traceEvents": [{"ph": "i", "ts": 1.5, "tid": 1, "args": {}}]}', ""),
    ("\xff\xfe not text", ""),
    ("", ""),
])
def test_a_malformed_file_is_a_value_error_naming_the_file(tmp_path, text, says):
    path = tmp_path / "bad.json"
    path.write_bytes(text.encode("latin-1") if text.startswith("\xff") else text.encode("utf-8"))
    with pytest.raises(ValueError) as caught:
        Trace.load(path)
    assert str(path) in str(caught.value) and says in str(caught.value)


def test_a_fifo_or_a_folder_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    for path in (fifo, tmp_path, tmp_path / "missing.json"):
        with pytest.raises(ValueError, match=str(path)):
            Trace.load(path)


@pytest.mark.parametrize("failing", ["dumps", "rename"])
def test_a_failed_save_leaves_the_existing_file_as_it_was(tmp_path, monkeypatch, failing):
    path = tmp_path / "run.json"
    path.write_text("the old trace", encoding="utf-8")
    trace = Trace([Event(1, 0, "chunk", "pool-1", 1, 3)])

    def fail(*args):
        raise OSError(28, "No space left on device")

    if failing == "dumps":
        monkeypatch.setattr(Trace, "dumps", fail)
    else:
        monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        trace.save(path)
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "the old trace"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"], "the temporary file was left behind"


def test_an_array_form_trace_cut_short_still_loads(tmp_path):
    whole = Trace([Event(1, 5, "accept", "pool-1", 1, None, {"peer": ["127.0.0.1", 5]}),
                   Event(2, 9, "chunk", "pool-1", 1, 4, {"data": "abcd"})]).to_chrome()
    entries = [json.dumps(e) for e in whole["traceEvents"]]
    path = tmp_path / "cut.json"
    path.write_text("[\n" + ",\n".join(entries) + ",\n", encoding="utf-8")  # killed before "]"
    loaded = Trace.load(path)
    assert [e.kind for e in loaded.events] == ["accept", "chunk"]


def test_tids_follow_the_lane_order_for_viewers_that_sort_by_tid(trace):
    """Perfetto sorted JSON threads by tid before it read thread_sort_index."""
    tids = {e["args"]["name"]: e["tid"] for e in chrome(trace)
            if e["ph"] == "M" and e["name"] == "thread_name"}
    assert sorted(tids, key=tids.get) == ["main", "engine", "pool-1", "pool-2", "pool-10", "client-1"]
    rank = {e["tid"]: e["args"]["sort_index"] for e in chrome(trace)
            if e["ph"] == "M" and e["name"] == "thread_sort_index"}
    assert all(rank[tid] == tid for tid in tids.values())


def test_a_client_first_trace_still_round_trips(tmp_path):
    """The first thread of the trace is a client's: it gets the last tid, and loads back."""
    events = [ev(1, 0, "client_connect", "client-2", port=50002),
              ev(2, 1, "client_connect", "client-1", port=50001),
              ev(3, 2, "accept", "engine", conn=1, peer=["127.0.0.1", 50001]),
              ev(4, 3, "callback_start", "pool-1", conn=1, name="AcceptCallback", id=1),
              ev(5, 4, "callback_end", "pool-1", conn=1, name="AcceptCallback", id=1),
              ev(6, 5, "wait", "main", event="allDone")]
    t = Trace(events)
    tids = {e["args"]["name"]: e["tid"] for e in chrome(t)
            if e["ph"] == "M" and e["name"] == "thread_name"}
    assert sorted(tids, key=tids.get) == ["main", "engine", "pool-1", "client-1", "client-2"]
    t.save(tmp_path / "t.json")
    assert Trace.load(tmp_path / "t.json").events == t.events


# -- a cap on what an in-memory trace keeps ------------------------------------------

def test_a_trace_at_its_cap_records_nothing_more_and_says_so():
    tracer = Tracer(lambda: 0)
    trace = Trace(max_events=5)
    others = []
    tracer.subscribe(trace)
    tracer.subscribe(others.append)
    for i in range(12):
        tracer.emit("chunk", 1, i)
        if i == 2:
            assert len(trace) == 3   # reading on the way keeps the count right
    assert len(trace) == 5 and [e.nbytes for e in trace.events] == [0, 1, 2, 3, 4]
    assert trace.truncated_at == 6 and trace.meta["truncated_at"] == 6
    assert "cap of 5 events" in trace.truncation_note
    assert len(others) == 12, "a hook goes on hearing every event"
    assert trace not in tracer.hooks


def test_the_truncation_survives_save_and_load(tmp_path):
    tracer = Tracer(lambda: 0)
    trace = tracer.subscribe(Trace(max_events=2))
    for i in range(4):
        tracer.emit("chunk", 1, i)
    trace.save(tmp_path / "t.json")
    loaded = Trace.load(tmp_path / "t.json")
    assert loaded.truncated_at == 3 and loaded.truncation_note
