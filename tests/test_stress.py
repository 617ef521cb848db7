"""200 clients, random texts in random pieces, 8-16 at a time, through fixed and echo:
every message arrives exactly once, byte for byte."""
import random
import socket
import threading
from collections import Counter

from conftest import WAIT, wait_for

CLIENTS = 200
ASCII = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789.,;:!?-"
MULTIBYTE = "éüßçñ€✓中文字😀"


def random_text(rng, multibyte):
    alphabet = ASCII + (MULTIBYTE * 3 if multibyte else "")
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3000)))


def pieces(rng, data):
    """``data`` cut at random places, 1 byte to 700 bytes a piece (UTF-8 characters get cut too)."""
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 700)
        out.append(data[i:i + n])
        i += n
    return out


def run_fleet(address, jobs, concurrency, eof):
    """Each job (data, pieces) on its own connection, ``concurrency`` at a time.
    Returns the replies, in job order."""
    replies = [None] * len(jobs)
    errors = []
    gate = threading.Semaphore(concurrency)

    def client(i, parts):
        with gate:
            try:
                with socket.create_connection(address, timeout=WAIT) as s:
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    for part in parts:
                        s.sendall(part)
                    if not eof:
                        s.shutdown(socket.SHUT_WR)
                    chunks = []
                    while True:
                        data = s.recv(65536)
                        if not data:
                            break
                        chunks.append(data)
                    replies[i] = b"".join(chunks)
            except Exception as exc:
                errors.append((i, exc))

    threads = [threading.Thread(target=client, args=(i, parts), name=f"client-{i}")
               for i, (_, parts) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 4)
    assert not any(t.is_alive() for t in threads), "some clients never finished"
    assert not errors, f"client errors: {errors[:3]}"
    return replies


def test_fixed_gets_every_utf8_message_exactly_once(server):
    rng = random.Random(20240601)
    handle = server("fixed", pool=2, backlog=64)
    texts = [random_text(rng, multibyte=True) for _ in range(CLIENTS)]
    jobs = [(t.encode("utf-8"), pieces(rng, t.encode("utf-8"))) for t in texts]
    replies = run_fleet(handle.address, jobs, rng.randint(8, 16), eof=False)
    assert replies == [b""] * CLIENTS  # fixed never answers, it closes
    got = wait_for(handle, lambda e: e.kind == "message", f"{CLIENTS} messages", count=CLIENTS, timeout=WAIT * 2)
    assert Counter(e["text"] for e in got) == Counter(texts)
    assert Counter(e.nbytes for e in got) == Counter(len(t.encode("utf-8")) for t in texts)
    assert handle.trace.of_kind("error") == [] and handle.runtime.unhandled_errors == []


def test_echo_answers_every_client_with_its_own_text(server):
    rng = random.Random(424242)
    handle = server("echo", pool=2, backlog=64)
    texts = [random_text(rng, multibyte=False) + "<EOF>" for _ in range(CLIENTS)]
    jobs = [(t.encode("ascii"), pieces(rng, t.encode("ascii"))) for t in texts]
    replies = run_fleet(handle.address, jobs, rng.randint(8, 16), eof=True)
    assert replies == [t.encode("ascii") for t in texts]
    got = wait_for(handle, lambda e: e.kind == "message", f"{CLIENTS} messages", count=CLIENTS, timeout=WAIT * 2)
    assert Counter(e["text"] for e in got) == Counter(texts)
    assert handle.runtime.unhandled_errors == []
