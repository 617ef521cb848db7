"""Peer servers for the benchmark: the seed server's behaviour, written idiomatically.

Same framing and console as the page's C# sample (and `sockdemo serve --mode
seed`): read until the client half-closes, decode ASCII with `?` for every
byte above 0x7F, print `Read {n} bytes from socket.\\n Data : {content}` when
the text is longer than one character, close without a reply. Each console
line is flushed as it is written, as .NET's Console does, so a pipe sees it
at once.

    python benchmarks/peers.py asyncio   [--port 0] [--backlog 128]
    python benchmarks/peers.py threading [--port 0] [--backlog 128]
    python benchmarks/peers.py raw       [--port 0] [--backlog 128]

`raw` is the ceiling for one big message (load C): one thread, one
`selectors` loop, 64 KiB receives appended to a bytearray until EOF; it keeps
the bytes only because the console line carries them.

SIGTERM or SIGINT stops either with exit status 0.
"""

import argparse
import asyncio
import selectors
import signal
import socket
import socketserver
import sys
import threading

# bytes.translate table: what Encoding.ASCII.GetString does to bytes > 0x7F.
ASCII_TABLE = bytes(range(128)) + b"?" * 128

_print_lock = threading.Lock()


def console(line):
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def ascii_text(data):
    return data.translate(ASCII_TABLE).decode("ascii")


def report(content):
    if len(content) > 1:
        console(f"Read {len(content)} bytes from socket.\n Data : {content}")


# -- asyncio ---------------------------------------------------------------

class SeedProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        console("Waiting for a connection...")
        self.transport = transport
        self.parts = []

    def data_received(self, data):
        # Decoding per chunk is exactly the sample's (lossy) behaviour.
        self.parts.append(ascii_text(data))

    def eof_received(self):
        report("".join(self.parts))
        self.transport.close()
        return False

    def connection_lost(self, exc):
        pass


async def serve_asyncio(host, port, backlog):
    console(f"Local address and port : {host}:{port}")
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SeedProtocol, host, port, backlog=backlog,
                                      reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    if port == 0:
        console(f"Local address and port : {host}:{bound}")
    console("Waiting for a connection...")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


# -- raw selectors -----------------------------------------------------------

RAW_RECV = 64 * 1024   # bytes one recv asks for: load C's receive buffer


def serve_raw(host, port, backlog):
    console(f"Local address and port : {host}:{port}")
    listener = socket.create_server((host, port), backlog=backlog)
    listener.setblocking(False)
    if port == 0:
        console(f"Local address and port : {host}:{listener.getsockname()[1]}")
    console("Waiting for a connection...")
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stopping.append(signum))
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    with sel, listener:
        while not stopping:
            for key, _ in sel.select(0.2):   # the timeout lets a signal stop the loop
                if key.fileobj is listener:
                    try:
                        sock, _ = listener.accept()
                    except BlockingIOError:   # another wake-up took it
                        continue
                    console("Waiting for a connection...")
                    sock.setblocking(False)
                    sel.register(sock, selectors.EVENT_READ, bytearray())
                    continue
                sock, received = key.fileobj, key.data
                try:
                    data = sock.recv(RAW_RECV)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    data = None
                if data:
                    received += data
                    continue
                if data is not None:   # EOF: report, then close, as the seed server does
                    report(ascii_text(received))
                sel.unregister(sock)
                sock.close()


# -- threading -------------------------------------------------------------

class SeedHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        parts = []
        while True:
            try:
                data = sock.recv(1024)
            except ConnectionResetError:
                return
            if not data:
                break
            parts.append(ascii_text(data))
        report("".join(parts))


class SeedThreadingServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def process_request(self, request, client_address):
        console("Waiting for a connection...")
        super().process_request(request, client_address)


def serve_threading(host, port, backlog):
    console(f"Local address and port : {host}:{port}")
    SeedThreadingServer.request_queue_size = backlog
    server = SeedThreadingServer((host, port), SeedHandler)
    if port == 0:
        console(f"Local address and port : {host}:{server.server_address[1]}")
    console("Waiting for a connection...")

    def stop(signum, frame):
        # shutdown() blocks until serve_forever returns: call it off the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with server:
        server.serve_forever(poll_interval=0.2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["asyncio", "threading", "raw"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--backlog", type=int, default=128)
    args = parser.parse_args(argv)
    if args.kind == "asyncio":
        asyncio.run(serve_asyncio(args.host, args.port, args.backlog))
    elif args.kind == "raw":
        serve_raw(args.host, args.port, args.backlog)
    else:
        serve_threading(args.host, args.port, args.backlog)
    return 0


if __name__ == "__main__":
    sys.exit(main())
