"""TCP client of Bài 2 (ex2_sum): send two integers, print their sum.

Run it beside its server, in two terminals:

    python3 tcpserver.py                 # terminal 1
    python3 tcpclient.py 3 4             # terminal 2: prints 7
    printf '1 2\\n10 20\\n' | python3 tcpclient.py

Without A B it reads one request per line from standard input until its end (Ctrl+D,
or Ctrl+Z then Enter on Windows), all over one connection. The server does the
arithmetic and judges the input: this client sends what it is given, as is.
"""

import argparse
import math
import os
import re
import socket
import sys
import time

HOST = "127.0.0.1"  # the server's address; loopback: this computer only
PORT = 8091  # Bài 2's port
TIMEOUT = 5  # seconds to wait for the server: a client must never hang forever
# Long enough that the pieces of one reply arriving up to 150 ms apart stay one reply;
# short enough that a bare reply (no "\n", as the slides' server sends) shows at once.
PAUSE = 0.3
PROMPT = "Two integers, like 3 4: "


def main(argv=None):
    """Send each request, print each reply; return the exit status."""
    host, port, timeout, requests = options(argv)
    status = 0
    with socket.socket(family(host), socket.SOCK_STREAM) as sock:  # "with": close() at the end
        sock.settimeout(timeout)  # a silent server must not make connect() or recv() hang
        try:
            sock.connect((host, port))
        except OSError as error:
            raise ClientError(connect_failure(error, host, port, timeout)) from None
        pending = b""  # what came after a reply's "\n": the start of the next reply
        for request in requests:  # one connection, one request at a time
            try:
                sock.sendall(request + b"\n")  # TCP keeps no message boundaries: "\n" does
            except socket.timeout:
                raise ClientError(no_reply(host, port, timeout)) from None
            except ConnectionError:
                pass  # the server hung up, maybe after an ERROR reply (busy, too long): read on
            reply, pending = receive_reply(sock, pending, host, port, timeout)
            if show(reply):
                status = 1  # an ERROR reply: say so at the end, but go on with the next
    return status


def receive_reply(sock, pending, host, port, timeout):
    """Read one reply; return it, without its "\\n", and the bytes that came after it.

    One recv() is not one message: a reply may come in pieces, and ends at "\\n". The
    slides' server sends no "\\n": its reply ends when it closes or pauses PAUSE seconds.
    """
    received = bytearray(pending)
    data = pending
    deadline = time.monotonic() + timeout
    while b"\n" not in data:  # only the newest bytes need searching: linear time
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break  # time is up: what came by then is the reply
        sock.settimeout(min(remaining, PAUSE) if received else remaining)
        try:
            data = sock.recv(1024)
        except socket.timeout:
            break  # the server paused after bytes (a bare reply), or time is up
        except OSError:  # reset by the server, or lost on the way
            data = b""
        if not data:  # the server closed the connection
            if not received:
                raise ClientError(f"{host} port {port} closed the connection without replying")
            break
        received += data
    sock.settimeout(timeout)  # all of it again for the next sendall()
    if not received:
        raise ClientError(no_reply(host, port, timeout))
    reply, newline, pending = bytes(received).partition(b"\n")
    if newline and reply.endswith(b"\r"):
        reply = reply[:-1]  # a "\r\n" line end (telnet-style servers) is not text either
    return reply, pending


def show(reply):
    """Print a reply; an ERROR reply goes to standard error. True if it was one."""
    text = printable(reply.decode("utf-8", "replace"))
    if text.startswith("ERROR"):
        print(text, file=sys.stderr)
        return True
    print(text)
    return False


# ----- Beyond the slides -----
# Options, friendly errors, standard input, IPv6 and Windows: what a real client needs.


def options(argv):
    """The server's host, port, timeout and the requests, from the command line."""
    parser = argparse.ArgumentParser(
        description="Bài 2 TCP client: sends two integers A B to the server, "
        "prints their sum.",
        epilog="Without A B, every line of standard input is one request (end it with "
        "Ctrl+D, or Ctrl+Z then Enter on Windows). Negative numbers work as they are: "
        "tcpclient.py -5 12. Exit status: 0 if every reply was a sum, 1 on an ERROR "
        "reply or when the server cannot be reached, 2 on wrong arguments.",
    )
    parser.add_argument("--host", default=HOST, help=f"the server's address (default {HOST})")
    parser.add_argument("--port", type=port_number, default=PORT,
                        help=f"the server's port (default {PORT})")
    parser.add_argument("--timeout", type=seconds, default=TIMEOUT, metavar="SECONDS",
                        help=f"seconds to wait for the server (default {TIMEOUT})")
    parser.add_argument("a", nargs="?", metavar="A", help="first integer, like 3")
    parser.add_argument("b", nargs="?", metavar="B", help="second integer, like 4")
    args = parser.parse_args(argv)
    if (args.a is None) != (args.b is None):
        parser.error("give both A and B, or neither (to read lines from standard input)")
    for name, value in (("A", args.a), ("B", args.b)):
        if value is not None and ("\n" in value or "\r" in value):
            parser.error(f"{name} must be a single line")
    if args.a is None:
        requests = stdin_lines(PROMPT)
    else:
        # os.fsencode gives back the very bytes typed, even ones that are not UTF-8.
        requests = [os.fsencode(args.a) + b" " + os.fsencode(args.b)]
    return args.host, args.port, args.timeout, requests


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


def stdin_lines(prompt):
    """Yield each line of standard input as bytes, without its line ending.

    Bytes, not text: the server decodes, so the client passes on exactly what it got.
    The prompt is for a person at a keyboard only, not for a pipe or a file.
    """
    if sys.stdin is None:  # closed, as by "python3 tcpclient.py <&-": as good as empty
        return
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            sys.stdout.write(prompt)
            sys.stdout.flush()
        line = sys.stdin.buffer.readline()
        if not line:  # end of input; a last line without "\n" still came through above
            return
        if line.endswith(b"\n"):
            line = line[:-1]
            if line.endswith(b"\r"):
                line = line[:-1]
        yield line


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


def no_reply(host, port, timeout):
    """The one line for a server that says nothing for the whole timeout."""
    return f"no reply from {host} port {port} within {timeout:g} seconds"


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
