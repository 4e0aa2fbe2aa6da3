"""TCP for the Twisted clients: request lines out, replies back, over one connection.

tcp_session sends each request and prints its reply, one at a time; tcp_greeting is
ex0's: it sends nothing and prints what comes until the server closes. Below them, the
protocols: LineClient (Twisted's LineReceiver, framing replies on "\\n", with the rule
for bare replies) and Greeting.
"""

import socket
import sys
from collections import deque

from twisted.internet import error
from twisted.internet.defer import Deferred, TimeoutError
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.protocols.basic import LineReceiver

from twisted_impl import session
from twisted_impl.client import ClientError, show
from twisted_impl.wire import PAUSE


async def tcp_session(reactor, args, requests):
    """Send each request over one connection, print each reply; the exit status."""
    # One connection carries every request, one at a time: send, wait for the reply.
    line_client = await connect(reactor, args.host, args.port, args.timeout, LineClient(reactor))
    status = 0
    try:
        async for request in requests:
            reply = await ask(reactor, line_client, request, args.host, args.port, args.timeout)
            if show(reply):
                status = 1  # an ERROR reply: say so at the end, but go on with the next
    finally:
        line_client.transport.loseConnection()  # the lecture's close()
    return status


async def tcp_greeting(reactor, args):
    """ex0: print everything the server sends until it closes; the exit status."""
    # Nothing to send: connecting is the request, and the server's close ends the reply.
    greeting = await connect(reactor, args.host, args.port, args.timeout, Greeting())
    try:
        everything = await greeting.closed.addTimeout(args.timeout, reactor)
    except TimeoutError:  # time is up and the connection is still open
        greeting.transport.abortConnection()
        everything = greeting.received()
        if not everything:
            raise ClientError(f"no reply from {args.host} port {args.port} "
                              f"within {args.timeout:g} seconds") from None
        # It greeted but never closed: show what came all the same.
    else:
        if not everything:
            raise ClientError(f"{args.host} port {args.port} "
                              "closed the connection without replying")
    return 1 if show(everything) else 0


async def connect(reactor, host, port, timeout, protocol):
    """Open the TCP connection (the lecture's socket() and connect()); the protocol."""
    address, port = await session.resolve(reactor, host, port, socket.SOCK_STREAM)
    endpoint_type = TCP6ClientEndpoint if ":" in address else TCP4ClientEndpoint
    # The endpoint's timeout bounds connect(): a silent network must not hang us.
    endpoint = endpoint_type(reactor, address, port, timeout=timeout)
    try:
        return await connectProtocol(endpoint, protocol)
    except (error.ConnectError, OSError) as failure:
        raise ClientError(connect_failure(failure, host, port, timeout)) from None


def connect_failure(failure, host, port, timeout):
    """The one line that tells why the TCP connection could not be made."""
    where = f"cannot connect to {host} port {port}"
    if isinstance(failure, error.ConnectionRefusedError):
        return f"{where}: connection refused (is the server running?)"
    if isinstance(failure, error.TimeoutError):
        return f"{where}: timed out after {timeout:g} seconds"
    # Twisted's ConnectError carries the system's own words (strerror) as its argument.
    reason = failure.args[0] if failure.args and failure.args[0] else failure.__doc__
    return f"{where}: {reason}"


async def ask(reactor, line_client, request, host, port, timeout):
    """Send one request line over TCP and return its reply (see LineClient.ask)."""
    try:
        return await line_client.ask(request).addTimeout(timeout, reactor)
    except TimeoutError:
        # Time is up: bytes that came by then, without "\n" or a pause, are the reply.
        reply = line_client.take_unended()
        if reply:
            return reply
        raise ClientError(f"no reply from {host} port {port} within {timeout:g} seconds") from None
    except error.ConnectionClosed:
        raise ClientError(f"{host} port {port} closed the connection without replying") from None


class LineClient(LineReceiver):
    """Sends request lines; hands back each reply, framed as the wire contract says.

    TCP is a byte stream: one dataReceived is not one message. A reply ends at "\\n"
    (LineReceiver cuts the lines, on b"\\n" alone, not its default b"\\r\\n"); the bytes
    after it belong to the next reply, so they are kept. A server written like the
    lecture's frames nothing: its reply is bare, and ends when the server closes after
    sending it, or when it pauses PAUSE seconds after it. One request at a time: the
    caller waits for each reply before asking again.

    LineReceiver rather than LineOnlyReceiver: its clearLineBuffer() hands out the bytes
    after the last "\\n" (a bare reply), which LineOnlyReceiver keeps private. (The
    servers frame on their own, twisted_impl/lineserver.py says why.)
    """

    delimiter = b"\n"
    # A reply line is as long as the server makes it (LineReceiver's default would hang
    # up at 16 KB): the timeout bounds the wait for it.
    MAX_LENGTH = sys.maxsize

    def __init__(self, clock):
        self.clock = clock  # the reactor, or a test's Clock: for the pause
        self._lines = deque()  # reply lines received and not handed out yet, without "\n"
        self._partial = False  # bytes after the last "\n" wait in LineReceiver's buffer
        self._waiting = None  # the Deferred of the reply asked for, or None
        self._pause = None  # the timer ending a bare reply: set only while one may come
        self._ended = None  # once the connection is gone: the Failure that says why

    def ask(self, request):
        """Send one request line; a Deferred fires with its reply, without "\\n".

        It fails with the reason of the close when the server closes without sending
        a byte of it.
        """
        self.sendLine(request)  # ignored once closed: a reply may still be here
        reply = self._waiting = Deferred(canceller=self._forget)
        self._deliver()  # it may be here already, or the connection gone
        self._watch_pause(restart=False)
        return reply

    def dataReceived(self, data):
        super().dataReceived(data)  # calls lineReceived for each whole line
        # What LineReceiver keeps is what follows the last "\n" it was given.
        self._partial = not data.endswith(b"\n")
        self._watch_pause(restart=True)  # a bare reply ends PAUSE after its last byte

    def lineReceived(self, line):
        if line.endswith(b"\r"):
            line = line[:-1]  # a "\r\n" line end (telnet-style servers) is not text either
        self._lines.append(line)
        self._deliver()

    def connectionLost(self, reason):
        self._ended = reason
        self._deliver()

    def _deliver(self):
        """Hand out the awaited reply, or say the connection ended without it."""
        if self._waiting is None:
            return
        if self._lines:
            self._hand_out(self._lines.popleft())
        elif self._ended is not None:
            bare = self.take_unended()  # the server sent it, then closed
            if bare:
                self._hand_out(bare)
            else:
                waiting, self._waiting = self._waiting, None
                self._watch_pause(restart=False)
                waiting.errback(self._ended)

    def _watch_pause(self, restart):
        """Time the pause only while a reply is awaited and bytes without "\\n" came."""
        if self._waiting is None or not self._partial or self._ended is not None:
            if self._pause is not None:
                self._pause.cancel()
                self._pause = None
        elif self._pause is None:
            self._pause = self.clock.callLater(PAUSE, self._paused)
        elif restart:
            self._pause.reset(PAUSE)

    def _paused(self):
        """The server paused after bytes without "\\n": they are the reply."""
        self._pause = None
        self._hand_out(self.take_unended())

    def take_unended(self):
        """Take the bytes received after the last "\\n": a reply that has not ended yet."""
        self._partial = False
        return self.clearLineBuffer()

    def _hand_out(self, reply):
        waiting, self._waiting = self._waiting, None
        self._watch_pause(restart=False)
        waiting.callback(reply)  # may ask the next one at once, from here

    def _forget(self, waiting):
        """The wait was cancelled (timed out): no reply is awaited any more."""
        self._waiting = None
        self._watch_pause(restart=False)


class Greeting(Protocol):
    """ex0: keeps every byte the server sends; closed fires with them when it closes."""

    def __init__(self):
        self.closed = Deferred()
        self._pieces = []

    def received(self):
        """The bytes received so far."""
        return b"".join(self._pieces)

    def dataReceived(self, data):
        self._pieces.append(data)

    def connectionLost(self, reason):
        self.closed.callback(self.received())
