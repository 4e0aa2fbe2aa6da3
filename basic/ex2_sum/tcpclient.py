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
import socket
import sys
import time

HOST = "127.0.0.1"  # the server's address; loopback: this computer only
PORT = 8091  # Bài 2's port
TIMEOUT = 5  # seconds to wait for the server: a client must never hang forever
TRIES = 3  # used by the UDP client only; kept so that both clients read alike
PROMPT = "Two integers, like 3 4: "


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
    return args


def stdin_lines(prompt):
    """Yield each line of standard input as bytes, without its line ending.

    Bytes, not text: the server decodes, so the client passes on exactly what it got.
    The prompt is for a person at a keyboard only, not for a pipe or a file.
    """
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


def ask(sock, request, pending, host, port, timeout):
    """Send one request line, return its reply (without "\\n") and what came after.

    TCP is a byte stream: one recv() is not one message. A reply may come in pieces,
    and the bytes after its "\\n" belong to the next reply, so they are kept in pending.
    """
    no_reply = f"no reply from {host} port {port} within {timeout:g} seconds"
    closed = f"{host} port {port} closed the connection without replying"
    sock.settimeout(timeout)
    try:
        sock.sendall(request + b"\n")
    except ConnectionError:
        pass  # the server is gone, but a reply it sent first may still be waiting: read on
    except socket.timeout:
        raise ClientError(no_reply) from None
    except OSError:
        raise ClientError(closed) from None
    deadline = time.monotonic() + timeout
    while b"\n" not in pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ClientError(no_reply)
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            raise ClientError(no_reply) from None
        except OSError:  # reset by the server, or lost on the way
            data = b""
        if not data:  # the server closed before a whole reply line came
            raise ClientError(closed)
        pending += data
    reply, _, pending = pending.partition(b"\n")
    return reply, pending


def show(reply):
    """Print a reply as text; an ERROR reply goes to standard error. True if it was one."""
    text = reply.decode("utf-8", "replace")
    if text.startswith("ERROR"):
        print(text, file=sys.stderr)
        return True
    print(text)
    return False


def run(args):
    if args.a is not None:
        # os.fsencode gives back the very bytes typed, even ones that are not UTF-8.
        requests = [os.fsencode(args.a) + b" " + os.fsencode(args.b)]
    else:
        requests = stdin_lines(PROMPT)
    status = 0
    # One connection carries every request, one at a time: send, wait for the reply.
    sock = connect(args.host, args.port, args.timeout)
    with sock:
        pending = b""
        for request in requests:
            reply, pending = ask(sock, request, pending, args.host, args.port, args.timeout)
            if show(reply):
                status = 1  # an ERROR reply: say so at the end, but go on with the next
    return status  # leaving "with" is the lecture's close()


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
