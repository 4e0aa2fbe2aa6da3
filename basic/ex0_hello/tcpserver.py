"""TCP server of the slides' demo (ex0_hello): greets each client, then hangs up.

Lecture "Python Sockets", the first example server, in Python 3. Standard library only;
copy this file anywhere, run `python3 tcpserver.py` (port 12345), then `python3 tcpclient.py`
in a second terminal (it prints Thank you for connecting), or `nc 127.0.0.1 12345 </dev/null`.
"""

import socket
import threading
import argparse, atexit, errno, math, os, signal, sys, time, traceback  # beyond the slides

HOST = "127.0.0.1"  # the slides use socket.gethostname(), which opens the server to
#                     every network the computer is on; loopback is the safe default
PORT = 12345  # the slides' port
TIMEOUT = 60  # seconds we wait for a client that doesn't take its greeting
# Sockets carry bytes, not text: the slides' Python 2 sent a str, Python 3 needs bytes.
GREETING = b"Thank you for connecting\n"


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
                # A thread per client: reading what it sent before closing may take a second.
                try:
                    threading.Thread(target=handle, args=(conn, addr, args.timeout, clients),
                                     daemon=True).start()
                except RuntimeError:  # no thread left for it: as busy as full
                    clients.turn_away(conn, len(clients.leave(conn)))
    except KeyboardInterrupt:
        say("Server stopped")
    return 0


def handle(conn, addr, timeout, clients):
    """Greet one client and close, without losing the greeting."""
    with conn:
        try:
            conn.settimeout(timeout)
            conn.sendall(GREETING)
            # Unread bytes make close() reset the connection, which can destroy the greeting.
            conn.shutdown(socket.SHUT_WR)  # So: our FIN first, then read what the client sent.
            conn.settimeout(GOODBYE)
            deadline = time.monotonic() + GOODBYE
            for _ in range(MAX_DRAIN // RECV_SIZE):
                if not conn.recv(RECV_SIZE) or time.monotonic() > deadline:
                    break  # the client has closed too (a clean goodbye), or took too long
        except OSError:
            pass  # reset, timeout, broken pipe: this client is gone, the others are not
        except Exception:
            report_bug()  # a bug must be seen, as socketserver shows it
        finally:
            clients.leave(conn)


RECV_SIZE = 4096  # what the client sent is read in pieces of this size, and dropped
GOODBYE = 1  # seconds we wait for the client to close after its greeting
MAX_DRAIN = 65536  # bytes we read from it meanwhile, at most


# ----- Beyond the slides -----
# What a real server needs and the slides leave out: options, limits, friendly errors,
# Windows, IPv6, signals.

POLL = 0.5  # how often a waiting server wakes up to notice Ctrl+C (Windows needs it)
LINGER = 2  # seconds to drain a client we hang up on, so that it can read our last words
RESERVED_FILES = 32  # open files a server keeps for itself (listening socket, logs...)
# One line at a time, whole, from many threads. Reentrant: on Python 3.9 a Ctrl+C can
# strike between taking and giving back the lock, and "Server stopped" must not wait.
PRINT_LOCK = threading.RLock()


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


if __name__ == "__main__":
    sys.exit(main())
