"""TCP client of the slides' demo (ex0_hello): connect, print the server's greeting.

Run it beside its server, in two terminals:

    python3 tcpserver.py    # terminal 1
    python3 tcpclient.py    # terminal 2: prints Thank you for connecting

It sends nothing: connecting is enough. The server sends its greeting and closes
the connection, and that close is what tells the client the greeting is complete.
"""

import argparse
import math
import os
import socket
import sys
import time

HOST = "127.0.0.1"  # the server's address; loopback: this computer only
PORT = 12345  # the slides' port
TIMEOUT = 5  # seconds to wait for the server: a client must never hang forever
TRIES = 3  # used by the UDP client only; kept so that both clients read alike


class ClientError(Exception):
    """A failure told as one line on standard error, with exit status 1."""


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


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="The slides' demo, TCP client: "
        "connects to the server and prints its greeting.",
        epilog="Exit status: 0 on a greeting, 1 when the server cannot be reached, "
        "2 on wrong arguments.",
    )
    parser.add_argument("--host", default=HOST, help=f"the server's address (default {HOST})")
    parser.add_argument("--port", type=port_number, default=PORT,
                        help=f"the server's port (default {PORT})")
    parser.add_argument("--timeout", type=seconds, default=TIMEOUT, metavar="SECONDS",
                        help=f"seconds to wait for the server (default {TIMEOUT})")
    return parser.parse_args(argv)


def connect(host, port, timeout):
    """Open the TCP connection (the lecture's socket() and connect())."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # Without a timeout, connect() and recv() may wait forever for a silent server.
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
    except OSError as error:
        sock.close()
        raise ClientError(connect_failure(error, host, port, timeout)) from None
    return sock


def connect_failure(error, host, port, timeout):
    """The one line that tells why connect() failed."""
    where = f"cannot connect to {host} port {port}"
    if isinstance(error, ConnectionRefusedError):
        return f"{where}: connection refused (is the server running?)"
    if isinstance(error, socket.timeout):
        return f"{where}: timed out after {timeout:g} seconds"
    return f"{where}: {error.strerror or error}"


def receive_all(sock, host, port, timeout):
    """Read until the server closes the connection; return everything that came.

    TCP is a byte stream: one recv() is not one message (the slides' single recv(1024)
    may get only part of the greeting). Here the server's close ends the message.
    """
    received = b""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            data = sock.recv(1024)
        except socket.timeout:
            break
        except OSError:  # reset by the server
            data = b""
        if not data:  # the server closed: the greeting is complete
            if not received:
                raise ClientError(f"{host} port {port} closed the connection without replying")
            return received
        received += data
    # Time is up and the connection is still open.
    if not received:
        raise ClientError(f"no reply from {host} port {port} within {timeout:g} seconds")
    return received  # it greeted but never closed: show what came all the same


def show(reply):
    """Print a reply as text; an ERROR reply goes to standard error. True if it was one."""
    if reply.endswith(b"\n"):
        reply = reply[:-1]
    text = reply.decode("utf-8", "replace")
    if text.startswith("ERROR"):
        print(text, file=sys.stderr)
        return True
    print(text)
    return False


def run(args):
    # Nothing to send: connecting is the request.
    sock = connect(args.host, args.port, args.timeout)
    with sock:  # leaving "with" is the lecture's close()
        greeting = receive_all(sock, args.host, args.port, args.timeout)
    return 1 if show(greeting) else 0


def main(argv=None):
    for stream in (sys.stdout, sys.stderr):
        # Line by line, so that each reply shows at once even through a pipe; and a
        # terminal that cannot show a character gets "?" instead of a traceback.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True, errors="replace")
    try:
        return run(parse_args(argv))
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl+C: the user wants out, not a traceback
        return 130
    except BrokenPipeError:  # stdout closed early, as by "| head -1": stop quietly
        # Point stdout at devnull so that Python's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
