"""TCP server of Bài 3 (ex3_password): the client sends passwords, the server the valid ones.

Lecture "Python Sockets", Bài 3. Standard library only; copy this file anywhere and run:

    python3 tcpserver.py                                  # terminal 1: the server, port 8092
    python3 tcpclient.py "Abc123@1,aF1#2w3E*,2We3345"     # terminal 2: prints Abc123@1

or talk to it by hand: `nc 127.0.0.1 8092`, then type passwords and Enter.
"""

import argparse
import errno
import os
import re
import socket
import sys
import threading
import time

HOST = "127.0.0.1"  # loopback only by default: --host 0.0.0.0 opens it to the classroom
PORT = 8092  # the lecture's port for Bài 3
TIMEOUT = 60  # seconds a connection may stay silent before we close it
MAX_LINE = 65536  # bytes in one request line, not counting "\n" or "\r\n"
MIN_LENGTH, MAX_LENGTH = 6, 12  # the lecture's limits on a password's length
RECV_SIZE = 4096  # small reads keep the replies to one read small too
POLL = 0.5  # how often the accept loop wakes up to notice Ctrl+C (Windows needs it)
LINGER = 2  # seconds to drain a client we hang up on, so that it can read our ERROR

ERROR_LONG = b"ERROR line too long (max %d bytes)\n" % MAX_LINE

# A password is made of these characters only, and needs one of each class below.
# Spelled out ASCII ranges: str.isalnum() or r"\w" would also accept "é" or "１".
ALLOWED = re.compile(r"[a-zA-Z0-9$#@]{%d,%d}" % (MIN_LENGTH, MAX_LENGTH))
REQUIRED = [re.compile(r"[a-z]"), re.compile(r"[0-9]"), re.compile(r"[A-Z]"),
            re.compile(r"[$#@]")]


def valid_passwords(text: str) -> str:
    """Bài 3's logic: the valid passwords of a comma-separated `text`, joined by ",".

    Spaces and tabs around each item are ignored, and so are empty items. A password is
    valid with 6 to 12 characters, all of [a-zA-Z0-9$#@], and at least one of [a-z],
    [0-9], [A-Z] and [$#@]. Order and duplicates are kept; no valid one gives "".
    """
    valid = []
    for item in text.split(","):
        password = item.strip(" \t")  # only these: a "\u00a0" stays and spoils it
        if ALLOWED.fullmatch(password) and all(c.search(password) for c in REQUIRED):
            valid.append(password)
    return ",".join(valid)


def answer(line: bytes) -> bytes:
    """The reply line to one request line (its "\\n" and one "\\r" already removed)."""
    return (valid_passwords(line.decode("utf-8", "replace")) + "\n").encode("utf-8")


def hang_up(conn):
    """Close after an ERROR without losing it.

    Closing a socket that still has unread bytes makes the OS send a reset, which can
    destroy our last reply before the client reads it. So: send our FIN first, then read
    and drop what the client still sends, for a short while.
    """
    try:
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(LINGER)
        deadline = time.monotonic() + LINGER
        while time.monotonic() < deadline and conn.recv(RECV_SIZE):
            pass
    except OSError:
        pass


def handle(conn, timeout):
    """Answer every line one client sends, in order, until it closes or misbehaves.

    TCP is a byte stream with no message boundaries: one recv() may hold half a line or
    many lines. So we keep the unfinished line in `pending` and answer each "\\n"-ended
    line as soon as it is complete.
    """
    with conn:
        try:
            # A recv() or sendall() stuck longer than this raises socket.timeout, which
            # closes the connection: a silent or never-reading client can't hold it forever.
            conn.settimeout(timeout)
            pending = bytearray()  # the unfinished line: never much more than MAX_LINE
            while True:
                data = conn.recv(RECV_SIZE)
                if not data:
                    return  # the client is done; an unfinished last line is dropped
                replies = []
                too_long = False
                start = 0
                # Look for "\n" in the new bytes only: rescanning `pending` every time
                # would make one byte per packet quadratic.
                end = data.find(b"\n")
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
                        too_long = True
                        break
                    replies.append(answer(line))
                    start = end + 1
                    end = data.find(b"\n", start)
                if not too_long:
                    pending += data[start:]
                    # MAX_LINE + 1: the line's "\r" may still be waiting for its "\n".
                    too_long = len(pending) > MAX_LINE + 1
                if too_long:
                    replies.append(ERROR_LONG)
                # One sendall per read. It blocks while the client does not read, and
                # then we stop reading too: that is TCP back-pressure, and it keeps our
                # memory flat.
                if replies:
                    conn.sendall(b"".join(replies))
                if too_long:
                    hang_up(conn)
                    return
        except Exception:
            # Whatever went wrong (reset, timeout, broken pipe...), it concerns this one
            # client: close its connection quietly and leave the server running.
            return


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
        description="Bài 3 TCP server: for each line of comma-separated passwords that a "
        "client sends, it answers with the valid ones, comma-separated. Valid: 6 to 12 "
        "characters of [a-zA-Z0-9$#@], with at least one [a-z], one [0-9], one [A-Z] and "
        "one of $#@ (\"Abc123@1,aF1#2w3E*,2We3345\" gives Abc123@1).",
        epilog="Stop it with Ctrl+C.",
    )
    parser.add_argument("--host", default=HOST,
                        help="address to listen on (default %(default)s; 0.0.0.0 or :: "
                        "opens the server to the classroom network, ::1 is IPv6 loopback)")
    parser.add_argument("--port", type=port_number, default=PORT,
                        help="port to listen on (default %(default)s; 0 lets the system pick one)")
    parser.add_argument("--timeout", type=seconds, default=TIMEOUT,
                        help="seconds a connection may stay silent before the server "
                        "closes it (default %(default)s)")
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
                # One thread per client, blocking style, on purpose: each client's code
                # reads top to bottom like the lecture's, and a slow client only blocks
                # its own thread. Daemon threads, so that Ctrl+C ends the server at once.
                try:
                    threading.Thread(target=handle, args=(conn, args.timeout),
                                     daemon=True).start()
                except RuntimeError:
                    conn.close()  # too many threads: turn this client away, serve the rest
    except KeyboardInterrupt:
        print("Server stopped")
        return 0


if __name__ == "__main__":
    sys.exit(main())
