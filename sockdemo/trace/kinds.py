"""The kinds of trace event: the trace contract, named once.

Mirrors nothing in .NET directly; it is what the page would show if every
``Begin*``, ``End*``, callback entry and ``ManualResetEvent`` call left a
note. Every emitter and every view spells a kind with one of these names, so
a kind is renamed, or found, in one place. The values are the strings a trace
file carries (and a notebook may write ``"message"`` as well as ``MESSAGE``).

What ``info`` carries for each (``conn`` and ``nbytes`` are fields of the Event):

==============  ==============================================================
kind            meaning
==============  ==============================================================
begin           ``begin_<op>`` called; info: op, id (flow id to its callback),
                callback (its function name)
accept          an accept completed; conn is the new connection; info: id, peer
chunk           a receive completed with ``nbytes`` > 0 bytes; info: id, data
                (a preview of the bytes)
eof             a receive completed with 0 bytes (the peer half-closed); info: id
sent            a send completed with ``nbytes``; info: id
connected       a connect completed; info: id
op_error        an operation completed with an error; info: op, id, error
ready           the engine saw the socket of a pending operation ready and
                queued it to the pool, where a worker performs it (.NET 6+,
                and the Framework's accept begun off the pool, whose
                WSAEventSelect wait a pool worker picks up); info: op, id
callback_start  a worker entered a callback; info: name, id
callback_end    the callback returned or raised; info: name, id, and
                ``cut: true`` when the run stopped while it was still running
end             ``end_<op>`` returned (nbytes: what it returned, for receive and
                send) or raised (info: error); info: op, id
set, reset      ``ManualResetEvent.set``/``reset``; info: event
wait, wake      a thread started / stopped waiting in ``wait_one``;
                info: event, timeout, (wake) signaled, interrupted (the runtime
                stopped)
listen          ``Socket.listen``; info: endpoint, backlog
sleep           ``Thread.Sleep``; info: seconds
console         ``Console.WriteLine``; info: text
message         the server finished a message; info: text
close           a socket was closed
shutdown        ``Socket.shutdown``; info: how
error           the server's own error report or an unhandled callback error;
                info: error, where (the callback it escaped), limit (when a
                limit of the fixed or echo server closed the connection:
                idle_timeout, message_timeout, max_message)
limit           the fixed or echo server paused or resumed accepting at its
                connection cap; info: limit (max_connections), value, action
                (paused, resumed)
accept_error    an accept failed and the server went on; info: error, action
                (retry: at once, pause: after a pause, recovered, stop)
client_*        the client fleet's steps, each with info port (the client's
                local port; the trace joins it to the server's conn when read):
                connect, connected, send (nbytes), shutdown, recv, eof, close,
                reset, timeout, error
hook_error      a hook raised and was unsubscribed; info: hook, error
==============  ==============================================================
"""

BEGIN = "begin"
END = "end"

ACCEPT = "accept"
CHUNK = "chunk"
EOF = "eof"
SENT = "sent"
CONNECTED = "connected"
OP_ERROR = "op_error"
READY = "ready"
#: An operation finished: each is traced where it finished and carries its op id.
COMPLETIONS = frozenset({ACCEPT, CHUNK, EOF, SENT, CONNECTED, OP_ERROR})

CALLBACK_START = "callback_start"
CALLBACK_END = "callback_end"

SET = "set"
RESET = "reset"
WAIT = "wait"
WAKE = "wake"

LISTEN = "listen"
SLEEP = "sleep"
CONSOLE = "console"
MESSAGE = "message"
CLOSE = "close"
SHUTDOWN = "shutdown"
ERROR = "error"
LIMIT = "limit"
ACCEPT_ERROR = "accept_error"
HOOK_ERROR = "hook_error"

CLIENT_PREFIX = "client_"
CLIENT_CONNECT = "client_connect"
CLIENT_CONNECTED = "client_connected"
CLIENT_SEND = "client_send"
CLIENT_SHUTDOWN = "client_shutdown"
CLIENT_RECV = "client_recv"
CLIENT_EOF = "client_eof"
CLIENT_CLOSE = "client_close"
CLIENT_RESET = "client_reset"
CLIENT_TIMEOUT = "client_timeout"
CLIENT_ERROR = "client_error"


# What a scheduling point may announce that is no event (the simulator's
# choices, sim.choices): a thread starting, resuming after a sleep, a pool
# worker taking a callback or performing an operation (.NET 6+), an actor.
START = "start"
RESUME = "resume"
TAKE = "take"
PERFORM = "perform"
ACT = "act"


def is_client(kind: str) -> bool:
    """A step of a client, not of the server."""
    return kind.startswith(CLIENT_PREFIX)
