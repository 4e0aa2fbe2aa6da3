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
import re
import socket
import sys
import time

HOST = "127.0.0.1"  # the server's address; loopback: this computer only
PORT = 12345  # the slides' port
TIMEOUT = 5  # seconds to wait for the server: a client must never hang forever


def main(argv=None):
    """Connect, print the greeting; return the exit status."""
    host, port, timeout = options(argv)
    with socket.socket(family(host), socket.SOCK_STREAM) as sock:  # "with": close() at the end
        sock.settimeout(timeout)  # a silent server must not make connect() or recv() hang
        try:
            sock.connect((host, port))
        except OSError as error:
            raise ClientError(connect_failure(error, host, port, timeout)) from None
        greeting = receive_all(sock, host, port, timeout)  # connecting was the request
    return show(greeting)


def receive_all(sock, host, port, timeout):
    """Read until the server closes the connection; return everything that came.

    One recv() is not one message: the slides' single recv(1024) may get only part of
    the greeting. Here the server's close ends the message.
    """
    received = bytearray()
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
            return bytes(received)
        received += data
    if not received:
        raise ClientError(f"no reply from {host} port {port} within {timeout:g} seconds")
    return bytes(received)  # it greeted but never closed: show what came all the same


def show(greeting):
    """Print the greeting; return the exit status (1 for an ERROR reply, on stderr)."""
    if greeting.endswith(b"\n"):  # the greeting is a line; its "\n" or "\r\n" is not text
        greeting = greeting[:-1]
        if greeting.endswith(b"\r"):
            greeting = greeting[:-1]
    text = printable(greeting.decode("utf-8", "replace"))
    if text.startswith("ERROR"):  # "ERROR server busy (max N clients)", the one it may send
        print(text, file=sys.stderr)
        return 1
    print(text)
    return 0


# ----- Beyond the slides -----
# Options, friendly errors and IPv6: what a real client needs.


def options(argv):
    """The server's host, port and timeout, from the command line."""
    parser = argparse.ArgumentParser(
        description="The slides' demo, TCP client: "
        "connects to the server and prints its greeting.",
        epilog="Exit status: 0 on a greeting, 1 when the server cannot be reached "
        "or is busy, 2 on wrong arguments.",
    )
    parser.add_argument("--host", default=HOST, help=f"the server's address (default {HOST})")
    parser.add_argument("--port", type=port_number, default=PORT,
                        help=f"the server's port (default {PORT})")
    parser.add_argument("--timeout", type=seconds, default=TIMEOUT, metavar="SECONDS",
                        help=f"seconds to wait for the server (default {TIMEOUT})")
    args = parser.parse_args(argv)
    return args.host, args.port, args.timeout


def port_number(text):
    """argparse type for --port: 0 to 65535 (0 lets a server take any free port)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {text!r}")
    return value


def seconds(text):
    """argparse type for --timeout: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return value


def family(host):
    """IPv6 for an address like "::1", else the slides' IPv4."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class ClientError(Exception):
    """A failure told as one line on standard error, with exit status 1."""


def connect_failure(error, host, port, timeout):
    """The one line that tells why connect() failed."""
    where = f"cannot connect to {host} port {port}"
    if isinstance(error, ConnectionRefusedError):
        return f"{where}: connection refused (is the server running?)"
    if isinstance(error, socket.timeout):
        return f"{where}: timed out after {timeout:g} seconds"
    return f"{where}: {error.strerror or error}"


# Control characters (C0 but tab, DEL, C1) and bidirectional overrides.
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text):
    """`text` with control characters and bidirectional overrides shown escaped.

    Printed raw, a peer's "\\x1b[2J" would clear the screen, and "\\r" or U+202E forge a
    line; tabs and ordinary letters (Vietnamese included) stay as they are.
    """
    return UNSAFE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def friendly(main, argv=None):
    """main(argv)'s exit status; a ClientError is told in one line on standard error, and
    Ctrl+C or a closed standard output end the client quietly: never a traceback."""
    for stream in (sys.stdout, sys.stderr):
        # Line by line, so that each reply shows at once even through a pipe; and a
        # terminal that cannot show a character gets "?" instead of a traceback.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True, errors="replace")
    try:
        return main(argv)
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
    sys.exit(friendly(main))
