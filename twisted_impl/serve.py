"""Run one Twisted server from the command line, printing what basic/'s twin prints.

Every twisted_impl/<exercise>/tcpserver.py and udpserver.py ends in `run_tcp(...)` or
`run_udp(...)`: the options, the output lines and the exit statuses are the same for all
servers, so they are written once, here.
"""

import argparse
import errno
import socket
import sys

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint, TCP6ServerEndpoint
from twisted.internet.error import CannotListenError
from twisted.logger import Logger, LogLevel, eventAsText, formatEvent, globalLogBeginner

from twisted_impl.datagram import MAX_DATAGRAM
from twisted_impl.lineserver import LineServerFactory
from twisted_impl.options import default_max_clients, port_number, positive_integer, seconds

HOST = "127.0.0.1"  # loopback: only this machine can connect, until --host says otherwise
TIMEOUT = 60  # seconds a TCP connection may go without a complete request

log = Logger()


def parse_arguments(kind, description, port, argv=None):
    """The options every server takes, as basic/'s servers take them."""
    parser = argparse.ArgumentParser(
        description=description.strip().split("\n\n")[0], epilog="Stop it with Ctrl+C.")
    parser.add_argument(
        "--host", default=HOST,
        help="address to listen on (default %(default)s; 0.0.0.0 or :: opens the server "
        "to the classroom network, ::1 is IPv6 loopback)")
    parser.add_argument(
        "--port", type=port_number, default=port,
        help="port to listen on (default %(default)s; 0 lets the system pick one)")
    if kind == "TCP":  # UDP has no connection to time out or to count
        parser.add_argument(
            "--timeout", type=seconds, default=TIMEOUT,
            help="seconds a connection may go without a complete request before the "
            "server closes it (default %(default)s)")
        parser.add_argument(
            "--max-clients", type=positive_integer, default=default_max_clients(),
            help="clients served at once; a newcomer beyond is told the server is busy "
            "(default %(default)s, from the open-files limit)")
    return parser.parse_args(argv)


def print_event(event):
    """A twisted.logger observer that prints our log lines as plain lines, as print() would.

    The servers log through twisted.logger (so that under twistd the same lines go to
    twistd's log, with timestamps); run as scripts, they must print exactly what basic/
    prints: the message text only, flushed at once. Twisted's own chatter ("Received
    SIGINT, shutting down.") is left out; warnings and errors go to standard error.
    """
    namespace = event.get("log_namespace", "")
    if event.get("log_level") in (LogLevel.warn, LogLevel.error, LogLevel.critical):
        stream = sys.stderr
        text = eventAsText(event, includeTimestamp=False, includeSystem=False)
    elif namespace == "__main__" or namespace.startswith("twisted_impl"):
        stream = sys.stdout
        text = formatEvent(event)
    else:
        return
    try:
        try:
            stream.write(text + "\n")
        except UnicodeEncodeError:  # a console that cannot show every character
            encoding = stream.encoding
            stream.write((text + "\n").encode(encoding, "backslashreplace").decode(encoding))
        stream.flush()
    except (OSError, ValueError):
        # Standard output is gone (a closed pipe, `| head -1`, a closed SSH session):
        # the line is lost, the server serves on. ValueError: the stream was closed.
        pass


def run_tcp(protocol, port, description, argv=None):
    """Serve TCP until Ctrl+C, one `protocol` (a LineServer) per client."""
    args = parse_arguments("TCP", description, port, argv)
    globalLogBeginner.beginLoggingTo([print_event], redirectStandardIO=False)
    factory = LineServerFactory(protocol, args.timeout, args.max_clients)
    task.react(_serve_tcp, (args, factory))


def run_udp(make_protocol, port, description, argv=None):
    """Serve UDP with the protocol `make_protocol()` until Ctrl+C."""
    args = parse_arguments("UDP", description, port, argv)
    globalLogBeginner.beginLoggingTo([print_event], redirectStandardIO=False)
    task.react(_serve_udp, (args, make_protocol()))


def tcp_endpoint(reactor, host, port):
    """The server endpoint for `host` and `port`, IPv6 when the host has a colon.

    The backlog (connections the system accepts for us before `accept`) is the system's
    maximum, as basic/'s `listen()` asks for, not Twisted's default of 50: a classroom
    connecting at once must not wait for SYN retries.
    """
    if ":" in host:
        return TCP6ServerEndpoint(reactor, port, backlog=socket.SOMAXCONN, interface=host)
    return TCP4ServerEndpoint(reactor, port, backlog=socket.SOMAXCONN, interface=host)


async def _serve_tcp(reactor, args, factory):
    endpoint = tcp_endpoint(reactor, args.host, args.port)
    try:
        listening = await endpoint.listen(factory)
    except CannotListenError as error:
        _cannot_listen(args, error.socketError)
    await _serve_until_stopped(reactor, "TCP", args.host, listening.getHost().port)


async def _serve_udp(reactor, args, protocol):
    try:
        listening = reactor.listenUDP(
            args.port, protocol, interface=ip_address(args.host), maxPacketSize=MAX_DATAGRAM)
    except CannotListenError as error:
        _cannot_listen(args, error.socketError)
    except OSError as error:  # a host name that does not resolve
        _cannot_listen(args, error)
    await _serve_until_stopped(reactor, "UDP", args.host, listening.getHost().port)


def ip_address(host):
    """The address to bind for `host`: Twisted's UDP port takes IP addresses only."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return host
        except OSError:
            pass
    return socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)[0][4][0]  # "localhost"


def cannot_listen(host, port, error):
    """The one line that says why a server cannot listen on `host` `port`."""
    if getattr(error, "errno", None) == errno.EADDRINUSE:
        reason = "address already in use (is another server running? try --port 0)"
    else:
        reason = getattr(error, "strerror", None) or str(error)
    return "error: cannot listen on {} port {}: {}".format(host, port, reason)


def _cannot_listen(args, error):
    print(cannot_listen(args.host, args.port, error), file=sys.stderr, flush=True)
    raise SystemExit(1)


async def _serve_until_stopped(reactor, kind, host, port):
    log.info("{kind} server listening on {host} port {port}, Ctrl+C to stop",
             kind=kind, host=host, port=port)
    # Ctrl+C stops the reactor (Twisted handles SIGINT); task.react then exits with 0.
    reactor.addSystemEventTrigger("after", "shutdown", log.info, "Server stopped")
    await Deferred()  # never fires: a server serves until it is stopped
