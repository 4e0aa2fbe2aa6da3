"""TCP server of Bài 1 (ex1_message): prints each message, answers "From SERVER TCP".

Lecture "Python Sockets", Bài 1. Standard library only; copy this file anywhere, run
`python3 tcpserver.py` (port 8090), then `python3 tcpclient.py` in a second terminal (it
prints From SERVER TCP), or type lines into `nc 127.0.0.1 8090` or `telnet 127.0.0.1 8090`.
"""

import socket
import threading
import argparse, atexit, errno, math, os, re, signal, sys, time, traceback  # beyond the slides

HOST = "127.0.0.1"  # loopback only by default: --host 0.0.0.0 opens it to the classroom
PORT = 8090  # the lecture's port for Bài 1
TIMEOUT = 60  # seconds a client may take to finish a request before we close it


def main(argv=None):
    args = parse_args(argv)
    prepare_process()  # output that never stops the server; SIGTERM stops it as Ctrl+C
    try:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        with server:
            try:
                set_options(server)  # restart on the same port at once; "::" takes IPv4 too
                server.bind((args.host, args.port))
                server.listen(socket.SOMAXCONN)  # a whole classroom may connect at once
            except OSError as error:
                return cannot_listen(args.host, args.port, error)  # one line, exit status 1
            port = server.getsockname()[1]  # the real one, also with --port 0
            say(f"TCP server listening on {args.host} port {port}, Ctrl+C to stop")
            clients = Clients(args.max_clients)  # who is served now, and who is turned away
            server.settimeout(POLL)  # a blocking accept() never sees Ctrl+C on Windows
            while True:
                try:
                    conn, addr = server.accept()
                except socket.timeout:
                    continue  # nobody came: a chance to notice Ctrl+C
                except OSError as error:
                    clients.accept_failed(server, error)  # out of files: see Clients
                    continue
                if not clients.admit(conn):
                    continue  # busy: the newcomer got "ERROR server busy"
                say("Got connection from %r" % (addr[:2],))
                # One thread per client, blocking style, on purpose: each client's code reads
                # top to bottom like the lecture's; daemon threads end with the server.
                try:
                    threading.Thread(target=handle, args=(conn, addr, args.timeout, clients),
                                     daemon=True).start()
                except RuntimeError:  # no thread left for it: as busy as full
                    clients.turn_away(conn, len(clients.leave(conn)))
    except KeyboardInterrupt:
        say("Server stopped")
    return 0


def handle(conn, addr, timeout, clients):
    """Serve one client: answer each of its requests, in order, until it leaves."""
    replies = bytearray()  # answered, not sent yet: about MAX_UNSENT bytes at most
    with conn:
        try:
            framing = Framing(conn, timeout)  # where one request ends, the next begins: below
            while True:
                data = conn.recv(RECV_SIZE)
                for request, ending in framing.split(data):
                    text = request.decode("utf-8", "replace")  # invalid UTF-8 shows as "\ufffd"
                    say("Received from %r: %s" % (addr[:2], printable(text)))
                    replies += answer(text).encode("utf-8") + ending  # a bare reply to a bare one
                    if len(replies) >= MAX_UNSENT:
                        conn.sendall(replies)  # waits while the client does not read:
                        replies.clear()  # back-pressure keeps our memory flat
                if replies:
                    conn.sendall(replies)
                    replies.clear()
                if not data:
                    return  # the client has finished sending, and has every reply
        except LineTooLong:
            hang_up(conn, replies + ERROR_LONG)
        except OSError:
            pass  # reset, timeout, broken pipe: this client is gone, the others are not
        except Exception:
            report_bug()  # a bug (in answer, say) must be seen, as socketserver shows it
        finally:
            clients.leave(conn)


def answer(text: str) -> str:
    """Bài 1's logic: whatever the client says, the server's message."""
    return "From SERVER TCP"


# ----- The framing: where one request ends and the next begins -----

RECV_SIZE = 4096  # small reads keep the replies to one read small too
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


class Framing:
    """Cuts one client's byte stream into requests.

    TCP is a byte stream with no message boundaries: one recv() may hold half a line or
    many lines. A request is a line ending in "\\n" (one "\\r" before it is removed), or
    a bare message, as the slides' clients send it (see bare_message()). The framing
    also sets how long the next recv() may wait: the idle timeout counts from the last
    complete request, so a client that trickles bytes without ever finishing one is
    closed all the same, and its thread freed.
    """

    def __init__(self, conn, timeout):
        self.conn = conn
        self.timeout = timeout
        self.pending = bytearray()  # the unfinished request: never much more than MAX_LINE
        self.last = time.monotonic()  # when the last request was complete, or we connected
        self.wait = timeout  # the socket's timeout: how long a recv() may wait
        # A recv() or sendall() stuck longer than this raises socket.timeout, which
        # closes the connection: a silent or never-reading client can't hold it forever.
        conn.settimeout(timeout)
        # The system would queue megabytes of replies for a client that does not read,
        # and we would compute them all while the others wait. A small send buffer (the
        # system doubles it for its bookkeeping) keeps what we owe one client near
        # MAX_UNSENT: our batch, plus about a third of that queued in the system.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_UNSENT // 4)

    def split(self, data):
        """The requests that `data` completes, one by one, as (request, ending).

        `ending` is b"\\n" for a line, b"" for a bare message (its reply is bare too).
        Empty `data` is the client's half-close: the bytes after its last "\\n" are its
        last request, a bare one.
        """
        pending = self.pending
        if not data:
            if len(pending) > MAX_LINE:
                raise LineTooLong
            if pending:
                yield bytes(pending), b""
                pending.clear()
            return
        start = 0
        end = data.find(b"\n")
        if end < 0 and not pending and 1 < len(data) <= MAX_BARE:
            data = yield from self.bare_message(data)
            if data is None:
                return
            end = data.find(b"\n")
        if end >= 0 and self.wait != self.timeout:
            self.set_wait(self.timeout)  # a request completes: the client is not idle
        # Look for "\n" in the new bytes only: rescanning `pending` every time would make
        # one byte per packet quadratic.
        while end >= 0:
            if pending:
                pending += data[start:end]
                line = bytes(pending)
                pending.clear()
            else:
                line = data[start:end]
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > MAX_LINE:
                raise LineTooLong
            yield line, b"\n"
            start = end + 1
            end = data.find(b"\n", start)
        pending += data[start:]
        if len(pending) > MAX_LINE + 1:  # + 1: the line's "\r" may wait for its "\n"
            raise LineTooLong
        if start:  # this read completed requests: the idle time starts again
            self.last = time.monotonic()
        elif pending:  # still no complete request: only what is left of the timeout
            left = self.last + self.timeout - time.monotonic()
            if left <= 0:
                raise socket.timeout("no complete request for %s seconds" % self.timeout)
            self.set_wait(left)

    def bare_message(self, data):
        """After a short read without "\\n" and nothing before it: wait PAUSE seconds.

        Silence means it was a whole bare message (the slides' one send()): yield it and
        return None. More bytes mean it was the start of a line: return it with them, to
        be framed by "\\n" as usual (with no bare check until that line is complete).
        The client's half-close makes it its last request, a bare one.
        """
        self.set_wait(PAUSE)
        try:
            more = self.conn.recv(RECV_SIZE)
        except socket.timeout:
            more = None
        self.set_wait(self.timeout)
        if more:
            return data + more
        yield data, b""
        self.last = time.monotonic()
        return None

    def set_wait(self, seconds):
        """Set the socket's timeout, but only when that matters (by more than 50 ms): a
        system call per read would slow down a long line that arrives in many reads."""
        if abs(seconds - self.wait) > 0.05:
            self.conn.settimeout(seconds)
            self.wait = seconds


# ----- Beyond the slides -----
# What a real server needs and the slides leave out: options, limits, friendly errors,
# Windows, IPv6, signals.

POLL = 0.5  # how often a waiting server wakes up to notice Ctrl+C (Windows needs it)
LINGER = 2  # seconds to drain a client we hang up on, so that it can read our last words
RESERVED_FILES = 32  # open files a server keeps for itself (listening socket, logs...)
# One line at a time, whole, from many threads. Reentrant: on Python 3.9 a Ctrl+C can
# strike between taking and giving back the lock, and "Server stopped" must not wait.
PRINT_LOCK = threading.RLock()
# Control characters (C0 but tab, DEL, C1) and bidirectional overrides.
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Bài 1 TCP server: prints every message a client sends (like \"From "
        "CLIENT TCP\") and answers each one with \"From SERVER TCP\".",
        epilog="Stop it with Ctrl+C.",
    )
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
    return parser.parse_args(argv)


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


def positive_integer(text):
    """argparse type for --max-clients: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return value


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


def prepare_process():
    """Output line by line that survives any character; SIGTERM stops the server as Ctrl+C."""
    if hasattr(sys.stdout, "reconfigure"):
        # One line at a time, even into a pipe; never crash on a character the
        # console can't show.
        sys.stdout.reconfigure(line_buffering=True, errors="replace")

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    # `kill`, `timeout` or a service manager send SIGTERM: without this the server would
    # die at once, without "Server stopped". Python runs the handler in the main thread,
    # which then stops exactly as on Ctrl+C.
    signal.signal(signal.SIGTERM, interrupt)
    # Python aborts when, flushing stdout at exit, it finds a thread still inside print().
    atexit.register(PRINT_LOCK.acquire, True, 1)


def set_options(server):
    """Socket options a real server needs, on every system."""
    if os.name == "posix":
        if server.type == socket.SOCK_STREAM:
            # Restart at once on the same port, without waiting out TIME_WAIT. (Not for
            # UDP: there it would let a second server take the port and half its datagrams.)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    elif hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
        # Windows lets another program share or take over a port unless we forbid it.
        server.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    if server.family == socket.AF_INET6:
        try:
            # "::" then serves IPv4 clients too, where the OS allows it.
            server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        except (AttributeError, OSError):
            pass


def cannot_listen(host, port, error):
    """Say in one line why the server cannot listen (no traceback); exit status 1."""
    if error.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", None)):
        reason = "address already in use (is another server running? try --port 0)"
    else:
        reason = error.strerror or str(error)
    say("error: cannot listen on %s port %s: %s" % (host, port, reason), file=sys.stderr)
    return 1


class Clients:
    """The clients served now, and the door for those the server cannot take.

    Each client holds a thread and an open file. Past --max-clients, or when the system
    has no file left for a new socket, a newcomer gets "ERROR server busy" and is closed
    at once, instead of waiting in the queue, unanswered, until its own timeout. The
    server says so once per busy spell (until it accepts a client again), not once per
    newcomer. It serves again as soon as clients leave.
    """

    def __init__(self, maximum):
        self.maximum = maximum
        self.connected = set()
        self.busy = False  # in a busy spell: its line is printed already
        # Out of files, accept() fails and the newcomer would hang: this file is kept in
        # reserve, closed to accept it and turn it away, then taken back.
        self.spare = open(os.devnull, "rb")
        # Turned away clients linger in threads of their own, a few at a time.
        self.doors = threading.BoundedSemaphore(RESERVED_FILES // 2)

    def admit(self, conn):
        """True if `conn` may be served; else it is turned away, and False."""
        if len(self.connected) >= self.maximum:
            self.turn_away(conn, self.maximum)
            return False
        self.connected.add(conn)
        self.busy = False
        return True

    def leave(self, conn):
        """`conn` is served no more; the clients left."""
        self.connected.discard(conn)
        return self.connected

    def turn_away(self, conn, maximum, linger=True):
        """Send the busy line and close: in a lingering thread when one is free, so that
        the accept loop goes on at once; else at once (hang_up() with no linger)."""
        if not self.busy:
            self.busy = True
            say("Server busy: %d clients connected, new clients are turned away"
                % len(self.connected))
        words = b"ERROR server busy (max %d clients)\n" % maximum
        if linger and self.doors.acquire(blocking=False):
            try:
                threading.Thread(target=self.show_out, args=(conn, words), daemon=True).start()
                return
            except RuntimeError:  # no thread to spare
                self.doors.release()
        hang_up(conn, words, linger=0)

    def show_out(self, conn, words):
        """hang_up() in a thread of its own, then free its place."""
        try:
            hang_up(conn, words)
        finally:
            self.doors.release()

    def accept_failed(self, server, error):
        """accept() failed. Out of files (EMFILE, ENFILE), free the spare file, accept the
        newcomer, turn it away, and take the file back; anything else (a client that gave
        up, no memory): pause a little instead of spinning, and keep serving."""
        out_of_files = (errno.EMFILE, errno.ENFILE, getattr(errno, "WSAEMFILE", errno.EMFILE))
        if error.errno in out_of_files and self.spare is not None:
            self.spare.close()
            self.spare = None
            try:
                conn, addr = server.accept()
                self.turn_away(conn, len(self.connected), linger=False)
            except OSError:
                time.sleep(0.1)  # the file went to someone else
        else:
            time.sleep(0.1)
        if self.spare is None:
            try:
                self.spare = open(os.devnull, "rb")
            except OSError:
                pass  # still out of files: try again next time


def hang_up(conn, words, linger=LINGER):
    """Send our last `words` and close, without losing them.

    Closing a socket that still has unread bytes makes the OS send a reset, which can
    destroy our last words before the client reads them. So: send our FIN first, then
    read and drop what the client still sends, for at most `linger` seconds (with 0: only
    what has arrived already).
    """
    try:
        conn.settimeout(linger)
        conn.sendall(words)
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + linger
        while conn.recv(RECV_SIZE) and time.monotonic() < deadline:
            pass
    except OSError:
        pass
    conn.close()


def say(text, file=None):
    """print() that never stops the server: the lock keeps each line whole between
    threads, and a line that cannot be printed (output closed: `| head -1`, a closed
    SSH session) is dropped."""
    with PRINT_LOCK:
        try:
            # The line and its end in one write: a Ctrl+C between the two would glue
            # "Server stopped" to the end of the line before it.
            print(text + "\n", end="", file=file)
        except (OSError, ValueError):
            pass


def report_bug():
    """The exception being handled, with its traceback, on stderr (as socketserver's
    handle_error does): the server goes on serving the other clients."""
    say(traceback.format_exc().rstrip("\n"), file=sys.stderr)


def printable(text):
    """`text` with control characters and bidirectional overrides shown escaped.

    Printed raw, a peer's "\\x1b[2J" would clear the screen, and "\\r" or U+202E forge a
    line; tabs and ordinary letters (Vietnamese included) stay as they are.
    """
    return UNSAFE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


if __name__ == "__main__":
    sys.exit(main())
