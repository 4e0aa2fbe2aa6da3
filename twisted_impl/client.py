"""The entry points of the eight Twisted clients: each script calls one of these three.

A client script only says what it sends (its arguments, or the lines of standard input)
and calls run_tcp, run_tcp_until_closed or run_udp. The rest is done once, exactly as
the basic/ clients do it, in four modules:

- twisted_impl/session.py: one run of a client, from its command line to its exit status,
  with task.react; looking up the server; Ctrl+C.
- twisted_impl/lineclient.py: TCP: the line protocol (Twisted's LineReceiver) and the
  requests and replies over one connection; ex0's greeting.
- twisted_impl/datagramclient.py: UDP: one datagram per request, with retries.
- twisted_impl/stdin.py: the requests typed or piped on standard input.

This module loads no Twisted when it is imported (the entry points load it, see
quiet_ctrl_c), so it also holds what those modules share and needs no Twisted: the
command line, the ClientError and how a reply is printed.
"""

import argparse
import contextlib
import os
import sys

from twisted_impl.options import port_number, seconds
from twisted_impl.wire import printable

HOST = "127.0.0.1"  # the server's address; loopback: this computer only
TIMEOUT = 5  # seconds to wait for the server: a client must never hang forever


def run_tcp(parse_args, argv, prompt=""):
    """Run a TCP client: send each request over one connection, print each reply, exit.

    parse_args(argv) gives the options and args.requests: the request lines (bytes,
    without "\\n"), or None to read them from standard input, showing prompt when a
    person types them.
    """
    with quiet_ctrl_c():
        args = parsed(parse_args, argv)
        from twisted_impl import lineclient, session  # Twisted loads here: see quiet_ctrl_c

        session.run(args, lambda reactor, args: lineclient.tcp_session(
            reactor, args, session.requests(reactor, args, prompt)))


def run_tcp_until_closed(parse_args, argv):
    """Run ex0's TCP client: connect, print what comes until the server closes, exit."""
    with quiet_ctrl_c():
        args = parsed(parse_args, argv)
        from twisted_impl import lineclient, session  # Twisted loads here: see quiet_ctrl_c

        session.run(args, lineclient.tcp_greeting)


def run_udp(parse_args, argv, prompt=""):
    """Run a UDP client: each request is one datagram, from a port of its own (see run_tcp)."""
    with quiet_ctrl_c():
        args = parsed(parse_args, argv)
        from twisted_impl import datagramclient, session  # Twisted loads here: see quiet_ctrl_c

        session.run(args, lambda reactor, args: datagramclient.udp_session(
            reactor, args, session.requests(reactor, args, prompt)))


def parsed(parse_args, argv):
    """The command line, parsed before Twisted loads: `--help` and a wrong option answer
    at once, without the third of a second that loading Twisted takes."""
    for stream in (sys.stdout, sys.stderr):
        # Line by line, so that each reply shows at once even through a pipe; and a
        # terminal that cannot show a character gets "?" instead of a traceback.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True, errors="replace")
    return parse_args(argv)


@contextlib.contextmanager
def quiet_ctrl_c():
    """Ctrl+C inside the block ends the client quietly, with exit status 130.

    Loading Twisted takes a third of a second, more on a busy machine: a Ctrl+C meanwhile
    should end a client as quietly as a later one does. So Twisted is loaded inside this
    block, by the entry point, and not when a script imports this module (which would
    have to change how Python answers Ctrl+C for whoever imports it, tests included).
    Once the reactor runs, session.main answers Ctrl+C itself.
    """
    try:
        yield
    except KeyboardInterrupt:  # the user wants out, not a traceback
        sys.exit(130)


# The command line, as in basic/.


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


# What every client session shares.


class ClientError(Exception):
    """A failure told as one line on standard error, with exit status 1."""


def show(reply):
    """Print a reply as text; an ERROR reply goes to standard error. True if it was one.

    Through printable(): a server's "\\x1b[2J" must not clear the user's screen, nor a
    "\\r" forge a line.
    """
    if reply.endswith(b"\n"):  # a UDP reply or ex0's greeting may end with "\n" or "\r\n"
        reply = reply[:-1]
        if reply.endswith(b"\r"):
            reply = reply[:-1]
    text = printable(reply.decode("utf-8", "replace"))
    if text.startswith("ERROR"):
        print(text, file=sys.stderr)
        return True
    print(text)
    return False
