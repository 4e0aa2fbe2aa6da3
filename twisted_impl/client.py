"""The client runner shared by the eight Twisted clients: written once, used by each.

A client script only says what it sends (its arguments, or the lines of standard input)
and calls run_tcp, run_tcp_until_closed or run_udp. This module does the rest, exactly as
the basic/ clients do it: the command line options, the TCP line protocol, the UDP
request with retries, reading standard input, printing replies, and the one line on
standard error, with its exit status, for every way the server can fail us.

Everything here is event-driven: task.react runs the reactor until the client's Deferred
fires, and nothing blocks the reactor: standard input is read, and host names are looked
up, in threads.
"""

import argparse
import errno
import math
import os
import queue
import signal
import socket
import sys
import threading


def _quit_quietly(signum, frame):
    sys.exit(130)


# Loading Twisted takes a third of a second, more on a busy machine: a Ctrl+C meanwhile
# should end a client as quietly as a later one does (the handler is put back below).
_CTRL_C = signal.getsignal(signal.SIGINT)
if _CTRL_C is signal.default_int_handler and threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, _quit_quietly)

from twisted.internet import error, task, threads
from twisted.internet.defer import Deferred, TimeoutError, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, connectProtocol
from twisted.internet.protocol import DatagramProtocol, Protocol
from twisted.python.failure import Failure

if signal.getsignal(signal.SIGINT) is _quit_quietly:
    signal.signal(signal.SIGINT, _CTRL_C)

HOST = "127.0.0.1"  # the server's address; loopback: this computer only
TIMEOUT = 5  # seconds to wait for the server: a client must never hang forever
TRIES = 3  # a UDP request is sent this many times before the client gives up
MAX_DATAGRAM = 65535  # the largest UDP payload: a reply datagram is read whole


class ClientError(Exception):
    """A failure told as one line on standard error, with exit status 1."""


# The command line, as in basic/.


def seconds(text):
    """argparse type for --timeout: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return value


def port_number(text):
    """argparse type for --port: 0 to 65535 (anything else makes socket raise)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {text!r}")
    return value


def make_parser(description, epilog, port):
    """An argument parser with the options every client has: --host, --port, --timeout."""
    parser = argparse.ArgumentParser(description=description, epilog=epilog)
    parser.add_argument("--host", default=HOST, help=f"the server's address (default {HOST})")
    parser.add_argument("--port", type=port_number, default=port,
                        help=f"the server's port (default {port})")
    parser.add_argument("--timeout", type=seconds, default=TIMEOUT, metavar="SECONDS",
                        help=f"seconds to wait for the server (default {TIMEOUT})")
    return parser


def single_line(parser, name, value):
    """The bytes of an argument that will be sent as one request; a line break is refused."""
    if "\n" in value or "\r" in value:
        parser.error(f"{name} must be a single line")
    # os.fsencode gives back the very bytes typed, even ones that are not UTF-8.
    return os.fsencode(value)


# Standard input: one request per line.


class StdinReader:
    """Reads standard input a line at a time, in a daemon thread of its own.

    A thread because reading the keyboard blocks, and Twisted's StandardIO cannot read a
    regular file (python3 -m ... < requests.txt) on Linux. A daemon thread, not
    deferToThread: the reactor's thread pool is joined when the reactor stops, and a
    thread still waiting for the keyboard would keep a Ctrl+C'd client from exiting.
    And raw reads with our own line splitting, not sys.stdin.buffer.readline: that one
    holds a lock while it waits, and Python's exit after Ctrl+C would abort on it.
    """

    def __init__(self, reactor, stdin):
        self._reactor = reactor
        self._stdin = stdin  # unbuffered (raw): the bytes as they come
        self._pending = b""  # read, but after the line handed out
        self._asks = queue.SimpleQueue()
        threading.Thread(target=self._work, daemon=True).start()

    def readline(self):
        """A Deferred that fires with the next line, "\\n" included; b"" at the end."""
        line = Deferred()
        self._asks.put(line)
        return line

    def stop(self):
        """Let the thread end: no more lines will be asked for."""
        self._asks.put(None)

    def _work(self):
        while (line := self._asks.get()) is not None:
            try:
                value = self._read_line()
            except BaseException:
                self._reactor.callFromThread(line.errback, Failure())
            else:
                self._reactor.callFromThread(line.callback, value)

    def _read_line(self):
        while b"\n" not in self._pending:
            chunk = self._stdin.read(65536)
            if not chunk:  # the end: what is left is the last line, maybe without "\n"
                line, self._pending = self._pending, b""
                return line
            self._pending += chunk
        line, newline, self._pending = self._pending.partition(b"\n")
        return line + newline


async def stdin_lines(reactor, prompt, stdin=None):
    """Yield each line of standard input as bytes, without its line ending.

    Bytes, not text: the server decodes, so the client passes on exactly what it got.
    One line at a time, read only when the client asks for the next request, so the
    prompt shows when the previous reply is printed. The prompt is for a person at a
    keyboard only, not for a pipe or a file. stdin: a raw (unbuffered) binary file to
    read instead of standard input, for the tests.
    """
    if stdin is None:
        stdin = sys.stdin.buffer.raw
    interactive = stdin.isatty()
    reader = StdinReader(reactor, stdin)
    try:
        while True:
            if interactive:
                sys.stdout.write(prompt)
                sys.stdout.flush()
            line = await reader.readline()
            if not line:  # end of input; a last line without "\n" still came through above
                return
            if line.endswith(b"\n"):
                line = line[:-1]
                if line.endswith(b"\r"):
                    line = line[:-1]
            yield line
    finally:
        reader.stop()


async def given(requests):
    """The requests given as arguments, in the shape stdin_lines has."""
    for request in requests:
        yield request


# Where the server is.


async def resolve(reactor, host, port, socktype):
    """The server's (address, port), found as basic's clients find it.

    IPv6 when the host holds ":" (an IPv6 address), IPv4 otherwise. The lookup blocks,
    so it runs in a thread; it also spells the address the way replies will show it
    (Twisted's UDP needs an address, not a name, and compares with what comes back).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        found = await threads.deferToThread(socket.getaddrinfo, host, port, family, socktype)
    except OSError as failure:
        raise ClientError(f"cannot connect to {host} port {port}: {failure.strerror or failure}")
    return found[0][4][:2]


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


# TCP: lines.


class LineClient(Protocol):
    """Sends request lines and hands back reply lines, framed on b"\\n" only.

    TCP is a byte stream: one dataReceived is not one message. A reply may come in
    pieces, and the bytes after its "\\n" belong to the next reply, so they are kept.
    One request at a time: the caller waits for each reply before asking again.
    """

    def __init__(self):
        self._pending = b""  # bytes received, not yet handed out as a reply
        self._waiting = None  # the Deferred of the reply asked for, or None
        self._ended = None  # once the connection is gone: the Failure that says why
        self._until_closed = None  # for ex0: a Deferred for everything, fired at the end

    def ask(self, request):
        """Send one request line; a Deferred fires with its reply line, without "\\n"."""
        self.transport.write(request + b"\n")  # ignored once closed: a reply may still be here
        reply = self._waiting = Deferred(canceller=self._forget)
        self._deliver()  # it may be here already, or the connection gone
        return reply

    def read_until_closed(self):
        """A Deferred that fires with every byte the server sends, once it closes."""
        self._until_closed = Deferred()
        if self._ended is not None:
            self._until_closed.callback(self._pending)
        return self._until_closed

    def received(self):
        """The bytes received and not handed out yet."""
        return self._pending

    def dataReceived(self, data):
        self._pending += data
        self._deliver()

    def connectionLost(self, reason):
        self._ended = reason
        self._deliver()
        if self._until_closed is not None:
            self._until_closed.callback(self._pending)

    def _deliver(self):
        """Hand out the awaited reply, or say the connection ended without it."""
        if self._waiting is None:
            return
        if b"\n" in self._pending:
            reply, _, self._pending = self._pending.partition(b"\n")
            waiting, self._waiting = self._waiting, None
            waiting.callback(reply)
        elif self._ended is not None:
            waiting, self._waiting = self._waiting, None
            waiting.errback(self._ended)

    def _forget(self, waiting):
        """The wait was cancelled (timed out): no reply is awaited any more."""
        self._waiting = None


async def connect(reactor, host, port, timeout):
    """Open the TCP connection (the lecture's socket() and connect()); a LineClient."""
    address, port = await resolve(reactor, host, port, socket.SOCK_STREAM)
    endpoint_type = TCP6ClientEndpoint if ":" in address else TCP4ClientEndpoint
    # The endpoint's timeout bounds connect(): a silent network must not hang us.
    endpoint = endpoint_type(reactor, address, port, timeout=timeout)
    try:
        return await connectProtocol(endpoint, LineClient())
    except (error.ConnectError, OSError) as failure:
        raise ClientError(connect_failure(failure, host, port, timeout)) from None


async def ask(reactor, line_client, request, host, port, timeout):
    """Send one request line over TCP and return its reply line, without "\\n"."""
    try:
        return await line_client.ask(request).addTimeout(timeout, reactor)
    except TimeoutError:
        raise ClientError(f"no reply from {host} port {port} within {timeout:g} seconds") from None
    except error.ConnectionClosed:
        raise ClientError(f"{host} port {port} closed the connection without replying") from None


# UDP: datagrams.


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


async def udp_ask(reactor, server, request, host, port, timeout):
    """Send one request datagram, up to TRIES times; return the reply datagram.

    Each request has a socket (a listening port) of its own: a late reply to a lost
    request then reaches a closed port, and can never be taken for the next reply.
    """
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


# Printing, and running a client from start to exit status.


def show(reply):
    """Print a reply as text; an ERROR reply goes to standard error. True if it was one."""
    if reply.endswith(b"\n"):  # a UDP reply ends with it; a TCP reply came without it
        reply = reply[:-1]
    text = reply.decode("utf-8", "replace")
    if text.startswith("ERROR"):
        print(text, file=sys.stderr)
        return True
    print(text)
    return False


async def _tcp_session(reactor, args, requests):
    # One connection carries every request, one at a time: send, wait for the reply.
    line_client = await connect(reactor, args.host, args.port, args.timeout)
    status = 0
    try:
        async for request in requests:
            reply = await ask(reactor, line_client, request, args.host, args.port, args.timeout)
            if show(reply):
                status = 1  # an ERROR reply: say so at the end, but go on with the next
    finally:
        line_client.transport.loseConnection()  # the lecture's close()
    return status


async def _tcp_greeting(reactor, args):
    # Nothing to send: connecting is the request, and the server's close ends the reply.
    line_client = await connect(reactor, args.host, args.port, args.timeout)
    try:
        greeting = await line_client.read_until_closed().addTimeout(args.timeout, reactor)
    except TimeoutError:  # time is up and the connection is still open
        line_client.transport.abortConnection()
        greeting = line_client.received()
        if not greeting:
            raise ClientError(f"no reply from {args.host} port {args.port} "
                              f"within {args.timeout:g} seconds") from None
        # It greeted but never closed: show what came all the same.
    else:
        if not greeting:
            raise ClientError(f"{args.host} port {args.port} "
                              "closed the connection without replying")
    return 1 if show(greeting) else 0


async def _udp_session(reactor, args, requests):
    server = await resolve(reactor, args.host, args.port, socket.SOCK_DGRAM)
    status = 0
    async for request in requests:
        reply = await udp_ask(reactor, server, request, args.host, args.port, args.timeout)
        if show(reply):
            status = 1  # an ERROR reply: say so at the end, but go on with the next
    return status


async def _reported(session):
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


def _main(reactor, session, args):
    """task.react's main: run session(reactor, args), a coroutine giving the exit status.

    Ctrl+C ends the client at once, quietly, with status 130, whatever it waits for.
    """
    outcome = Deferred()
    interrupted = False

    def settle(result):
        """End the run with the session's exit status; 130 once Ctrl+C was pressed."""
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
    running = Deferred.fromCoroutine(_reported(session(reactor, args)))
    running.addBoth(settle)
    return outcome


def _run(parse_args, argv, session):
    """Parse the command line, run the session with task.react, and exit with its status."""
    for stream in (sys.stdout, sys.stderr):
        # Line by line, so that each reply shows at once even through a pipe; and a
        # terminal that cannot show a character gets "?" instead of a traceback.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True, errors="replace")
    try:
        args = parse_args(argv)
        task.react(_main, (session, args))
    except KeyboardInterrupt:  # Ctrl+C before the reactor runs: the user wants out, too
        sys.exit(130)


def _requests(reactor, args, prompt):
    """The requests: the ones given as arguments, or the lines of standard input."""
    if args.requests is None:
        return stdin_lines(reactor, prompt)
    return given(args.requests)


def run_tcp(parse_args, argv, prompt=""):
    """Run a TCP client: send each request over one connection, print each reply, exit.

    parse_args(argv) gives the options and args.requests: the request lines (bytes,
    without "\\n"), or None to read them from standard input, showing prompt when a
    person types them.
    """
    _run(parse_args, argv, lambda reactor, args: _tcp_session(
        reactor, args, _requests(reactor, args, prompt)))


def run_tcp_until_closed(parse_args, argv):
    """Run ex0's TCP client: connect, print what comes until the server closes, exit."""
    _run(parse_args, argv, _tcp_greeting)


def run_udp(parse_args, argv, prompt=""):
    """Run a UDP client: each request is one datagram, from a port of its own (see run_tcp)."""
    _run(parse_args, argv, lambda reactor, args: _udp_session(
        reactor, args, _requests(reactor, args, prompt)))
