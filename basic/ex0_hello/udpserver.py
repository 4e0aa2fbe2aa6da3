"""UDP server of the slides' demo (ex0_hello): answers any datagram with a greeting.

Lecture "Python Sockets", the first example server, over UDP. Standard library only;
copy this file anywhere and run:

    python3 udpserver.py              # terminal 1: the server, port 12345
    python3 udpclient.py              # terminal 2: prints Thank you for connecting

or by hand: `echo | nc -u -w 1 127.0.0.1 12345`.
"""

import argparse
import errno
import os
import socket
import sys

HOST = "127.0.0.1"  # the slides use socket.gethostname(), which opens the server to
#                     every network the computer is on; loopback is the safe default
PORT = 12345  # the slides' port
TIMEOUT = 60  # accepted for symmetry with the TCP server: UDP has no connection to time out
MAX_DATAGRAM = 65535  # read any datagram whole: a smaller buffer would cut it silently
POLL = 0.5  # how often the receive loop wakes up to notice Ctrl+C (Windows needs it)

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
        description="The slides' demo over UDP: answers every datagram a client sends, "
        "even an empty one, with \"Thank you for connecting\".",
        epilog="Stop it with Ctrl+C.",
    )
    parser.add_argument("--host", default=HOST,
                        help="address to listen on (default %(default)s; 0.0.0.0 or :: "
                        "opens the server to the classroom network, ::1 is IPv6 loopback)")
    parser.add_argument("--port", type=port_number, default=PORT,
                        help="port to listen on (default %(default)s; 0 lets the system pick one)")
    parser.add_argument("--timeout", type=seconds, default=TIMEOUT,
                        help="accepted like the TCP server's; UDP has no connection to "
                        "close (default %(default)s)")
    return parser.parse_args(argv)


def open_server(host, port):
    """socket() and bind(): a UDP server has no listen() and no accept()."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = socket.socket(family, socket.SOCK_DGRAM)
    try:
        # No SO_REUSEADDR here: for UDP it would let a second server bind the same port
        # (and steal half the datagrams) instead of reporting "address already in use".
        if os.name != "posix" and hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            # Windows lets another program take over a port unless we forbid it.
            server.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        if family == socket.AF_INET6:
            try:
                # "::" then receives IPv4 datagrams too, where the OS allows it.
                server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except (AttributeError, OSError):
                pass
        server.bind((host, port))
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
            print("UDP server listening on %s port %d, Ctrl+C to stop"
                  % (args.host, server.getsockname()[1]))
            # On Windows a blocking recvfrom() never sees Ctrl+C: wake up twice a second.
            server.settimeout(POLL)
            while True:
                try:
                    # What the datagram says does not matter, but read it whole anyway.
                    data, addr = server.recvfrom(MAX_DATAGRAM)
                except socket.timeout:
                    continue
                except ConnectionResetError:
                    # Windows reports here that an earlier reply was refused (ICMP port
                    # unreachable): that client is gone, the others are not.
                    continue
                print("Got datagram from %r" % (addr[:2],))
                # There is no connection to greet: the greeting goes back to the sender.
                try:
                    server.sendto(GREETING, addr)
                except OSError:
                    pass  # UDP promises nothing: a reply that can't go is simply lost
    except KeyboardInterrupt:
        print("Server stopped")
        return 0


if __name__ == "__main__":
    sys.exit(main())
