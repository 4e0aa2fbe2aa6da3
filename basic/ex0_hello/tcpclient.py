"""TCP client of the slides' demo (ex0_hello): connect, print the server's greeting.

Run it beside its server, in two terminals:

    python3 tcpserver.py    # terminal 1
    python3 tcpclient.py    # terminal 2: prints Thank you for connecting

It sends nothing: connecting is enough. The server sends its greeting and closes the
connection, and that close is what tells the client the greeting is complete.
Exit status: 1 when the server cannot be reached or is busy, 2 on wrong arguments.
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
    args = options(argv)
    server = f"{args.host} port {args.port}"  # as the error messages name it
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET  # "::1" is IPv6
    with socket.socket(family, socket.SOCK_STREAM) as sock:  # "with": close() at the end
        sock.settimeout(args.timeout)  # a silent server must not make connect() or recv() hang
        try:
            sock.connect((args.host, args.port))
        except OSError as error:
            sys.exit(connect_failure(error, server, args.timeout))
        greeting = receive_all(sock, server, args.timeout)  # connecting was the request
    text = printable(greeting.decode("utf-8", "replace"))
    if text.startswith("ERROR"):  # "ERROR server busy (max N clients)", the one it may send
        print(text, file=sys.stderr)
        return 1
    print(text)
    return 0


def receive_all(sock, server, timeout):
    """Read until the server closes the connection; return what came, without its line
    end. One recv() is not one message: the slides' single recv(1024) may get only part
    of the greeting. Here the server's close ends it."""
    received = bytearray()
    deadline = time.monotonic() + timeout  # a greeting trickling in forever ends there too
    while time.monotonic() < deadline:
        try:
            data = sock.recv(1024)  # waits up to the timeout that main() set
        except socket.timeout:
            break  # silent that long: what came, if anything, is all of it
        except OSError:  # reset by the server
            data = b""
        if not data:  # the server closed: the greeting is complete
            if not received:
                sys.exit(f"error: {server} closed the connection without replying")
            break
        received += data
    if not received:
        sys.exit(f"error: no reply from {server} within {timeout:g} seconds")
    return received[:-1].removesuffix(b"\r") if received.endswith(b"\n") else received


# ----- Beyond the slides -----
# Options, friendly errors, IPv6 and Windows: what a real client needs.


def options(argv):
    """The command line: --host, --port and --timeout."""
    parser = argparse.ArgumentParser(  # --help shows this file's docstring
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=HOST, help=f"the server's address (default {HOST})")
    parser.add_argument("--port", type=port_number, default=PORT,
                        help=f"the server's port (default {PORT})")
    parser.add_argument("--timeout", type=seconds, default=TIMEOUT, metavar="SECONDS",
                        help=f"seconds to wait for the server (default {TIMEOUT})")
    return parser.parse_args(argv)


def connect_failure(error, server, timeout):
    """The one line that tells why connect() failed."""
    reason = error.strerror or error  # no such host, no route to it...
    if isinstance(error, ConnectionRefusedError):
        reason = "connection refused (is the server running?)"
    if isinstance(error, socket.timeout):
        reason = f"timed out after {timeout:g} seconds"
    return f"error: cannot connect to {server}: {reason}"


def port_number(text):
    """argparse type for --port: 0 to 65535 (0 lets a server take any free port)."""
    try:
        if 0 <= int(text) <= 65535:
            return int(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {text!r}")


def seconds(text):
    """argparse type for --timeout: a positive, finite number of seconds."""
    try:
        if 0 < float(text) < math.inf:  # not nan either
            return float(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")


# Control characters (C0 but tab, DEL, C1) and bidirectional overrides.
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text):
    """`text` with control characters and bidirectional overrides escaped: printed raw, a
    peer's "\\x1b[2J" would clear the screen, "\\r" or U+202E forge a line."""
    return UNSAFE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


if __name__ == "__main__":
    if sys.stdout:  # None when closed
        # Each reply at once, even through a pipe; "?" for what a terminal cannot show.
        sys.stdout.reconfigure(line_buffering=True, errors="replace")
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl+C: the user wants out, not a traceback
        sys.exit(130)
    except BrokenPipeError:  # as by "| head -1": point stdout at nothing, stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
