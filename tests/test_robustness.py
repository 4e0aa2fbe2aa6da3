"""Robustness of every server implementation: awkward framing, limits, misbehaving
clients and load. Each test asserts the exact bytes and that the server still serves
another client afterwards (and printed nothing on standard error).
"""

import functools
import select
import socket
import threading
import time

import pytest

from tests import cases, harness

IMPLS = harness.SERVER_IMPLS
LINE_EXERCISES = ("ex1_message", "ex2_sum", "ex3_password")
MAX = cases.MAX_LINE

# Per exercise: a short request (without "\n") and its reply.
SAMPLE = {
    "ex1_message": (b"hello", b"From SERVER TCP\n"),
    "ex2_sum": (b"3 4", b"7\n"),
    "ex3_password": (b"Abc123@1,aF1#2w3E*", b"Abc123@1\n"),
}


def long_request(exercise, size):
    """A request of exactly `size` bytes (without "\\n") whose reply proves it was read whole."""
    if exercise == "ex1_message":
        return b"x" * size, b"From SERVER TCP\n"
    if exercise == "ex2_sum":
        return b"1" + b" " * (size - 2) + b"1", b"2\n"
    return b"," * (size - 8) + b"Abc123@1", b"Abc123@1\n"


def still_serves(server, exercise="ex2_sum"):
    """The server answers a new client correctly and has written nothing to stderr."""
    request, reply = SAMPLE[exercise]
    assert harness.tcp_exchange(server.ports["TCP"], request + b"\n") == reply
    assert server.stderr() == b""


def send_in_pieces(sock, pieces, pause=0.0):
    """Send each piece in its own segment (TCP_NODELAY), optionally pausing in between so
    that the server surely reads them apart."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for piece in pieces:
        sock.sendall(piece)
        time.sleep(pause)


matrix = pytest.mark.parametrize("exercise", LINE_EXERCISES)
impls = pytest.mark.parametrize("impl", IMPLS)


@matrix
@impls
def test_one_byte_per_packet(pool, impl, exercise):
    """A request sent one byte per segment, CRLF-ended, gets exactly its reply."""
    server = pool.get(impl, exercise, "tcp")
    request, reply = SAMPLE[exercise]
    with harness.connect(server.ports["TCP"]) as sock:
        send_in_pieces(sock, [bytes([b]) for b in request + b"\r\n"])
        assert harness.read_exactly(sock, len(reply)) == reply
    still_serves(server, exercise)


@matrix
@impls
def test_many_requests_in_one_packet(pool, impl, exercise):
    """A thousand requests in one send() get a thousand replies, in order."""
    server = pool.get(impl, exercise, "tcp")
    request, reply = SAMPLE[exercise]
    got = harness.tcp_exchange(server.ports["TCP"], (request + b"\n") * 1000)
    assert got == reply * 1000
    still_serves(server, exercise)


def _cr_and_lf_in_different_packets(pool, fresh, impl, exercise):
    server = pool.get(impl, exercise, "tcp")
    request, reply = SAMPLE[exercise]
    with harness.connect(server.ports["TCP"]) as sock:
        send_in_pieces(sock, [request + b"\r", b"\n", request[:2], request[2:] + b"\r", b"\n"],
                       pause=0.05)
        sock.shutdown(socket.SHUT_WR)
        assert harness.read_until_eof(sock) == reply * 2
    still_serves(server, exercise)


@matrix
@impls
def test_cr_and_lf_in_different_packets(pool, together, impl, exercise):
    """A "\\r" and its "\\n" in different segments still make one CRLF line ending.
    (The pauses of every implementation and exercise overlap: `together`.)"""
    together(functools.partial(_cr_and_lf_in_different_packets, pool),
             [(i, e) for i in IMPLS for e in LINE_EXERCISES], (impl, exercise))


@matrix
@impls
def test_longest_line_is_answered(pool, impl, exercise):
    """A line of exactly 65536 bytes is answered, with "\\n" and with "\\r\\n"."""
    server = pool.get(impl, exercise, "tcp")
    request, reply = long_request(exercise, MAX)
    got = harness.tcp_exchange(server.ports["TCP"], request + b"\n" + request + b"\r\n")
    assert got == reply * 2
    still_serves(server, exercise)


@matrix
@impls
def test_line_too_long(pool, impl, exercise):
    """A 65537-byte line: earlier lines answered, then `ERROR line too long`, then EOF."""
    server = pool.get(impl, exercise, "tcp")
    request, reply = SAMPLE[exercise]
    too_long, _ = long_request(exercise, MAX + 1)
    with harness.connect(server.ports["TCP"]) as sock:
        sock.sendall(request + b"\n" + request + b"\r\n" + too_long + b"\n")
        assert harness.read_until_eof(sock) == reply * 2 + cases.ERR_LONG
    still_serves(server, exercise)


def rss_growth_while(server, action):
    """Run action(); return how much the server's VmRSS grew meanwhile, in MB."""
    before = server.rss_kb()
    action()
    return (server.rss_kb() - before) / 1024


@impls
def test_ten_megabyte_line(fresh, impl):
    """A 10 MB line gets `ERROR line too long` and EOF, and the server's memory stays flat."""
    server = fresh(impl, "ex2_sum", "tcp")
    still_serves(server)
    got = []

    def flood():
        with harness.connect(server.ports["TCP"]) as sock:
            def send():
                try:
                    sock.sendall(b"1" * (10 * 1024 * 1024))
                except OSError:
                    pass  # the server hung up on us: expected, once it has seen enough
            sender = threading.Thread(target=send)
            sender.start()
            got.append(harness.read_until_eof(sock))
            sock.close()
            sender.join(10)

    growth = rss_growth_while(server, flood)
    assert got == [cases.ERR_LONG]
    assert growth < 30, f"server memory grew by {growth:.1f} MB"
    still_serves(server)


def _client_that_never_reads(fresh, impl):
    server = fresh(impl, "ex2_sum", "tcp")
    still_serves(server)
    request = b"9" * 4000 + b" 1\n"  # a 4002-byte reply per request: no shrinking
    chunk = request * 16
    sent = [0]

    def hog():
        sock = harness.connect(server.ports["TCP"])
        sock.setblocking(False)
        deadline = time.monotonic() + 20
        while sent[0] < 100 * 1024 * 1024 and time.monotonic() < deadline:
            _, writable, _ = select.select([], [sock], [], 1.0)
            if not writable:
                break  # the server stopped reading: back-pressure works
            try:
                sent[0] += sock.send(chunk)
            except BlockingIOError:
                continue
        hog.sock = sock

    growth = rss_growth_while(server, hog)
    try:
        assert growth < 30, f"server memory grew by {growth:.1f} MB after {sent[0]} bytes"
        assert sent[0] < 60 * 1024 * 1024, f"the server read {sent[0]} bytes from a non-reader"
        still_serves(server)
    finally:
        hog.sock.close()


@impls
def test_client_that_never_reads(together, impl):
    """A client that sends many MB and never reads does not grow the server's memory.
    (Each hog waits a second for a server that stopped reading: they overlap, `together`.)"""
    together(_client_that_never_reads, IMPLS, impl)


@impls
def test_half_close_after_pipelined_requests(pool, impl):
    """After a half-close every reply still arrives, then EOF; an unfinished last line is
    the client's last request, answered bare (no "\\n")."""
    server = pool.get(impl, "ex2_sum", "tcp")
    got = harness.tcp_exchange(server.ports["TCP"], b"3 4\n1 1\r\n9 9")
    assert got == b"7\n2\n18"
    still_serves(server)


@matrix
@impls
def test_half_close_unfinished_line_answered_bare(pool, impl, exercise):
    """An unfinished line at half-close is answered bare; an empty answer (ex3, no valid
    password) as "\\n"; a lone "\\r" is data, not a line end."""
    server = pool.get(impl, exercise, "tcp")
    port = server.ports["TCP"]
    request, reply = SAMPLE[exercise]
    bare = {"ex1_message": (b"x", b"From SERVER TCP"), "ex2_sum": (b"3 4\r", cases.ERR_SUM[:-1]),
            "ex3_password": (b"abc", b"\n")}[exercise]
    assert harness.tcp_exchange(port, request + b"\n" + request) == reply + reply[:-1]
    assert harness.tcp_exchange(port, bare[0]) == bare[1]
    still_serves(server, exercise)


@impls
def test_reset_in_mid_line(pool, impl):
    """A client that resets its connection in mid-line leaves the server unharmed."""
    server = pool.get(impl, "ex2_sum", "tcp")
    with harness.connect(server.ports["TCP"]) as sock:
        assert harness.tcp_request(sock, b"3 4\n12", 2) == b"7\n"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    still_serves(server)


def _idle_timeout(fresh, impl):
    server = fresh(impl, "ex2_sum", "tcp", options=["--timeout", "1"])
    with harness.connect(server.ports["TCP"]) as silent, \
            harness.connect(server.ports["TCP"]) as talker:
        start = time.monotonic()
        assert harness.tcp_request(talker, b"3 4\n", 2) == b"7\n"
        assert harness.read_until_eof(silent) == b""
        assert harness.read_until_eof(talker) == b""
        elapsed = time.monotonic() - start
    assert 0.8 < elapsed < 5, elapsed
    still_serves(server)


@impls
def test_idle_timeout(together, impl):
    """With --timeout 1 a silent connection is closed after about a second, and so is a
    connection one second after its last complete request. (The implementations wait out
    their timeouts at the same time: `together`.)"""
    together(_idle_timeout, IMPLS, impl)


def _idle_timeout_counts_from_the_last_complete_request(fresh, impl):
    server = fresh(impl, "ex2_sum", "tcp", options=["--timeout", "1"])
    with harness.connect(server.ports["TCP"], nodelay=True) as sock:
        # A request every 0.2 s for 2 s: 0.8 s to spare for a loaded machine's stalls.
        for _ in range(10):
            assert harness.tcp_request(sock, b"3 4\n", 2) == b"7\n"
            time.sleep(0.2)
        sock.sendall(b"3 4\n1")  # a complete request and one byte of the next
        assert harness.read_exactly(sock, 2) == b"7\n"
        start = time.monotonic()
        sock.sendall(b" ")  # more bytes, no complete request: the timer is not reset
        assert harness.read_until_eof(sock) == b""
        elapsed = time.monotonic() - start
    assert 0.5 < elapsed < 5, elapsed
    still_serves(server)


@impls
def test_idle_timeout_counts_from_the_last_complete_request(together, impl):
    """--timeout 1: requests every 0.2 s keep a connection open for 2 s; then, with only
    part of a line sent, it is closed about a second after its last complete request.
    (The implementations' 3 s each run at the same time: `together`.)"""
    together(_idle_timeout_counts_from_the_last_complete_request, IMPLS, impl)


@impls
def test_hundreds_of_concurrent_clients(pool, impl):
    """300 connections open at once are all answered correctly."""
    server = pool.get(impl, "ex2_sum", "tcp")
    socks = [harness.connect(server.ports["TCP"], timeout=20) for _ in range(300)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(b"%d %d\n" % (i, i))
        got = [harness.read_exactly(sock, len(b"%d\n" % (2 * i))) for i, sock in enumerate(socks)]
    finally:
        for sock in socks:
            sock.close()
    assert got == [b"%d\n" % (2 * i) for i in range(300)]
    still_serves(server)


def udp_cases(exercise, size):
    """Datagrams of an exercise, with their replies: big ones, empty ones, garbage.

    The reply ends in "\\n" exactly when the datagram did, or when the answer is empty.
    """
    big = long_request(exercise, size)[0] if exercise != "ex1_message" else b"x" * size
    reply = {"ex1_message": b"From SERVER UDP", "ex2_sum": b"2",
             "ex3_password": b"Abc123@1"}[exercise]
    empty = {"ex1_message": b"From SERVER UDP", "ex2_sum": cases.ERR_SUM[:-1],
             "ex3_password": b""}[exercise]
    return [(big, reply), (b"", empty or b"\n"), (b"\xff\xfe\x00\r\n", empty + b"\n")]


@pytest.mark.parametrize("size", [10_000, cases.MAX_DATAGRAM], ids=["10kB", "65507B"])
@matrix
@impls
def test_udp_big_empty_and_garbage_datagrams(pool, impl, exercise, size):
    """Datagrams of 10 kB and 65507 bytes are read whole; empty and garbage ones answered."""
    server = pool.get(impl, exercise, "udp")
    port = server.ports["UDP"]
    since = len(server.output())  # a pooled server: earlier tests may have sent such a message
    rows = udp_cases(exercise, size)
    got = [(d[:20], harness.udp_exchange(port, d)) for d, _ in rows]
    assert got == [(d[:20], reply) for d, reply in rows]
    if exercise == "ex1_message":
        # ex1's reply is fixed: the printed message proves the datagram was read whole.
        server.wait_for(lambda lines: any(line.endswith("): " + "x" * size)
                                          for line in lines[since:]),
                        timeout=5, what=f"the {size}-byte message printed")
    request, reply = SAMPLE[exercise]
    reply = reply.replace(b"TCP", b"UDP")
    assert harness.udp_exchange(port, request + b"\n") == reply
    assert harness.udp_exchange(port, request) == reply[:-1]  # bare in, bare out
    assert server.stderr() == b""
