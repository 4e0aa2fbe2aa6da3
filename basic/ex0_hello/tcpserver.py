"""TCP server of the slides' demo (ex0_hello): greets each client, then hangs up.

Lecture "Python Sockets", the first example server, in Python 3. Standard library only;
copy this file anywhere and run:

    python3 tcpserver.py              # terminal 1: the server, port 12345
    python3 tcpclient.py              # terminal 2: prints Thank you for connecting

or by hand: `nc 127.0.0.1 12345 </dev/null` (or `telnet 127.0.0.1 12345`).
"""

import argparse
import errno
import os
import socket
import sys
import time

HOST = "127.0.0.1"  # the slides use socket.gethostname(), which opens the server to
#                     every network the computer is on; loopback is the safe default
PORT = 12345  # the slides' port
TIMEOUT = 60  # seconds we wait for a client that doesn't take its greeting
POLL = 0.5  # how often the accept loop wakes up to notice Ctrl+C (Windows needs it)

# Sockets carry bytes, not text: the slides' Python 2 sent a str, Python 3 needs bytes.
GREETING = b"Thank you for connecting\n"


def port_number(text):
    """argparse type: a TCP/UDP port, 0 to 65535 (0 lets the system pick one)."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("must be between 0 and 65535")
    return port


def seconds(text):
    """argparse type: a number of seconds greater than 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="The slides' demo TCP server: sends \"Thank you for connecting\" to "
        "each client that connects, then closes the connection.",
        epilog="Stop it with Ctrl+C.",
    )
    parser.add_argument("--host", default=HOST,
                        help="address to listen on (default %(default)s; 0.0.0.0 or :: "
                        "opens the server to the classroom network, ::1 is IPv6 loopback)")
    parser.add_argument("--port", type=port_number, default=PORT,
                        help="port to listen on (default %(default)s; 0 lets the system pick one)")
    parser.add_argument("--timeout", type=seconds, default=TIMEOUT,
                        help="seconds to wait for a client that doesn't take its greeting "
                        "(default %(default)s)")
    return parser.parse_args(argv)


def open_server(host, port):
    """socket(), bind(), listen(): the lecture's three calls, with safe options."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name == "posix":
            # Restart at once on the same port, without waiting out TIME_WAIT.
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        elif hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            # On Windows SO_REUSEADDR would let two servers share the port; this forbids it.
            server.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        if family == socket.AF_INET6:
            try:
                # "::" then accepts IPv4 clients too, where the OS allows it.
                server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except (AttributeError, OSError):
                pass
        server.bind((host, port))
        # A whole classroom may connect at once: let the OS queue as many as it can.
        server.listen(socket.SOMAXCONN)
    except BaseException:
        server.close()
        raise
    return server


def main(argv=None):
    if hasattr(sys.stdout, "reconfigure"):
        # One line at a time, even into a pipe; never crash on a character the
        # console can't show.
        sys.stdout.reconfigure(line_buffering=True, errors="replace")
    args = parse_args(argv)
    try:
        try:
            server = open_server(args.host, args.port)
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", None)):
                reason = "address already in use (is another server running? try --port 0)"
            else:
                reason = e.strerror or str(e)
            print("error: cannot listen on %s port %s: %s" % (args.host, args.port, reason),
                  file=sys.stderr)
            return 1
        with server:
            print("TCP server listening on %s port %d, Ctrl+C to stop"
                  % (args.host, server.getsockname()[1]))
            # On Windows a blocking accept() never sees Ctrl+C: wake up twice a second.
            server.settimeout(POLL)
            while True:
                try:
                    conn, addr = server.accept()
                except socket.timeout:
                    continue
                except OSError:
                    # Out of file descriptors, or the client gave up already: pause a
                    # little instead of spinning, and keep serving.
                    time.sleep(0.1)
                    continue
                print("Got connection from %r" % (addr[:2],))
                # One short greeting, so no thread: like the slides, the accept loop
                # serves the client itself. The timeout bounds how long a dead client
                # could hold up the others.
                with conn:
                    try:
                        conn.settimeout(args.timeout)
                        conn.sendall(GREETING)
                    except OSError:
                        pass  # this client is gone; the next one is waiting
    except KeyboardInterrupt:
        print("Server stopped")
        return 0


if __name__ == "__main__":
    sys.exit(main())
