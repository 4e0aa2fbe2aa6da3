"""TCP server of Bài 1 (ex1_message): prints each message, answers "From SERVER TCP".

Lecture "Python Sockets", Bài 1. Standard library only; copy this file anywhere, run
`python3 tcpserver.py` (port 8090), then `python3 tcpclient.py` in a second terminal (it
prints From SERVER TCP), or type lines into `nc 127.0.0.1 8090` or `telnet 127.0.0.1 8090`.
"""

import socket
import threading
# Beyond the slides:
import argparse, contextlib, errno, ipaddress, math, os, re, signal, sys, time, traceback

HOST = "127.0.0.1"  # loopback only by default: --host 0.0.0.0 opens it to the classroom
PORT = 8090  # the lecture's port for Bài 1
TIMEOUT = 60  # seconds a client may take to finish a request before we close it


def main(argv=None):
    args = parse_args(argv)
    try:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as server:
            try:
                set_options(server)  # restart on the same port at once; "::" takes IPv4 too
                server.bind((args.host, args.port))
                server.listen(socket.SOMAXCONN)  # a whole classroom may connect at once
            except OSError as error:
                return cannot_listen(args.host, args.port, error)  # one line, exit status 1
            port = server.getsockname()[1]  # the real one, also with --port 0
            say(f"TCP server listening on {args.host} port {port}, Ctrl+C to stop")
            show_addresses(args.host, port)  # on 0.0.0.0 or ::, the addresses to give out
            per_address = args.max_per_address or default_per_address(args.host)
            served = {}  # the clients served now, by address: {"192.168.1.23": {conn, ...}}
            busy, crowded = False, set()  # already said: server full; addresses at their cap
            server.settimeout(POLL)  # a blocking accept() never sees Ctrl+C on Windows
            while True:
                try:
                    conn, addr = server.accept()
                except socket.timeout:
                    continue  # nobody came: a chance to notice Ctrl+C
                except OSError:
                    time.sleep(0.1)  # out of files, or a client that gave up: no spinning
                    continue
                # Admission: one student's machine may not take every place, nor may all
                # together take more than the server can serve. The newcomer is told why.
                served = {a: s for a, s in served.items() if s}  # forget who has left
                mine = served.setdefault(addr[0], set())
                if per_address and len(mine) >= per_address:
                    if addr[0] not in crowded:  # once per address until it is served again
                        crowded.add(addr[0])
                        say(f"Too many connections from {addr[0]} (max {per_address}), "
                            "new ones from it are turned away")
                    turn_away(conn, b"ERROR too many connections from your address "
                              b"(max %d)\n" % per_address)
                    continue
                count = sum(map(len, served.values()))
                if count >= args.max_clients:
                    if not busy:  # once per busy spell, not once per newcomer
                        busy = True
                        say(f"Server busy: {count} clients connected, new clients are turned away")
                    turn_away(conn, b"ERROR server busy (max %d clients)\n" % args.max_clients)
                    continue
                busy = False
                crowded.discard(addr[0])
                mine.add(conn)  # handle() takes it out when the client leaves
                say("Got connection from %r" % (addr[:2],))
                # One thread per client, blocking style, on purpose: each client's code reads
                # top to bottom like the lecture's; daemon threads end with the server.
                threading.Thread(target=handle, args=(conn, addr, args.timeout, mine),
                                 daemon=True).start()
    except KeyboardInterrupt:
        say("Server stopped")
    return 0


def handle(conn, addr, timeout, mine):
    """Serve one client: answer each of its requests, in order, until it leaves."""
    with conn:
        try:
            for batch, ending in requests(conn, timeout):  # the framing: see below
                replies = bytearray()
                for request in batch:
                    text = request.decode("utf-8", "replace")  # invalid UTF-8 shows as "\ufffd"
                    say("Received from %r: %s" % (addr[:2], printable(text)))
                    replies += answer(text).encode("utf-8") + ending  # bare reply to a bare one
                    if len(replies) >= MAX_UNSENT // 4:  # never much for one that does not read
                        conn.sendall(replies)
                        replies.clear()
                conn.sendall(replies)  # one per read: pipelined clients go twice as fast
        except LineTooLong:
            hang_up(conn, ERROR_LONG)
        except OSError:
            pass  # reset, timeout, broken pipe: this client is gone, the others are not
        except Exception:  # a bug (in answer, say) is shown, as socketserver does
            say(traceback.format_exc().rstrip("\n"), file=sys.stderr)
        finally:
            mine.discard(conn)  # its place is free again


def answer(text: str) -> str:
    """Bài 1's logic: whatever the client says, the server's message."""
    return "From SERVER TCP"


# ----- The framing: where one request ends and the next begins -----

RECV_SIZE = 4096  # bytes read at once
MAX_LINE = 65536  # bytes in one request line, not counting "\n" or "\r\n"
# Lecture-style peers frame nothing: one send() of a bare string, one recv(1024). A read
# of 2 to MAX_BARE bytes without "\n", with nothing pending before it, followed by PAUSE
# seconds of silence, is such a whole message. One byte never is (telnet sends a key per
# packet), a longer read never is (the first segment of a long line).
MAX_BARE = 1024
# Long enough that the pieces of one line arriving up to 150 ms apart stay one line;
# short enough that the slides' client gets its answer well inside a second.
PAUSE = 0.3
MAX_UNSENT = 65536  # bytes of replies waiting for a client, past which we stop reading it
ERROR_LONG = b"ERROR line too long (max %d bytes)\n" % MAX_LINE


class LineTooLong(Exception):
    """A request longer than MAX_LINE: we answer ERROR_LONG and hang up."""


def requests(conn, timeout):
    """One client's requests, read by read, as (requests, ending), until it half-closes.
    TCP is a byte stream: one recv() may hold half a line or many lines. A request is a
    line, its "\\n" (and a "\\r" before it) removed, `ending` b"\\n"; or a bare message
    as the slides' clients send it, `ending` b"": a short first read then PAUSE seconds
    of silence, or what follows the last "\\n" at half-close. The idle timeout counts
    from the last complete request: a client trickling bytes is closed all the same."""
    # A small send buffer (doubled by the system: MAX_UNSENT // 4): a client that does
    # not read soon blocks our sendall(), and costs the others less (tests/bench/abuse.py).
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_UNSENT // 8)
    conn.settimeout(timeout)  # a recv() or sendall() waiting longer raises socket.timeout
    pending = bytearray()  # the unfinished request: never much more than MAX_LINE
    last = time.monotonic()  # when the last request was complete, or the client came
    while True:
        data = conn.recv(RECV_SIZE)
        if not data:  # the client has finished sending: what is pending is its last
            if len(pending) > MAX_LINE:
                raise LineTooLong
            if pending:
                yield [bytes(pending)], b""
            return
        if not pending and b"\n" not in data and 1 < len(data) <= MAX_BARE:
            conn.settimeout(PAUSE)  # a bare message? wait a little for more
            try:
                more = conn.recv(RECV_SIZE)
            except socket.timeout:
                more = b""
            conn.settimeout(timeout)
            if not more:  # silence (or the client's half-close): it was a whole message
                last = time.monotonic()
                yield [data], b""
                continue
            data += more  # the start of a line: framed by "\n" below
        # Only the new bytes are searched for "\n": rescanning `pending` every time would
        # make one byte per packet quadratic.
        *lines, rest = data.split(b"\n")
        if lines:  # requests are complete: the idle time starts again
            if pending:  # the first one began in earlier reads
                lines[0] = bytes(pending) + lines[0]
                pending.clear()
            last = time.monotonic()
            if conn.gettimeout() != timeout:  # shortened below (asking costs no system call)
                conn.settimeout(timeout)
        pending += rest
        lines = [line.removesuffix(b"\r") for line in lines]
        for i, line in enumerate(lines):
            if len(line) > MAX_LINE:
                yield lines[:i], b"\n"  # those before it are answered, then we hang up
                raise LineTooLong
        if lines:
            yield lines, b"\n"
        if len(pending) > MAX_LINE + 1:  # + 1: the line's "\r" may wait for its "\n"
            raise LineTooLong
        if pending and not lines:  # still no complete request: only what is left
            wait = last + timeout - time.monotonic()
            if wait <= 0:
                raise socket.timeout("no complete request for %s seconds" % timeout)
            conn.settimeout(wait)


# ----- Beyond the slides -----
# What a real server needs: options, limits, errors, Windows, IPv6, the classroom.

POLL = 0.5  # how often a waiting server wakes up to notice Ctrl+C (Windows needs it)
LINGER = 2  # seconds to drain a client we hang up on, so that it can read our last words
RESERVED_FILES = 32  # open files a server keeps for itself (listening socket, logs...)
PER_ADDRESS = 8  # default cap on a network: a student with a few terminals open
# Control characters (C0 but tab, DEL, C1) and bidirectional overrides.
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
LINGERING = threading.BoundedSemaphore(RESERVED_FILES // 2)  # turned away, lingering


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Bài 1 TCP server: prints every message a client sends (like \"From "
        "CLIENT TCP\") and answers each one with \"From SERVER TCP\".",
        epilog="Stop it with Ctrl+C.")
    parser.add_argument("--host", default=HOST,
                        help="address to listen on (default %(default)s; 0.0.0.0 or :: "
                        "opens the server to the classroom network, ::1 is IPv6 loopback)")
    parser.add_argument("--port", type=port_number, default=PORT,
                        help="port to listen on (default %(default)s; 0 lets the system pick one)")
    parser.add_argument("--timeout", type=seconds, default=TIMEOUT,
                        help="seconds a connection may go without a complete request "
                        "before the server closes it (default %(default)s)")
    parser.add_argument("--max-clients", type=positive_integer, default=default_max_clients(),
                        help="clients served at once; more are told the server is busy "
                        f"(default %(default)s: the open-files limit less {RESERVED_FILES})")
    parser.add_argument("--max-per-address", type=positive_integer,
                        help="connections one address (one student's machine) may hold at "
                        "once; more from it are turned away (default: 8 when the server is "
                        "open to the network, no limit on loopback)")
    return parser.parse_args(argv)


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


def default_per_address(host):
    """--max-per-address when not given: PER_ADDRESS on a network, no cap on loopback
    (where the only clients are this machine's own: tests, benchmarks, load generators)."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return None if loopback else PER_ADDRESS


def set_options(server):
    """Socket options a real TCP server needs, on every system."""
    if os.name == "posix":  # restart at once on the same port, without waiting out TIME_WAIT
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    elif hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: no other program on our port
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


def turn_away(conn, words):
    """hang_up() in a thread of its own, so that the accept loop goes on at once; past
    RESERVED_FILES // 2 such threads, at once, reading only what has arrived already."""
    if LINGERING.acquire(blocking=False):
        def linger():
            hang_up(conn, words)
            LINGERING.release()  # a place for the next one
        threading.Thread(target=linger, daemon=True).start()
    else:
        hang_up(conn, words, linger=0)


def hang_up(conn, words, linger=LINGER):
    """Send our last `words` and close, without losing them. Closing with unread bytes
    makes the OS send a reset, which can destroy them before the client reads them; so
    our FIN first, then what the client still sends is dropped, for at most `linger`
    seconds (with 0: only what has arrived already)."""
    try:
        conn.sendall(words)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(linger)
        deadline = time.monotonic() + linger
        while conn.recv(RECV_SIZE) and time.monotonic() < deadline:
            pass
    except OSError:
        pass
    conn.close()


def say(text, file=None):
    """print() that never stops the server: a line that cannot be printed (`| head -1`, a
    closed SSH session) is dropped. Line and end in one write: whole, even at Ctrl+C."""
    try:
        print(text + "\n", end="", file=file)
    except (OSError, ValueError):
        pass


def printable(text):
    """`text` with control characters and bidirectional overrides escaped: printed raw, a
    peer's "\\x1b[2J" would clear the screen, "\\r" or U+202E forge a line."""
    return UNSAFE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


if __name__ == "__main__":
    if sys.stdout:  # None when closed
        # Each line at once, even through a pipe; "?" for what a terminal cannot show.
        sys.stdout.reconfigure(line_buffering=True, errors="replace")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it as Ctrl+C
    sys.exit(main())
