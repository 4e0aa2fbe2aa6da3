"""UDP server of the slides' demo (ex0_hello): answers any datagram with a greeting.

Lecture "Python Sockets", the first example server, over UDP. Standard library only; copy
this file anywhere, run `python3 udpserver.py` (port 12345), then `python3 udpclient.py` in
a second terminal (it prints Thank you for connecting), or `echo | nc -u -w 1 127.0.0.1 12345`.
"""

import socket
import argparse, contextlib, errno, ipaddress, signal, sys, time  # beyond the slides

HOST = "127.0.0.1"  # the slides use socket.gethostname(), which opens the server to
#                     every network the computer is on; loopback is the safe default
PORT = 12345  # the slides' port
MAX_DATAGRAM = 65535  # read any datagram whole: a smaller buffer would cut it silently
# Sockets carry bytes, not text: the slides' Python 2 sent a str, Python 3 needs bytes.
GREETING = b"Thank you for connecting"


def main(argv=None):
    args = parse_args(argv)
    try:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as server:
            try:
                set_options(server)  # a port of its own; "::" takes IPv4 too
                server.bind((args.host, args.port))  # no listen(), no accept(): no connections
            except OSError as error:
                return cannot_listen(args.host, args.port, error)  # one line, exit status 1
            port = server.getsockname()[1]  # the real one, also with --port 0
            say(f"UDP server listening on {args.host} port {port}, Ctrl+C to stop")
            show_addresses(args.host, port)  # on 0.0.0.0 or ::, the addresses to give out
            rate = args.max_rate or default_rate(args.host)  # datagrams a second, or None
            second, counts = None, {}  # the datagrams of each address in this second
            server.settimeout(POLL)  # a blocking recvfrom() never sees Ctrl+C on Windows
            while True:
                try:
                    data, addr = server.recvfrom(MAX_DATAGRAM)
                except socket.timeout:
                    continue  # nothing came: a chance to notice Ctrl+C
                except ConnectionResetError:  # Windows: an earlier reply was refused (ICMP)
                    continue  # that client is gone, the others are not
                if rate:  # --max-rate: counted anew each second, so little is kept
                    now = int(time.monotonic())
                    if now != second:
                        second, counts = now, {}
                    count = counts[addr[0]] = counts.get(addr[0], 0) + 1
                    if count == rate + 1:  # one line a second, not one per datagram
                        say(f"Too many datagrams from {addr[0]} (max {rate} a second), "
                            "the rest are dropped")
                    if count > rate:
                        # A flood must cost the server as little as possible (no line, no
                        # reply), or its queue stays full and the others' datagrams are lost.
                        continue
                say("Got datagram from %r" % (addr[:2],))
                # No connection, no thread: one datagram in, one datagram out, to its sender.
                try:
                    # What the datagram says does not matter, only its ending: the reply
                    # ends in "\n" exactly when the request did, as for the exercises.
                    server.sendto(GREETING + b"\n" if data.endswith(b"\n") else GREETING, addr)
                except OSError:
                    pass  # UDP promises nothing: a reply that can't go is simply lost
    except KeyboardInterrupt:
        say("Server stopped")
    return 0


# ----- Beyond the slides -----
# What a real server needs: options, errors, Windows, IPv6, the classroom.

POLL = 0.5  # how often a waiting server wakes up to notice Ctrl+C (Windows needs it)
RATE = 100  # default --max-rate on a network: far above a student's typing, far below a flood


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="The slides' demo over UDP: answers every datagram a client sends, "
        "even an empty one, with \"Thank you for connecting\".", epilog="Stop it with Ctrl+C.")
    parser.add_argument("--host", default=HOST,
                        help="address to listen on (default %(default)s; 0.0.0.0 or :: "
                        "opens the server to the classroom network, ::1 is IPv6 loopback)")
    parser.add_argument("--port", type=port_number, default=PORT,
                        help="port to listen on (default %(default)s; 0 lets the system pick one)")
    parser.add_argument("--max-rate", type=positive_integer,
                        help="datagrams one address (one student's machine) may send per "
                        "second; past it, the rest of that second's are dropped unanswered "
                        "(default: 100 when the server is open to the network, no limit on "
                        "loopback)")
    return parser.parse_args(argv)


def port_number(text):
    """argparse type for --port: 0 to 65535 (0 lets a server take any free port)."""
    try:
        if 0 <= int(text) <= 65535:
            return int(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {text!r}")


def positive_integer(text):
    """argparse type for --max-clients: a whole number of at least 1."""
    try:
        if int(text) >= 1:
            return int(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")


def default_rate(host):
    """--max-rate when not given: RATE on a network, no limit on loopback (where the only
    clients are this machine's own: tests, benchmarks, load generators)."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return None if loopback else RATE


def set_options(server):
    """Socket options a real UDP server needs, on every system. Not SO_REUSEADDR: over
    UDP it would let a second server share the port, and take half the datagrams."""
    if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: no other program on our port
        server.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    if server.family == socket.AF_INET6 and socket.has_dualstack_ipv6():
        server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # "::" takes IPv4 too


def cannot_listen(host, port, error):
    """Say in one line why the server cannot listen (no traceback); exit status 1."""
    reason = error.strerror or str(error)
    if error.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", None)):
        reason = "address already in use (is another server running? try --port 0)"
    say(f"error: cannot listen on {host} port {port}: {reason}", file=sys.stderr)
    return 1


def show_addresses(host, port):
    """On a wildcard address (0.0.0.0, ::), which no student can type: the ones they can."""
    try:
        if not ipaddress.ip_address(host).is_unspecified:
            return
    except ValueError:
        return  # a name, such as localhost
    addresses = network_addresses(host)
    for address in addresses:
        say(f"Students can connect to {address} port {port}")
    if not addresses:
        say("No network address found: only this machine can connect")


def network_addresses(host):
    """The addresses other machines can reach a server on wildcard `host` at, IPv4 first
    (only IPv4 for 0.0.0.0). Python has no call that lists them, so three views are put
    together: the machine's name (often only 127.0.1.1), its route out, its interfaces."""
    found = set()
    with contextlib.suppress(OSError):  # a name that does not resolve
        found.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None))
    for family, nowhere in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((nowhere, 9))  # a documentation address: a route lookup, nothing sent
            found.add(probe.getsockname()[0])
    if sys.platform.startswith("linux"):  # ioctl 0x8915 is SIOCGIFADDR: an interface's IPv4
        import fcntl, struct
        for _, name in socket.if_nameindex():
            with contextlib.suppress(OSError), socket.socket() as probe:
                info = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name.encode()))
                found.add(socket.inet_ntoa(info[20:24]))
        with contextlib.suppress(OSError), open("/proc/net/if_inet6") as table:
            found.update(str(ipaddress.IPv6Address(bytes.fromhex(row[:32]))) for row in table)
    usable = []
    for text in found:
        address = ipaddress.ip_address(text.split("%")[0])
        hidden = address.is_loopback or address.is_link_local or address.is_unspecified
        if not hidden and (address.version == 4 or ":" in host):
            usable.append(address)
    return [str(address) for address in sorted(usable, key=lambda a: (a.version, a))]


def say(text, file=None):
    """print() that never stops the server: a line that cannot be printed (`| head -1`, a
    closed SSH session) is dropped. Line and end in one write: whole, even at Ctrl+C."""
    try:
        print(text + "\n", end="", file=file)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    if sys.stdout:  # None when closed
        # Each line at once, even through a pipe; "?" for what a terminal cannot show.
        sys.stdout.reconfigure(line_buffering=True, errors="replace")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it as Ctrl+C
    sys.exit(main())
