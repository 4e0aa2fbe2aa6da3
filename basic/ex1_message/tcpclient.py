"""TCP client of Bài 1 (ex1_message): send a message, print the server's answer.

Run it beside its server, in two terminals:

    python3 tcpserver.py             # terminal 1
    python3 tcpclient.py             # terminal 2: prints From SERVER TCP
    python3 tcpclient.py "Xin chào"  # any one-line message gets the same answer

Without MESSAGE it sends the lecture's "From CLIENT TCP".
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
# Long enough that the pieces of one reply arriving up to 150 ms apart stay one reply;
# short enough that a bare reply (no "\n", as the slides' server sends) shows at once.
PAUSE = 0.3
MESSAGE = "From CLIENT TCP"  # what the lecture's client sends


def main(argv=None):
    """Send the message, print the reply; return the exit status."""
    host, port, timeout, message = options(argv)
    with socket.socket(family(host), socket.SOCK_STREAM) as sock:  # "with": close() at the end
        sock.settimeout(timeout)  # a silent server must not make connect() or recv() hang
        try:
            sock.connect((host, port))
        except OSError as error:
            raise ClientError(connect_failure(error, host, port, timeout)) from None
        try:
            sock.sendall(message + b"\n")  # TCP keeps no message boundaries: "\n" does
        except socket.timeout:
            raise ClientError(no_reply(host, port, timeout)) from None
        except ConnectionError:
            pass  # the server hung up, maybe after replying (ERROR server busy): read on
        reply, _ = receive_reply(sock, b"", host, port, timeout)
    return 1 if show(reply) else 0  # an ERROR reply makes the exit status 1


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
# Options, friendly errors and IPv6: what a real client needs.


def options(argv):
    """The server's host, port, timeout and the message, from the command line."""
    parser = argparse.ArgumentParser(
        description="Bài 1 TCP client: sends MESSAGE to the server, prints its answer "
        "(From SERVER TCP).",
        epilog="Exit status: 0 on a reply, 1 on an ERROR reply or when the server cannot "
        "be reached, 2 on wrong arguments.",
    )
    parser.add_argument("--host", default=HOST, help=f"the server's address (default {HOST})")
    parser.add_argument("--port", type=port_number, default=PORT,
                        help=f"the server's port (default {PORT})")
    parser.add_argument("--timeout", type=seconds, default=TIMEOUT, metavar="SECONDS",
                        help=f"seconds to wait for the server (default {TIMEOUT})")
    parser.add_argument("message", nargs="?", default=MESSAGE, metavar="MESSAGE",
                        help=f"one line of text to send (default: {MESSAGE})")
    args = parser.parse_args(argv)
    if "\n" in args.message or "\r" in args.message:
        parser.error("MESSAGE must be a single line")
    # os.fsencode gives back the very bytes typed, even ones that are not UTF-8.
    return args.host, args.port, args.timeout, os.fsencode(args.message)


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
