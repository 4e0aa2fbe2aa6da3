"""TCP client of Bài 1 (ex1_message): send a message, print the server's answer.

Run it beside its server, in two terminals:

    python3 tcpserver.py             # terminal 1
    python3 tcpclient.py             # terminal 2: prints From SERVER TCP
    python3 tcpclient.py "Xin chào"  # any one-line message gets the same answer

Without MESSAGE it sends the lecture's "From CLIENT TCP". A MESSAGE that starts with
"-" goes after "--": tcpclient.py -- -hello. Exit status: 1 after an ERROR reply or a
failure, 2 on wrong arguments.
"""

import argparse
import math
import os
import re
import socket
import sys
import time

HOST = "127.0.0.1"  # the server's address; loopback: this computer only
PORT = 8090  # Bài 1's port
TIMEOUT = 5  # seconds to wait for the server: a client must never hang forever
PAUSE = 0.3  # seconds of silence that end a reply without "\n" (the slides send those)
MESSAGE = "From CLIENT TCP"  # what the lecture's client sends


def main(argv=None):
    """Send the message, print the reply; return the exit status."""
    args = options(argv)
    server = f"{args.host} port {args.port}"  # as the error messages name it
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET  # "::1" is IPv6
    with socket.socket(family, socket.SOCK_STREAM) as sock:  # "with": close() at the end
        sock.settimeout(args.timeout)  # a silent server must not make connect() or recv() hang
        try:
            sock.connect((args.host, args.port))
        except OSError as error:
            sys.exit(connect_failure(error, server, args.timeout))
        try:
            sock.sendall(args.message + b"\n")  # TCP keeps no message boundaries: "\n" does
        except OSError:  # the server hung up (after an ERROR reply?) or takes nothing
            pass  # what it said, if anything, is read next
        reply = receive_reply(sock, bytearray(), server, args.timeout)
    text = printable(reply.decode("utf-8", "replace"))
    if text.startswith("ERROR"):  # as a busy server answers
        print(text, file=sys.stderr)
        return 1
    print(text)
    return 0


def receive_reply(sock, received, server, timeout):
    """Take one reply out of `received`, reading more as needed. One recv() is not one
    message: a reply may come in pieces. It ends at "\\n" (what follows is the next one's),
    or, sent bare as the slides do, when the server closes or pauses PAUSE seconds."""
    deadline = time.monotonic() + timeout  # a reply trickling in forever ends there too
    data = received  # only the newest bytes need searching for "\n": linear time
    while b"\n" not in data and time.monotonic() < deadline:
        sock.settimeout(PAUSE if received else timeout)  # after bytes, a pause ends a reply
        try:
            data = sock.recv(1024)
        except socket.timeout:
            break
        except OSError:  # reset by the server, or lost on the way
            data = b""
        if not data:  # the server closed the connection
            if not received:
                sys.exit(f"error: {server} closed the connection without replying")
            break
        received += data
    sock.settimeout(timeout)  # all of it again for the next sendall()
    if not received:
        sys.exit(f"error: no reply from {server} within {timeout:g} seconds")
    reply, newline, rest = received.partition(b"\n")
    received[:] = rest
    return reply.removesuffix(b"\r") if newline else reply  # "\r\n" ends lines too


# ----- Beyond the slides -----
# Options, friendly errors, IPv6 and Windows: what a real client needs.


def options(argv):
    """The command line: --host, --port, --timeout and args.message, as bytes."""
    parser = argparse.ArgumentParser(  # --help shows this file's docstring
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=HOST, help=f"the server's address (default {HOST})")
    parser.add_argument("--port", type=port_number, default=PORT,
                        help=f"the server's port (default {PORT})")
    parser.add_argument("--timeout", type=seconds, default=TIMEOUT, metavar="SECONDS",
                        help=f"seconds to wait for the server (default {TIMEOUT})")
    parser.add_argument("message", nargs="?", default=MESSAGE, metavar="MESSAGE",
                        help=f"one line of text to send (default: {MESSAGE})")
    args = parser.parse_args(argv)
    args.message = one_line(parser, "MESSAGE", args.message)
    return args


def one_line(parser, name, value):
    """The bytes of an argument sent as one request; a line break in it is refused."""
    if "\n" in value or "\r" in value:
        parser.error(f"{name} must be a single line")
    return os.fsencode(value)  # the very bytes typed, even ones that are not UTF-8


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
