"""The Twisted clients' machinery: a client script parses its command line (common.py),
then calls run_tcp, run_tcp_until_closed or run_udp here, which loads Twisted.

A session, session(reactor, args), is a coroutine that does the client's work and
returns its exit status; run() runs one with task.react. Nothing blocks the reactor:
standard input is read, and host names looked up, in threads (see in_thread).
"""

import errno
import os
import signal
import socket
import sys
import threading
from collections import deque

from twisted.internet import error, task
from twisted.internet.defer import Deferred, TimeoutError, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, connectProtocol
from twisted.internet.protocol import DatagramProtocol, Protocol
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from twisted_impl.common import PAUSE, ClientError, show

TRIES = 3  # a UDP request is sent this many times before the client gives up
MAX_DATAGRAM = 65535  # the largest UDP payload: a reply datagram is read whole
READ_SIZE = 65536  # bytes asked for by one read of standard input


def run_tcp(args, prompt=""):
    """A TCP client: send args.requests (None: the lines of standard input, with prompt
    for a person typing) over one connection, print each reply, exit."""
    run(args, lambda reactor, args: tcp_session(reactor, args, requests(reactor, args, prompt)))


def run_tcp_until_closed(args):
    """ex0's TCP client: connect, print what comes until the server closes, exit."""
    run(args, tcp_greeting)


def run_udp(args, prompt=""):
    """A UDP client: each request is one datagram, from a port of its own (see run_tcp)."""
    run(args, lambda reactor, args: udp_session(reactor, args, requests(reactor, args, prompt)))


def run(args, session):
    """Run session(reactor, args) with task.react, and exit with its status."""
    task.react(main, (session, args))


def main(reactor, session, args):
    """task.react's main: run the session; Ctrl+C ends it at once, quietly, status 130."""
    outcome = Deferred()
    interrupted = False

    def settle(result):
        if outcome.called:
            return
        if interrupted:  # even when the session ended before its news got here
            result = 130
        if isinstance(result, Failure):
            outcome.errback(result)
        elif result:
            outcome.errback(SystemExit(result))  # how task.react is told a status
        else:
            outcome.callback(None)

    def interrupt():
        settle(130)
        running.cancel()  # and nothing more from it: no line about a lost connection

    def on_ctrl_c(signum, frame):
        nonlocal interrupted
        interrupted = True
        reactor.callFromThread(interrupt)  # the safe way out of a signal handler

    # Installed before the reactor runs, so that Twisted keeps this one; and only where
    # Python would raise KeyboardInterrupt: a SIGINT ignored (as for a shell's
    # background job) stays ignored, as in basic/.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_ctrl_c)
    running = Deferred.fromCoroutine(reported(session(reactor, args)))
    running.addBoth(settle)
    return outcome


async def reported(session):
    """Await the session; turn a ClientError into its line on standard error."""
    try:
        return await session
    except ClientError as failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # stdout closed early, as by "| head -1": stop quietly
        # Point stdout at devnull so that Python's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def requests(reactor, args, prompt):
    """The requests: the ones given as arguments, or the lines of standard input."""
    if args.requests is None:
        return stdin_lines(reactor, prompt)
    return given(args.requests)


async def resolve(reactor, host, port, socktype):
    """The server's (address, port), as basic's clients find it: IPv6 when the host holds
    ":", IPv4 otherwise; looked up in a thread (it blocks). Twisted's UDP needs an
    address, not a name, spelled as replies will show it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        found = await in_thread(reactor, socket.getaddrinfo, host, port, family, socktype)
    except OSError as failure:
        raise ClientError(f"cannot connect to {host} port {port}: {failure.strerror or failure}")
    return found[0][4][:2]


# TCP: request lines out, replies back, over one connection.

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
    address, port = await resolve(reactor, host, port, socket.SOCK_STREAM)
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
    (on b"\\n" alone, not LineReceiver's default b"\\r\\n"); the bytes after it are the
    next reply's. The lecture's server frames nothing: its bare reply ends when the
    server closes, or pauses PAUSE seconds. LineReceiver, not LineOnlyReceiver: its
    clearLineBuffer() hands out the bytes after the last "\\n" (a bare reply).
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
        """Send one request line; a Deferred fires with its reply, without "\\n", or fails
        with the reason of the close when the server closes without sending a byte."""
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
        return b"".join(self._pieces)

    def dataReceived(self, data):
        self._pieces.append(data)

    def connectionLost(self, reason):
        self.closed.callback(self.received())


# UDP: each request one datagram, each reply one datagram.

async def udp_session(reactor, args, requests):
    """Send each request as a datagram, print each reply; the exit status."""
    server = await resolve(reactor, args.host, args.port, socket.SOCK_DGRAM)
    status = 0
    async for request in requests:
        reply = await udp_ask(reactor, server, request, args.host, args.port, args.timeout)
        if show(reply):
            status = 1  # an ERROR reply: say so at the end, but go on with the next
    return status


async def udp_ask(reactor, server, request, host, port, timeout):
    """Send one request datagram, up to TRIES times; return the reply datagram. Each
    request has a port of its own: a late reply to a lost one can never be taken for
    the next one's."""
    catcher = ReplyCatcher(reactor, server)
    interface = "::" if ":" in server[0] else "0.0.0.0"
    try:
        listening = reactor.listenUDP(0, catcher, interface=interface, maxPacketSize=MAX_DATAGRAM)
    except error.CannotListenError as failure:  # no IPv6 on this computer, say
        reason = failure.socketError.strerror or failure.socketError
        raise ClientError(f"cannot connect to {host} port {port}: {reason}") from None
    try:
        for _ in range(TRIES):
            try:
                listening.write(request, server)
            except (ConnectionRefusedError, ConnectionResetError):
                pass  # an earlier try was refused (Windows says so here): a lost try
            except error.MessageLengthError:  # more than one datagram can hold
                reason = os.strerror(errno.EMSGSIZE)
                raise ClientError(f"cannot connect to {host} port {port}: {reason}") from None
            except OSError as failure:  # no route to the server, say
                reason = failure.strerror or failure
                raise ClientError(f"cannot connect to {host} port {port}: {reason}") from None
            reply = await catcher.wait(timeout / TRIES)
            if reply is not None:
                return reply
    finally:
        listening.stopListening()
    raise ClientError(f"no reply from {host} port {port} after {TRIES} tries in "
                      f"{timeout:g} seconds (is the server running?)")


class ReplyCatcher(DatagramProtocol):
    """Keeps the first datagram that comes from the server; others are not replies."""

    def __init__(self, reactor, server):
        self.reactor = reactor
        self.server = server
        self.reply = None
        self._waiting = None

    def datagramReceived(self, data, addr):
        if addr[:2] != self.server or self.reply is not None:
            return
        self.reply = data
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            waiting.callback(data)

    def wait(self, seconds):
        """A Deferred that fires with the reply, or with None when seconds have passed."""
        if self.reply is not None:
            return succeed(self.reply)
        self._waiting = Deferred(canceller=self._forget)
        return self._waiting.addTimeout(seconds, self.reactor, onTimeoutCancel=lambda *_: None)

    def _forget(self, waiting):
        self._waiting = None


# Standard input: one request per line, read without blocking.
#
# Why not Twisted's own StandardIO? It cannot read a regular file on Linux (python3 -m ...
# < requests.txt: epoll refuses a file), it switches the terminal's file to non-blocking
# mode (which the shell then shares), and it reads on without waiting for the replies.

async def stdin_lines(reactor, prompt, stdin=None):
    """Yield each line of standard input as bytes (passed on exactly as read), without
    its line ending, one at a time as the client asks, so that the prompt (for a person
    at a keyboard, not a pipe) shows after the previous reply. stdin: for the tests."""
    if stdin is None:
        if sys.stdin is None:  # standard input closed (<&-): an empty input, no request
            return
        # The raw file, not sys.stdin.buffer: a buffered file holds a lock while it
        # waits for the keyboard, and Python's exit after a Ctrl+C would abort on it.
        stdin = sys.stdin.buffer.raw
    interactive = stdin.isatty()
    lines = LineReader(reactor, stdin)
    while True:
        if interactive:
            sys.stdout.write(prompt)
            sys.stdout.flush()
        line = await lines.readline()
        if not line:  # end of input; a last line without "\n" still came through above
            return
        if line.endswith(b"\n"):
            line = line[:-1]
            if line.endswith(b"\r"):
                line = line[:-1]
        yield line


async def given(requests):
    """The requests given as arguments, in the shape stdin_lines has."""
    for request in requests:
        yield request


class LineReader:
    """The lines of a raw binary file, read in threads as they are asked for; in linear
    time whatever the line length (each piece is searched and joined once)."""

    def __init__(self, reactor, raw):
        self._reactor = reactor
        self._raw = raw
        self._lines = deque()  # whole lines read and not handed out yet, "\n" included
        self._pieces = []  # the start of the next line, read but without its "\n" yet
        self._ended = False

    async def readline(self):
        """The next line, "\\n" included; the last one may lack it; b"" at the end."""
        while not self._lines and not self._ended:
            chunk = await in_thread(self._reactor, self._raw.read, READ_SIZE)
            if not chunk:  # the end: what is left is the last line, without "\n"
                self._ended = True
                if self._pieces:
                    self._lines.append(b"".join(self._pieces))
                    self._pieces = []
                break
            *whole, rest = chunk.split(b"\n")
            for line in whole:
                self._pieces.append(line)
                self._lines.append(b"".join(self._pieces) + b"\n")
                self._pieces = []
            if rest:
                self._pieces.append(rest)
        return self._lines.popleft() if self._lines else b""


def in_thread(reactor, function, *args):
    """A Deferred that fires with function(*args), run in a daemon thread of its own (for
    reading standard input and looking up a name). Not deferToThread: the reactor's pool
    is joined at its stop, and a thread waiting for the keyboard would block a Ctrl+C."""
    result = Deferred()

    def settle(outcome):
        if not result.called:  # not cancelled meanwhile (Ctrl+C)
            if isinstance(outcome, Failure):
                result.errback(outcome)
            else:
                result.callback(outcome)

    def work():
        try:
            outcome = function(*args)
        except BaseException:
            outcome = Failure()
        reactor.callFromThread(settle, outcome)

    threading.Thread(target=work, daemon=True).start()
    return result
