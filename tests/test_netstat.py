"""The kernel's listen-overflow counter, read and made to move (127.0.0.1 only)."""
import socket
import sys
import time

import pytest

from sockdemo.lab.netstat import listen_overflows, tcp_counters


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux counter")
def test_a_backlog_that_nobody_accepts_from_overflows():
    before = listen_overflows()
    assert isinstance(before, int) and "ListenDrops" in tcp_counters()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)    # room for two handshakes at most, and nobody accepts
        clients = []
        try:
            for _ in range(8):
                client = socket.socket()
                client.setblocking(False)
                client.connect_ex(listener.getsockname())
                clients.append(client)
            # The kernel counts an overflow as the SYN arrives; on loopback that
            # is at once, or within a moment: wait for the count (bounded).
            deadline = time.monotonic() + 5
            while listen_overflows() == before and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            for client in clients:
                client.close()
    assert listen_overflows() > before
