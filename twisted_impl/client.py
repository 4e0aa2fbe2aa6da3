"""The Twisted clients' machinery: a client script parses its command line (common.py),
then calls run_tcp, run_tcp_until_closed or run_udp here, which loads Twisted.

A session, session(reactor, args), is a coroutine that does the client's work and
returns its exit status; task.react runs it. Nothing blocks the reactor: standard input
is read, and host names looked up, in threads (see in_thread).
"""

import errno
import os
import signal
import socket
import sys
import threading
from collections import deque

from twisted.internet import error, task
from twisted.internet.defer import Deferred, DeferredQueue, TimeoutError
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, connectProtocol
from twisted.internet.protocol import DatagramProtocol, Protocol
from twisted.protocols.basic import LineReceiver
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from twisted_impl.common import PAUSE, ClientError, show

TRIES = 3  # a UDP request is sent this many times before the client gives up
MAX_DATAGRAM = 65535  # the largest UDP payload: a reply datagram is read whole
READ_SIZE = 65536  # bytes asked for by one read of standard input


def run_tcp(args, prompt=""):
    """Send args.requests (None: the lines of standard input, with prompt for a person
    typing) over one connection, print each reply, exit."""
    task.react(main, (with_requests(tcp_session, prompt), args))


def run_tcp_until_closed(args):
    """ex0's TCP client: connect, print what comes until the server closes, exit."""
    task.react(main, (tcp_greeting, args))


def run_udp(args, prompt=""):
    """As run_tcp, each request one datagram."""
    task.react(main, (with_requests(udp_session, prompt), args))


def main(reactor, session, args):
    """task.react's main: run the session, its status the exit status; a ClientError is
    its one line on stderr, status 1; Ctrl+C ends it at once, quietly, status 130."""
    interrupted = False

    def on_ctrl_c(signum, frame):
        nonlocal interrupted
        interrupted = True  # counts even when the session ends before the reactor hears
        reactor.callFromThread(lambda: running.cancel())  # the safe way out of a handler

    def exit_status(result):
        if interrupted:  # and no line about a lost connection
            return Failure(SystemExit(130))
        if isinstance(result, Failure):
            if result.check(ClientError):
                print(f"error: {result.value}", file=sys.stderr)
            elif result.check(BrokenPipeError):  # stdout closed early, as by "| head -1"
                # Point stdout at devnull so that Python's final flush does not complain.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            else:
                return result  # a bug: its traceback is shown
            result = 1
        return Failure(SystemExit(result)) if result else None  # how task.react takes a status

    # Installed before the reactor runs, so that Twisted keeps this one; and only where
    # Python would raise KeyboardInterrupt: a SIGINT ignored (a shell's background job)
    # stays ignored, as in basic/.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_ctrl_c)
    running = Deferred.fromCoroutine(session(reactor, args))
    return running.addBoth(exit_status)


def with_requests(session, prompt):
    """session(reactor, args, requests) as a session(reactor, args): its requests are
    args.requests, or (when None) the lines of standard input."""
    def started(reactor, args):
        if args.requests is None:
            return session(reactor, args, stdin_lines(reactor, prompt))
        return session(reactor, args, given(args.requests))
    return started


async def given(requests):
    """The requests given as arguments, in the shape stdin_lines has."""
    for request in requests:
        yield request


async def answer_each(requests, ask):
    """Print the reply ask(request) gives to each request; the exit status."""
    status = 0
    async for request in requests:
        if show(await ask(request)):
            status = 1  # an ERROR reply: say so at the end, but go on with the next
    return status


def cannot_connect(host, port, reason):
    return ClientError(f"cannot connect to {host} port {port}: {reason}")


async def resolve(reactor, host, port, socktype):
    """The server's (address, port), as basic's clients find it: IPv6 when the host holds
    ":", IPv4 otherwise; looked up in a thread (it blocks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        found = await in_thread(reactor, socket.getaddrinfo, host, port, family, socktype)
    except OSError as failure:
        raise cannot_connect(host, port, failure.strerror or failure)
    return found[0][4][:2]


# TCP: request lines out, replies back, over one connection.

async def tcp_session(reactor, args, requests):
    """Send each request over one connection, one at a time: send, wait for the reply,
    print it; the exit status."""
    line_client = await connect(reactor, args.host, args.port, args.timeout, LineClient(reactor))
    try:
        return await answer_each(requests, lambda request: ask(
            reactor, line_client, request, args.host, args.port, args.timeout))
    finally:
        line_client.transport.loseConnection()  # the lecture's close()


async def tcp_greeting(reactor, args):
    """ex0: print everything the server sends until it closes; the exit status."""
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
    if not everything:
        raise ClientError(f"{args.host} port {args.port} closed the connection without replying")
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
    if isinstance(failure, error.ConnectionRefusedError):
        reason = "connection refused (is the server running?)"
    elif isinstance(failure, error.TimeoutError):
        reason = f"timed out after {timeout:g} seconds"
    else:  # Twisted's ConnectError carries the system's own words (strerror)
        reason = failure.args[0] if failure.args and failure.args[0] else failure.__doc__
    return str(cannot_connect(host, port, reason))


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


class LineClient(LineReceiver, TimeoutMixin):
    """Sends request lines; hands back each reply, framed as the wire contract says.

    TCP is a byte stream: one dataReceived is not one message. A reply ends at "\\n"
    (not LineReceiver's default b"\\r\\n"). The lecture's server frames nothing: its
    bare reply ends when the server closes, or pauses PAUSE seconds (TimeoutMixin's
    timeout, running only while a reply is awaited and bytes without "\\n" came).
    """

    delimiter = b"\n"
    MAX_LENGTH = sys.maxsize  # not LineReceiver's 16 KB: the timeout bounds the wait

    def __init__(self, clock):
        self.callLater = clock.callLater  # the reactor's, or a test's Clock's: the pause
        self._lines = deque()  # reply lines received and not handed out yet, without "\n"
        self._partial = False  # bytes after the last "\n" wait in LineReceiver's buffer
        self._waiting = None  # the Deferred of the reply asked for, or None
        self._ended = None  # once the connection is gone: the Failure that says why

    def ask(self, request):
        """Send one request line; a Deferred fires with its reply, without "\\n", or fails
        when the server closes without sending a byte."""
        self.sendLine(request)  # ignored once closed: a reply may still be here
        reply = self._waiting = Deferred(canceller=lambda _: self._hand_out(None))
        self._deliver()  # it may be here already, or the connection gone
        self._watch_pause()
        return reply

    def dataReceived(self, data):
        super().dataReceived(data)  # calls lineReceived for each whole line
        self._partial = not data.endswith(b"\n")  # LineReceiver keeps what follows
        self._watch_pause()  # a bare reply ends PAUSE after its last byte

    def lineReceived(self, line):
        if line.endswith(b"\r"):
            line = line[:-1]  # a "\r\n" line end (telnet-style servers)
        self._lines.append(line)
        self._deliver()

    def connectionLost(self, reason):
        self._ended = reason
        self._deliver()

    def _deliver(self):
        if self._waiting is not None and self._lines:
            self._hand_out(self._lines.popleft())
        elif self._waiting is not None and self._ended is not None:
            self._hand_out(self.take_unended() or self._ended)  # bare, then closed; or none

    def _watch_pause(self):
        """Time the pause (from the last byte) only while it can end a bare reply."""
        armed = self._waiting is not None and self._partial and self._ended is None
        self.setTimeout(PAUSE if armed else None)

    def timeoutConnection(self):  # the server paused after bytes without "\n"
        self._hand_out(self.take_unended())

    def take_unended(self):
        """The bytes received after the last "\\n": a reply that has not ended yet."""
        self._partial = False
        return self.clearLineBuffer()

    def _hand_out(self, reply):
        """Fire the awaited Deferred with reply (None: cancelled, timed out)."""
        waiting, self._waiting = self._waiting, None
        self._watch_pause()
        if reply is not None:
            fire(waiting, reply)  # may ask the next one at once, from here


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
    server = await resolve(reactor, args.host, args.port, socket.SOCK_DGRAM)
    return await answer_each(requests, lambda request: udp_ask(
        reactor, server, request, args.host, args.port, args.timeout))


async def udp_ask(reactor, server, request, host, port, timeout):
    """Send one request datagram, up to TRIES times; return the reply datagram. Each
    request has a port of its own: a late reply to a lost one can never be taken for
    the next one's."""
    catcher = ReplyCatcher(server)
    interface = "::" if ":" in server[0] else "0.0.0.0"
    try:
        listening = reactor.listenUDP(0, catcher, interface=interface, maxPacketSize=MAX_DATAGRAM)
    except error.CannotListenError as failure:  # no IPv6 on this computer, say
        raise cannot_connect(host, port,
                             failure.socketError.strerror or failure.socketError) from None
    try:
        for _ in range(TRIES):
            try:
                listening.write(request, server)
            except (ConnectionRefusedError, ConnectionResetError):
                pass  # an earlier try was refused (Windows says so here): a lost try
            except error.MessageLengthError:  # more than one datagram can hold
                raise cannot_connect(host, port, os.strerror(errno.EMSGSIZE)) from None
            except OSError as failure:  # no route to the server, say
                raise cannot_connect(host, port, failure.strerror or failure) from None
            # A reply to any try counts, even one that comes late, during the next try.
            reply = await catcher.replies.get().addTimeout(
                timeout / TRIES, reactor, onTimeoutCancel=lambda *_: None)
            if reply is not None:
                return reply
    finally:
        listening.stopListening()
    raise ClientError(f"no reply from {host} port {port} after {TRIES} tries in "
                      f"{timeout:g} seconds (is the server running?)")


class ReplyCatcher(DatagramProtocol):
    """Queues the datagrams that come from the server (others are not replies)."""

    def __init__(self, server):
        self.server = server
        self.replies = DeferredQueue()

    def datagramReceived(self, data, addr):
        if addr[:2] == self.server:
            self.replies.put(data)


# Standard input: one request per line, read without blocking.
#
# Why not Twisted's own StandardIO? It cannot read a regular file on Linux (python3 -m ...
# < requests.txt: epoll refuses a file), it switches the terminal's file to non-blocking
# mode (which the shell then shares), and it reads on without waiting for the replies.

async def stdin_lines(reactor, prompt, stdin=None):
    """Yield each line of standard input, as read but without its line ending, one at a
    time as the client asks: the prompt (on a terminal) shows after the last reply."""
    if stdin is None:
        if sys.stdin is None:  # standard input closed (<&-): an empty input, no request
            return
        # The raw file, not sys.stdin.buffer: a buffered file holds a lock while it
        # waits for the keyboard, and Python's exit after a Ctrl+C would abort on it.
        stdin = sys.stdin.buffer.raw
    interactive = stdin.isatty()

    def show_prompt():
        if interactive:
            sys.stdout.write(prompt)
            sys.stdout.flush()

    show_prompt()
    start = []  # the start of the next line, read but without its "\n" yet
    # Each piece read is searched and joined once: a line of any length in linear time.
    while piece := await in_thread(reactor, stdin.read, READ_SIZE):
        *ends, rest = piece.split(b"\n")
        for end in ends:
            line = b"".join(start + [end])
            start = []
            yield line[:-1] if line.endswith(b"\r") else line  # "\r\n" ends a line too
            show_prompt()
        if rest:
            start.append(rest)
    if start:  # a last line without "\n"
        yield b"".join(start)
        show_prompt()


def in_thread(reactor, function, *args):
    """A Deferred that fires with function(*args), run in a daemon thread of its own (for
    reading standard input and looking up a name). Not deferToThread: the reactor's pool
    is joined at its stop, and a thread waiting for the keyboard would block a Ctrl+C."""
    result = Deferred()

    def work():
        try:
            outcome = function(*args)
        except BaseException:
            outcome = Failure()
        # Unless cancelled meanwhile (Ctrl+C): then nobody waits for it.
        reactor.callFromThread(lambda: result.called or fire(result, outcome))

    threading.Thread(target=work, daemon=True).start()
    return result


def fire(deferred, outcome):
    """Fire deferred with outcome: its errback for a Failure, else its callback."""
    (deferred.errback if isinstance(outcome, Failure) else deferred.callback)(outcome)
