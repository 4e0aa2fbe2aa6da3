"""UDP client of Bài 1 (ex1_message): send a message, print the server's answer.

Run it beside its server, in two terminals:

    python3 udpserver.py             # terminal 1
    python3 udpclient.py             # terminal 2: prints From SERVER UDP
    python3 udpclient.py "Xin chào"  # any one-line message gets the same answer

Without MESSAGE it sends the lecture's "From CLIENT UDP".
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
TIMEOUT = 5  # seconds to wait for the server, over all tries: never hang forever
TRIES = 3  # UDP may lose a datagram: send the request up to this many times
MESSAGE = "From CLIENT UDP"  # what the lecture's client sends


def main(argv=None):
    """Send the message as one datagram, print the reply; return the exit status."""
    host, port, timeout, message = options(argv)
    family, address = server_address(host, port)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:  # "with": close() at the end
        reply = ask(sock, message, address, host, port, timeout)
    return 1 if show(reply) else 0  # an ERROR reply makes the exit status 1


def ask(sock, request, address, host, port, timeout):
    """Send one request datagram, return the reply datagram; try up to TRIES times.

    One datagram is one message: no line ending needed. But UDP may lose it, or the
    reply, without a word: no reply within timeout / TRIES seconds means send again.
    """
    for _ in range(TRIES):
        try:
            sock.sendto(request, address)
        except (ConnectionRefusedError, ConnectionResetError):
            pass  # an earlier try was refused (Windows says so here): a lost try
        except OSError as error:  # no route to the server, say
            reason = error.strerror or error
            raise ClientError(f"cannot connect to {host} port {port}: {reason}") from None
        deadline = time.monotonic() + timeout / TRIES
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break  # this try is lost: send again
            sock.settimeout(remaining)
            try:
                data, sender = sock.recvfrom(65535)
            except socket.timeout:
                break
            except (ConnectionRefusedError, ConnectionResetError):
                continue  # Windows reports "port unreachable" (no server there) this way
            # UDP has no connection: anyone may send us a datagram. Only the
            # server's counts (the first two fields: host and port, IPv6 too).
            if sender[:2] == address[:2]:
                return data
    raise ClientError(
        f"no reply from {host} port {port} after {TRIES} tries in {timeout:g} seconds"
        " (is the server running?)"
    )


def show(reply):
    """Print a reply; an ERROR reply goes to standard error. True if it was one."""
    if reply.endswith(b"\n"):  # a server may end its datagram with "\n" or "\r\n": not text
        reply = reply[:-1]
        if reply.endswith(b"\r"):
            reply = reply[:-1]
    text = printable(reply.decode("utf-8", "replace"))
    if text.startswith("ERROR"):
        print(text, file=sys.stderr)
        return True
    print(text)
    return False


# ----- Beyond the slides -----
# Options, friendly errors, IPv6 and Windows: what a real client needs.


def options(argv):
    """The server's host, port, timeout and the message, from the command line."""
    parser = argparse.ArgumentParser(
        description="Bài 1 UDP client: sends MESSAGE to the server, prints its answer "
        "(From SERVER UDP).",
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


def server_address(host, port):
    """The address family and the server's address, resolved once.

    Only a datagram from that very address is a reply: "localhost" must become 127.0.0.1.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # "::1" is IPv6
    try:
        info = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)
    except OSError as error:
        reason = error.strerror or error
        raise ClientError(f"cannot connect to {host} port {port}: {reason}") from None
    return family, info[0][4]


class ClientError(Exception):
    """A failure told as one line on standard error, with exit status 1."""


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
