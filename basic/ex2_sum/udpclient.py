"""UDP client of Bài 2 (ex2_sum): send two integers, print their sum.

Run it beside its server, in two terminals:

    python3 udpserver.py                 # terminal 1
    python3 udpclient.py 3 4             # terminal 2: prints 7
    python3 udpclient.py -5 12           # negative numbers work as they are
    printf '1 2\\n10 20\\n' | python3 udpclient.py

Without A B it reads one request per line from standard input until its end (Ctrl+D,
or Ctrl+Z then Enter on Windows): each line is one datagram. The server does the
arithmetic and judges the input: this client sends what it is given, as is.
Exit status: 1 after an ERROR reply or a failure, 2 on wrong arguments.
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
TIMEOUT = 5  # seconds to wait for the server, over all tries: never hang forever
TRIES = 3  # UDP may lose a datagram: send the request up to this many times
PROMPT = "Two integers, like 3 4: "


def main(argv=None):
    """Send each request as one datagram, print each reply; return the exit status."""
    args = options(argv)
    server = f"{args.host} port {args.port}"  # as the error messages name it
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET  # "::1" is IPv6
    try:  # looked up once: only a datagram from this very address is a reply
        address = socket.getaddrinfo(args.host, args.port, family, socket.SOCK_DGRAM)[0][4]
    except OSError as error:  # no such host, say
        sys.exit(f"error: cannot connect to {server}: {error.strerror or error}")
    status = 0
    for request in args.requests:
        # A new socket for each request: a late reply to an earlier request, lost and
        # given up on, then lands on a closed socket and can never pass for this reply.
        with socket.socket(family, socket.SOCK_DGRAM) as sock:  # "with": close() at the end
            reply = ask(sock, request, address, server, args.timeout)
        text = printable(reply.decode("utf-8", "replace"))
        if text.startswith("ERROR"):
            print(text, file=sys.stderr)
            status = 1  # say so at the end, but go on with the next request
        else:
            print(text)
    return status


def ask(sock, request, address, server, timeout):
    """Send one request datagram; return the reply datagram, without its line end. One
    datagram is one message: no line end needed. But UDP may lose it, or the reply,
    without a word: no reply within timeout / TRIES seconds means send again."""
    sock.settimeout(timeout / TRIES)
    for _ in range(TRIES):
        try:
            sock.sendto(request, address)
        except ConnectionError:
            pass  # an earlier try was refused (Windows says so here): a lost try
        except OSError as error:  # no route to the server, say
            sys.exit(f"error: cannot connect to {server}: {error.strerror or error}")
        deadline = time.monotonic() + timeout / TRIES  # strangers cannot hold a try forever
        while time.monotonic() < deadline:
            try:
                data, sender = sock.recvfrom(65535)
            except socket.timeout:
                break  # this try is lost: send again
            except ConnectionError:
                continue  # Windows reports "port unreachable" (no server there) this way
            if sender[:2] == address[:2]:  # the server's (host, port): anyone may send to us
                return data[:-1].removesuffix(b"\r") if data.endswith(b"\n") else data
    sys.exit(f"error: no reply from {server} after {TRIES} tries in {timeout:g} seconds"
             " (is the server running?)")


# ----- Beyond the slides -----
# Options, friendly errors, standard input, IPv6 and Windows: what a real client needs.


def options(argv):
    """The command line: --host, --port, --timeout and args.requests, the request lines."""
    parser = argparse.ArgumentParser(  # --help shows this file's docstring
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=HOST, help=f"the server's address (default {HOST})")
    parser.add_argument("--port", type=port_number, default=PORT,
                        help=f"the server's port (default {PORT})")
    parser.add_argument("--timeout", type=seconds, default=TIMEOUT, metavar="SECONDS",
                        help=f"seconds to wait for the server (default {TIMEOUT})")
    parser.add_argument("a", nargs="?", metavar="A", help="first integer, like 3")
    parser.add_argument("b", nargs="?", metavar="B", help="second integer, like 4")
    args = parser.parse_args(argv)
    if args.a is None:
        args.requests = stdin_lines(PROMPT)
    elif args.b is None:
        parser.error("give both A and B, or neither (to read lines from standard input)")
    else:
        args.requests = [one_line(parser, "A", args.a) + b" " + one_line(parser, "B", args.b)]
    return args


def one_line(parser, name, value):
    """The bytes of an argument sent as one request; a line break in it is refused."""
    if "\n" in value or "\r" in value:
        parser.error(f"{name} must be a single line")
    return os.fsencode(value)  # the very bytes typed, even ones that are not UTF-8


def stdin_lines(prompt):
    """Each line of standard input, as bytes without its line end; prompts on a terminal."""
    while sys.stdin:  # None when closed, as by "<&-" in the shell: as good as empty
        if sys.stdin.isatty():
            print(prompt, end="", flush=True)
        line = sys.stdin.buffer.readline()
        if not line:  # the end of the input; a last line without "\n" came just before
            return
        yield line[:-1].removesuffix(b"\r") if line.endswith(b"\n") else line


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
