"""UDP client of Bài 3 (ex3_password): send passwords, print the valid ones.

Run it beside its server, in two terminals:

    python3 udpserver.py                 # terminal 1
    python3 udpclient.py 'Abc123@1,aF1#2w3E*,2We3345'   # prints Abc123@1
    printf 'Abc123@1\\nabc\\n' | python3 udpclient.py

Without PASSWORDS it reads one request per line from standard input until its end
(Ctrl+D, or Ctrl+Z then Enter on Windows): each line is one datagram. The server
checks the passwords and judges the input: this client sends what it is given, as is.
"""

import argparse
import math
import os
import socket
import sys
import time

HOST = "127.0.0.1"  # the server's address; loopback: this computer only
PORT = 8092  # Bài 3's port
TIMEOUT = 5  # seconds to wait for the server, over all tries: never hang forever
TRIES = 3  # UDP may lose a datagram: send the request up to this many times
PROMPT = "Passwords, comma-separated: "


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
        description="Bài 3 UDP client: sends passwords, comma-separated, to the server, "
        "prints the valid ones (an empty line when none is).",
        epilog="Without PASSWORDS, every line of standard input is one request (end it "
        "with Ctrl+D, or Ctrl+Z then Enter on Windows). Quote PASSWORDS in the shell: "
        "'#', '$' and spaces mean something there. Exit status: 0 on replies, 1 on an "
        "ERROR reply or when the server cannot be reached, 2 on wrong arguments.",
    )
    parser.add_argument("--host", default=HOST, help=f"the server's address (default {HOST})")
    parser.add_argument("--port", type=port_number, default=PORT,
                        help=f"the server's port (default {PORT})")
    parser.add_argument("--timeout", type=seconds, default=TIMEOUT, metavar="SECONDS",
                        help=f"seconds to wait for the server (default {TIMEOUT})")
    parser.add_argument("passwords", nargs="?", metavar="PASSWORDS",
                        help="passwords separated by commas, like 'Abc123@1,aF1#2w3E*'")
    args = parser.parse_args(argv)
    if args.passwords is not None and ("\n" in args.passwords or "\r" in args.passwords):
        parser.error("PASSWORDS must be a single line")
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


def server_address(host, port):
    """The address replies come from: "localhost" and the like, resolved once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        info = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)
    except OSError as error:
        reason = error.strerror or error
        raise ClientError(f"cannot connect to {host} port {port}: {reason}") from None
    return family, info[0][4]


def ask(request, family, address, host, port, timeout):
    """Send one request datagram, return the reply datagram; try up to TRIES times.

    A new socket for each request: a late reply to an earlier request, lost and
    given up on, then lands on a closed socket and can never pass for this reply.
    """
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
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
                    # Windows reports "port unreachable" (no server there) this way.
                    continue
                # UDP has no connection: anyone may send us a datagram. Only the
                # server's counts (the first two fields: host and port, IPv6 too).
                if sender[:2] == address[:2]:
                    return data
    raise ClientError(
        f"no reply from {host} port {port} after {TRIES} tries in {timeout:g} seconds"
        " (is the server running?)"
    )


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
    if args.passwords is not None:
        # os.fsencode gives back the very bytes typed, even ones that are not UTF-8.
        requests = [os.fsencode(args.passwords)]
    else:
        requests = stdin_lines(PROMPT)
    family, address = server_address(args.host, args.port)
    status = 0
    for request in requests:
        # One datagram is one request: no line ending needed, the datagram frames it.
        reply = ask(request, family, address, args.host, args.port, args.timeout)
        if show(reply):
            status = 1  # an ERROR reply: say so at the end, but go on with the next
    return status


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
