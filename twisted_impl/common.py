"""What every Twisted program shares and needs no Twisted for: the wire's limits, the
option checks, the classroom's addresses, the clients' command line, how a reply is shown.
basic/'s scripts hold copies of much of it, word for word (tests/test_basic_shared.py).
"""

import argparse
import contextlib
import errno
import ipaddress
import math
import os
import re
import socket
import sys

HOST = "127.0.0.1"  # loopback: only this machine, until --host says otherwise

MAX_LINE = 65536  # bytes in one request line, not counting its "\n" or "\r\n"
# Lecture-style peers frame nothing: one send() of a bare string, one recv(1024). A read
# of 2 to MAX_BARE bytes without "\n", with nothing pending before it, followed by PAUSE
# seconds of silence, is such a whole message. One byte never is (telnet sends a key per
# packet), a longer read never is (the first segment of a long line).
MAX_BARE = 1024
# Long enough that the pieces of one line arriving up to 150 ms apart stay one line;
# short enough that the slides' client gets its answer well inside a second.
PAUSE = 0.3
MAX_UNSENT = 65536  # bytes of replies waiting for a client, past which we stop reading it

# Control characters (C0 but tab, DEL, C1) and bidirectional overrides.
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text):
    """`text` with control characters and bidirectional overrides escaped: printed raw, a
    peer's "\\x1b[2J" would clear the screen, "\\r" or U+202E forge a line."""
    return UNSAFE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


RESERVED_FILES = 32  # open files a server keeps for itself (listening socket, logs...)


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


def positive_integer(text):
    """argparse type for --max-clients: a whole number of at least 1."""
    try:
        if int(text) >= 1:
            return int(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")


def default_max_clients():
    """The open-files limit less RESERVED_FILES for the server's own (1000 without one)."""
    try:
        import resource  # POSIX only
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 1000
    if limit == resource.RLIM_INFINITY or limit > 1_000_000:
        return 1_000_000
    return max(1, limit - RESERVED_FILES)


PER_ADDRESS = 8  # default cap on a network: a student with a few terminals open


def default_per_address(host):
    """--max-per-address when not given: PER_ADDRESS on a network, no cap on loopback
    (where the only clients are this machine's own: tests, benchmarks, load generators)."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return None if loopback else PER_ADDRESS


RATE = 100  # default --max-rate on a network: far above a student's typing, far below a flood


def default_rate(host):
    """--max-rate when not given: RATE on a network, no limit on loopback (where the only
    clients are this machine's own: tests, benchmarks, load generators)."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return None if loopback else RATE


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


def address_lines(host, port):
    """The lines a server listening on a wildcard `host` prints after its listening line."""
    try:
        if not ipaddress.ip_address(host).is_unspecified:
            return []
    except ValueError:  # a name, such as localhost
        return []
    found = network_addresses(host)
    if not found:
        return ["No network address found: only this machine can connect"]
    return ["Students can connect to {} port {}".format(address, port) for address in found]


def cannot_listen(host, port, error):
    """The one line that says why a server cannot listen on `host` `port`."""
    if getattr(error, "errno", None) == errno.EADDRINUSE:
        reason = "address already in use (is another server running? try --port 0)"
    else:
        reason = getattr(error, "strerror", None) or str(error)
    return "error: cannot listen on {} port {}: {}".format(host, port, reason)


# The servers' command line, as in basic/.

PER_ADDRESS_HELP = ("connections one address (one student's machine) may hold at once; "
                    "more from it are turned away (default: 8 when the server is open to "
                    "the network, no limit on loopback)")
RATE_HELP = ("datagrams one address (one student's machine) may send per second; past it, "
             "the rest of that second's are dropped unanswered (default: 100 when the "
             "server is open to the network, no limit on loopback)")


def server_args(kind, description, port, argv=None, timeout=60):
    """The options of a `kind` ("TCP" or "UDP") server, as basic/'s servers take them."""
    parser = argparse.ArgumentParser(
        description=description.strip().split("\n\n")[0], epilog="Stop it with Ctrl+C.")
    parser.add_argument("--host", default=HOST, help=(
        "address to listen on (default %(default)s; 0.0.0.0 or :: opens the server to the "
        "classroom network, ::1 is IPv6 loopback)"))
    parser.add_argument(
        "--port", type=port_number, default=port,
        help="port to listen on (default %(default)s; 0 lets the system pick one)")
    if kind == "TCP":  # UDP has no connection to time out or to count
        parser.add_argument(
            "--timeout", type=seconds, default=timeout,
            help="seconds a connection may go without a complete request before the "
            "server closes it (default %(default)s)")
        parser.add_argument(
            "--max-clients", type=positive_integer, default=default_max_clients(),
            help="clients served at once; a newcomer beyond is told the server is busy "
            "(default %(default)s, from the open-files limit)")
        parser.add_argument("--max-per-address", type=positive_integer, help=PER_ADDRESS_HELP)
    else:  # a flood of datagrams instead
        parser.add_argument("--max-rate", type=positive_integer, help=RATE_HELP)
    args = parser.parse_args(argv)
    if kind == "TCP" and args.max_per_address is None:
        args.max_per_address = default_per_address(args.host)
    if kind == "UDP" and args.max_rate is None:
        args.max_rate = default_rate(args.host)
    return args


# The clients' command line, read before Twisted loads.

CLIENT_TIMEOUT = 5  # seconds to wait for the server: a client must never hang forever


def make_parser(description, epilog, port):
    """An argument parser with the options every client has: --host, --port, --timeout."""
    parser = argparse.ArgumentParser(description=description, epilog=epilog)
    parser.add_argument("--host", default=HOST, help=f"the server's address (default {HOST})")
    parser.add_argument("--port", type=port_number, default=port,
                        help=f"the server's port (default {port})")
    parser.add_argument("--timeout", type=seconds, default=CLIENT_TIMEOUT, metavar="SECONDS",
                        help=f"seconds to wait for the server (default {CLIENT_TIMEOUT})")
    return parser


def single_line(parser, name, value):
    """The bytes of an argument that will be sent as one request; a line break is refused."""
    if "\n" in value or "\r" in value:
        parser.error(f"{name} must be a single line")
    return os.fsencode(value)  # the very bytes typed, even ones that are not UTF-8


def parsed(parse_args, argv):
    """The command line, parsed before Twisted loads: `--help` and a wrong option answer
    at once, without the third of a second that loading Twisted takes."""
    for stream in (sys.stdout, sys.stderr):
        # Line by line, so that each reply shows at once even through a pipe; and "?"
        # for a character the terminal cannot show, not a traceback.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True, errors="replace")
    return parse_args(argv)


@contextlib.contextmanager
def quiet_ctrl_c():
    """Ctrl+C inside the block (while Twisted loads) ends a client with status 130; once
    the reactor runs, client.main answers Ctrl+C itself."""
    try:
        yield
    except KeyboardInterrupt:  # the user wants out, not a traceback
        sys.exit(130)


class ClientError(Exception):
    """A failure told as one line on standard error, with exit status 1."""


def show(reply):
    """Print a reply as text (through printable()), an ERROR reply on standard error:
    True if it was one."""
    if reply.endswith(b"\n"):  # a UDP reply or ex0's greeting may end with "\n" or "\r\n"
        reply = reply[:-1]
        if reply.endswith(b"\r"):
            reply = reply[:-1]
    text = printable(reply.decode("utf-8", "replace"))
    if text.startswith("ERROR"):
        print(text, file=sys.stderr)
        return True
    print(text)
    return False
