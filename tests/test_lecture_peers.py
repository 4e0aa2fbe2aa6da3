"""Programs written the way the slides write them, against every server and client here.

The slides' programs, and nearly every student's solution of the exercises, frame
nothing: a client makes one send() of a bare string and one recv(1024); a server makes
one recv(1024), one send() of a bare reply, and often closes (PROTOCOL.md, "Lecture-style
peers"). The peers below are written that way, a few lines each, and talk to every server
(basic, Twisted, twistd) and every client (basic, Twisted), over TCP and UDP. The bytes
on the wire and the clients' output, standard error and exit status are checked exactly.

The test's sockets use TCP_NODELAY, so that each send() leaves as written and the pieces
of the timing tests arrive as pieces. The only sleeps are the pauses between pieces that
a test is about. The sessions run all at once, in threads, from module fixtures, so that
their pauses overlap; the tests then compare what happened with what must happen.

Last, the slides' own Python 2 demo, as printed in the lecture, against ex0 in both
directions.
"""

import collections
import concurrent.futures
import functools
import glob
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import threading
import time

import pytest

from tests import cases, harness
from tests.test_rows import visits

IMPLS = harness.SERVER_IMPLS
CLIENTS = harness.CLIENT_IMPLS
LINE_EXERCISES = ("ex1_message", "ex2_sum", "ex3_password")
PAUSE = 0.3  # the silence that ends a bare message (PROTOCOL.md: between 0.25 and 0.5 s)
WELL_INSIDE_A_SECOND = 1.0  # a generous bound on a bare request's answer, not a speed test
ERR_SUM = cases.bare(cases.ERR_SUM)
GREETING = cases.bare(cases.GREETING)  # what the slides' server sends: no "\n"


# ------------------------------------------------------------------ what the slides send

def bare_rows(exercise, transport="tcp"):
    """(request, reply) as a slide-style program sends and expects them: no "\\n" on either
    side, except the empty answer of ex3, which is "\\n" (zero bytes are no reply)."""
    if exercise == "ex1_message":
        kind = transport.upper().encode()
        reply = b"From SERVER " + kind
        # 2 and 1024 bytes: the shortest and the longest read that may be a whole message.
        return [(b"From CLIENT " + kind, reply), ("Xin chào các bạn".encode(), reply),
                (b"hi", reply), (b"x" * 1024, reply)]
    if exercise == "ex2_sum":
        # Students' clients send "3,4" as often as "3 4"; a mistake is still answered.
        return [(b"3 4", b"7"), (b"3,4", b"7"), (b"3, 4", b"7"), (b"3 ,4", b"7"),
                (b"-5 12", b"7"), (b"3,,4", ERR_SUM), (b"3,4,5", ERR_SUM),
                (b"0" * 1021 + b"3 4", b"7")]
    if exercise == "ex3_password":
        return [(b"Abc123@1,aF1#2w3E*,2We3345", b"Abc123@1"),
                (b"ABd1234@1,a F1#,2w3E*,2We3345", b"ABd1234@1"),
                (b"zzz", b"\n")]
    raise ValueError(exercise)


def printed(request):
    """What an ex1 server prints after "Received from (host, port): " for a request."""
    return request.rstrip(b"\r\n").decode("utf-8", "replace")


# The timing rules: {kind: (pause before each piece but the first, {exercise: (the
# line's pieces, the one reply)})}.
LONG_PASSWORDS = b",".join([b"Abc123@1"] * 200)  # 1799 bytes, every password valid
PIECES = {
    # Pieces of a line 150 ms apart are one line, though the first looks like a whole
    # bare message (2 to 1024 bytes, no "\n"): the pause (0.3 s) has not passed.
    "pieces_150ms": (0.15, {
        "ex1_message": ([b"From ", b"CLIENT ", b"TCP\n"], b"From SERVER TCP\n"),
        "ex2_sum": ([b"12", b" 3", b"4\n"], b"46\n"),
        "ex3_password": ([b"Abc1", b"23@1,aF1#2w3E*", b",2We3345\n"], b"Abc123@1\n"),
    }),
    # Keys typed one per packet (Windows telnet), however slowly: one byte is never a
    # whole message, and what follows it is the rest of the line.
    "keys_450ms": (0.45, {
        "ex1_message": ([b"h", b"i", b"\r\n"], b"From SERVER TCP\n"),
        "ex2_sum": ([b"3", b" ", b"4", b"\r\n"], b"7\n"),
        "ex3_password": ([b"a", b"B", b"1", b"$", b"a", b"a", b"\r\n"], b"aB1$aa\n"),
    }),
    # A long line whose first segment (1500 bytes) arrives alone, the rest 0.7 s later:
    # a read longer than 1024 bytes is never a whole message.
    "long_first_piece_700ms": (0.7, {
        "ex1_message": ([b"x" * 1500, b"yz\n"], b"From SERVER TCP\n"),
        "ex2_sum": ([b"0" * 1499 + b"3", b" 4\n"], b"7\n"),
        "ex3_password": ([LONG_PASSWORDS[:1500], LONG_PASSWORDS[1500:] + b"\n"],
                         LONG_PASSWORDS + b"\n"),
    }),
    # The same just past the limit: a first read of 1025 bytes is not a whole message.
    "first_piece_1025_700ms": (0.7, {
        "ex1_message": ([b"x" * 1025, b"\n"], b"From SERVER TCP\n"),
        "ex2_sum": ([b"0" * 1022 + b"3 4", b"\n"], b"7\n"),
        "ex3_password": ([b" " * 1017 + b"Abc123@1", b"\n"], b"Abc123@1\n"),
    }),
}


# ------------------------------------------------------------------ slide-style clients

def slide_socket(port):
    """The slides' `s = socket.socket(); s.connect((host, port))`, with a timeout and
    TCP_NODELAY so that every send() leaves at once, as written."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.connect((harness.HOST, port))
    return sock


class Connections:
    """Names each connection of the sessions exactly: (client port, n), where n counts the
    earlier connections from that client port to that server (the system reuses a closed
    connection's port: a port alone does not name a connection). Connections from one
    port to one server never overlap, so n is also their order in the server's output:
    the n-th `Got connection from` that port since the sessions began (see `visits`)."""

    def __init__(self):
        self.counts = collections.Counter()
        self.lock = threading.Lock()

    def name(self, sock):
        """The name of a connected socket's connection: call it before the socket closes."""
        key = (sock.getpeername()[1], sock.getsockname()[1])
        with self.lock:
            n = self.counts[key]
            self.counts[key] += 1
        return key[1], n


CONNECTIONS = Connections()


def rest_after_half_close(sock):
    """What the server sends after the slide client's last recv(), once the client
    half-closes: nothing at all, then EOF (the slides' client never looks; the test does)."""
    sock.shutdown(socket.SHUT_WR)
    return harness.read_until_eof(sock)


def ask_once(port, request):
    """The slides' client: one send() of a bare string, one recv(1024)."""
    with slide_socket(port) as s:
        name = CONNECTIONS.name(s)
        start = time.monotonic()
        s.send(request)
        reply = s.recv(1024)
        latency = time.monotonic() - start
        return {"replies": [reply], "latencies": [latency], "rest": rest_after_half_close(s),
                "connections": [name]}


def ask_in_a_loop(port, requests):
    """A slide-style client that loops: send() a bare request, recv(1024), again, on one
    connection."""
    with slide_socket(port) as s:
        name = CONNECTIONS.name(s)
        replies, latencies = [], []
        for request in requests:
            start = time.monotonic()
            s.send(request)
            replies.append(s.recv(1024))
            latencies.append(time.monotonic() - start)
        return {"replies": replies, "latencies": latencies, "rest": rest_after_half_close(s),
                "connections": [name]}


def ask_then_half_close(port, request):
    """A slide-style client that shuts down its sending side after its bare request,
    then reads until the server closes."""
    with slide_socket(port) as s:
        name = CONNECTIONS.name(s)
        start = time.monotonic()
        s.send(request)
        s.shutdown(socket.SHUT_WR)
        reply = harness.read_until_eof(s)
        return {"replies": [reply], "latencies": [time.monotonic() - start], "rest": b"",
                "connections": [name]}


def send_pieces(port, pieces, gap):
    """Send a line in pieces, `gap` seconds apart, half-close, and read every reply.

    Returns the replies, the longest gap there really was between two send() calls (a
    loaded machine may oversleep), and the connection's name (see Connections).
    """
    with slide_socket(port) as s:
        name = CONNECTIONS.name(s)
        worst = 0.0
        last = None
        for i, piece in enumerate(pieces):
            if i:
                time.sleep(gap)  # the pause between pieces is what this test is about
            now = time.monotonic()
            if last is not None:
                worst = max(worst, now - last)
            s.sendall(piece)
            last = now
        return {"replies": [rest_after_half_close(s)], "worst_gap": worst,
                "connections": [name]}


def send_pieces_in_time(port, pieces, gap, tries=3):
    """send_pieces, tried again (up to `tries` times) when this machine was so loaded that
    a gap meant to be shorter than the pause became longer than it: that run proves
    nothing about the server."""
    for _ in range(tries):
        result = send_pieces(port, pieces, gap)
        if gap >= PAUSE or result["worst_gap"] < PAUSE - 0.05:
            return result
    return result


def captured(job):
    """Run a session; a failure (a timeout, a reset) becomes its result, so that each
    test shows its own instead of the whole fixture failing."""
    try:
        return job()
    except OSError as error:
        return {"replies": [f"failed: {error!r}"], "latencies": [math.inf], "rest": None,
                "connections": [], "worst_gap": 0.0}


@pytest.fixture(scope="module")
def latencies(request):
    """{(impl, exercise, kind): [seconds]}: printed in the test output at the end."""
    found = {}
    yield found
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not found:
        return
    lines = ["", "bare-request latency, send() to the reply's arrival (ms):"]
    for (impl, kind) in sorted({(i, k) for i, _, k in found}):
        values = [v for (i, _, k), vs in found.items() if (i, k) == (impl, kind) for v in vs]
        if values:
            lines.append(
                f"  {impl:8} {kind:11} n={len(values):3} min={min(values) * 1000:4.0f} "
                f"median={statistics.median(values) * 1000:4.0f} max={max(values) * 1000:4.0f}")
    with capture.global_and_fixture_disabled():  # shown even without -s
        for line in lines:
            reporter.write_line(line)


@pytest.fixture(scope="module")
def ex1_since(pool):
    """{impl: the number of lines the pooled ex1 TCP server had printed before the
    sessions}: what it printed earlier was about the connections of other tests."""
    return {impl: len(pool.get(impl, "ex1_message", "tcp").output()) for impl in IMPLS}


@pytest.fixture(scope="module")
def sessions(pool, latencies, ex1_since):
    """Every slide-style TCP session against every server, run at once.

    Returns {(impl, exercise, kind): [result]}; `kind` is "once" (one connection per bare
    request), "loop" (all bare requests on one connection), "mixed" (bare, line, bare on
    one connection), "half_close", or one of PIECES.
    """
    jobs = {}
    for impl in IMPLS:
        for exercise in LINE_EXERCISES:
            port = pool.port(impl, exercise, "tcp")
            rows = bare_rows(exercise)
            requests = [r for r, _ in rows]
            jobs[(impl, exercise, "once")] = [
                functools.partial(ask_once, port, r) for r in requests]
            jobs[(impl, exercise, "loop")] = [functools.partial(ask_in_a_loop, port, requests)]
            jobs[(impl, exercise, "mixed")] = [functools.partial(
                ask_in_a_loop, port, [requests[0], requests[0] + b"\n", requests[1]])]
            jobs[(impl, exercise, "half_close")] = [
                functools.partial(ask_then_half_close, port, r) for r in requests]
            for kind, (gap, pieces) in PIECES.items():
                jobs[(impl, exercise, kind)] = [
                    functools.partial(send_pieces_in_time, port, pieces[exercise][0], gap)]
    flat = [(key, i, job) for key, js in jobs.items() for i, job in enumerate(js)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(flat)) as executor:
        futures = [(key, executor.submit(captured, job)) for key, _, job in flat]
        done = {}
        for key, future in futures:
            done.setdefault(key, []).append(future.result())
    for (impl, exercise, kind), results in done.items():
        if kind in ("once", "loop", "half_close"):
            # The latency of right replies only: a wrong one proves nothing.
            replies = [a for _, a in bare_rows(exercise)]
            pairs = zip([x for r in results for x in r["latencies"]],
                        [x for r in results for x in r["replies"]], replies)
            latencies[(impl, exercise, kind)] = [t for t, got, a in pairs if got == a]
    return done


@pytest.mark.parametrize("exercise", LINE_EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_slide_client_sends_bare_and_reads_once(sessions, impl, exercise):
    """The slides' client (one bare send(), one recv(1024)) gets exactly the bare reply,
    well inside a second, and nothing after it."""
    results = sessions[(impl, exercise, "once")]
    got = [(r, res["replies"][0], res["rest"]) for (r, _), res in zip(bare_rows(exercise), results)]
    assert got == [(r, a, b"") for r, a in bare_rows(exercise)]
    slow = [res["latencies"][0] for res in results if res["latencies"][0] >= WELL_INSIDE_A_SECOND]
    assert slow == []


@pytest.mark.parametrize("exercise", LINE_EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_slide_client_loops_on_one_connection(sessions, impl, exercise):
    """A slide-style client that sends bare request after bare request on one connection,
    one recv(1024) each, gets each bare reply in turn, and nothing more."""
    [result] = sessions[(impl, exercise, "loop")]
    assert (result["replies"], result["rest"]) == ([a for _, a in bare_rows(exercise)], b"")
    assert max(result["latencies"]) < WELL_INSIDE_A_SECOND


@pytest.mark.parametrize("exercise", LINE_EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_bare_and_line_requests_mix_on_one_connection(sessions, impl, exercise):
    """A bare request, then the same as a line, then another bare one, on one connection:
    bare replies to bare requests, a line reply to the line."""
    [result] = sessions[(impl, exercise, "mixed")]
    (_, first), (_, second) = bare_rows(exercise)[:2]
    line_reply = first if first == b"\n" else first + b"\n"
    assert (result["replies"], result["rest"]) == ([first, line_reply, second], b"")


@pytest.mark.parametrize("exercise", LINE_EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_slide_client_half_closes_after_a_bare_request(sessions, impl, exercise):
    """A client that shuts down its sending side after a bare request gets exactly the
    bare reply, then the server closes."""
    results = sessions[(impl, exercise, "half_close")]
    got = [(r, res["replies"][0]) for (r, _), res in zip(bare_rows(exercise), results)]
    assert got == bare_rows(exercise)


@pytest.mark.parametrize("kind", list(PIECES))
@pytest.mark.parametrize("exercise", LINE_EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_a_line_in_pieces_is_one_line(sessions, impl, exercise, kind):
    """A line sent in pieces (150 ms apart; one key per 0.45 s; a first piece of 1500 or
    1025 bytes and the rest 0.7 s later) is one line, answered once, with "\\n"."""
    [result] = sessions[(impl, exercise, kind)]
    if kind == "pieces_150ms":
        # Had this machine delayed a piece past the pause (three times), the run would
        # prove nothing about the server.
        assert result["worst_gap"] < PAUSE, "too loaded to send pieces 150 ms apart"
    _, reply = PIECES[kind][1][exercise]
    assert result["replies"] == [reply]


@pytest.mark.parametrize("impl", IMPLS)
def test_ex1_server_prints_bare_messages_and_pieced_lines(sessions, ex1_since, pool, impl):
    """The ex1 server prints `Received from (host, port): TEXT` once per bare message, as
    for a line, and once for a line that came in pieces."""
    server = pool.get(impl, "ex1_message", "tcp")
    requests = [r for r, _ in bare_rows("ex1_message")]
    sent = [(result, [request]) for result, request in zip(
        sessions[(impl, "ex1_message", "once")], requests)]
    sent += [(sessions[(impl, "ex1_message", "loop")][0], requests)]
    sent += [(sessions[(impl, "ex1_message", kind)][0], [b"".join(pieces["ex1_message"][0])])
             for kind, (_, pieces) in PIECES.items()]
    expected = {}
    for result, messages in sent:
        assert result["connections"], result["replies"]  # the session itself failed
        port, n = result["connections"][0]
        expected[(port, n)] = [f"Got connection from ('127.0.0.1', {port})"] + [
            f"Received from ('127.0.0.1', {port}): {printed(m)}" for m in messages]

    def found(lines):
        # Each session's connection: the n-th from its port since the sessions began.
        got = {}
        for port, n in expected:
            visit = visits(lines[ex1_since[impl]:], port)[n:n + 1]
            got[(port, n)] = visit[0] if visit else []
        return got

    lines = server.wait_for(
        lambda ls: all(len(v) >= len(expected[k]) for k, v in found(ls).items()),
        timeout=10, what="the lines about every session")
    assert found(lines) == expected


@pytest.mark.parametrize("impl", IMPLS)
def test_slide_client_reads_the_ex0_greeting_once(pool, impl):
    """ex0 over TCP: the slides' client gets the whole greeting in its one recv(1024)."""
    port = pool.port(impl, "ex0_hello", "tcp")
    with slide_socket(port) as s:
        assert s.recv(1024) == cases.GREETING
        assert harness.read_until_eof(s) == b""


def udp_ask(port, request):
    """The slides' UDP client: one sendto() of a bare string, one recvfrom(1024)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(request, (harness.HOST, port))
        reply, _ = s.recvfrom(1024)
        return reply


@pytest.mark.parametrize("exercise", cases.EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_slide_udp_client_gets_bare_replies(pool, impl, exercise):
    """The slides' UDP client (sendto of a bare string, recvfrom(1024)) gets the bare reply;
    a datagram ending in "\\n" gets a reply ending in "\\n"."""
    port = pool.port(impl, exercise, "udp")
    if exercise == "ex0_hello":
        rows = [(b"hi", GREETING), (b"", GREETING), (b"hi\n", cases.GREETING)]
    else:
        rows = bare_rows(exercise, "udp")
        request, reply = rows[0]
        rows = rows + [(request + b"\n", reply if reply == b"\n" else reply + b"\n")]
    got = harness.parallel([lambda r=r: (r, udp_ask(port, r)) for r, _ in rows])
    assert got == rows


# ------------------------------------------------------------------ slide-style servers

def slide_answer(exercise, transport, data):
    """The reply a student's server computes from what one recv() returned."""
    text = data.decode("utf-8", "replace").strip()
    if exercise == "ex0_hello":
        return GREETING
    if exercise == "ex1_message":
        return b"From SERVER " + transport.upper().encode()
    if exercise == "ex2_sum":
        a, b = text.replace(",", " ").split()
        return str(int(a) + int(b)).encode()
    valid = [p.strip() for p in text.split(",")
             if re.fullmatch(r"(?=.*[a-z])(?=.*[0-9])(?=.*[A-Z])(?=.*[$#@])[a-zA-Z0-9$#@]{6,12}",
                             p.strip())]
    return ",".join(valid).encode()


class SlideServer:
    """A server written the way the slides write one, in a thread of the test process.

    TCP kinds: "one_shot" accepts one client, reads once, answers bare and closes (then
    stops); "accept_loop" does that for every client; "recv_loop" keeps each connection
    and answers every recv(1024) with a bare reply until the client closes; "crlf" is
    "accept_loop" ending each reply with "\\r\\n", as telnet-style servers do. With
    `split`, each reply goes out in two pieces 150 ms apart. UDP: recvfrom(1024), sendto
    a bare reply. `received` holds what was read: per connection, the list of recv()
    results (TCP); the datagrams (UDP).
    """

    def __init__(self, exercise, transport, kind="accept_loop", split=False):
        self.exercise, self.transport, self.kind, self.split = exercise, transport, kind, split
        kind_ = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
        self.sock = socket.socket(socket.AF_INET, kind_)
        self.sock.bind((harness.HOST, 0))
        if transport == "tcp":
            self.sock.listen(5)
        self.sock.settimeout(0.1)  # to notice `stopping`
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.errors = []
        self.worst_gap = 0.0  # the longest pause there really was between a reply's pieces
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()

    def serve(self):
        try:
            while not self.stopping.is_set():
                if self.transport == "udp":
                    self.serve_datagram()
                    continue
                try:
                    conn, _ = self.sock.accept()
                except socket.timeout:
                    continue
                with conn:
                    conn.settimeout(10)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.serve_connection(conn)
                if self.kind == "one_shot":
                    return
        except Exception as error:  # noqa: BLE001 (reported by the test)
            self.errors.append(repr(error))
        finally:
            self.sock.close()

    def serve_datagram(self):
        try:
            data, address = self.sock.recvfrom(1024)
        except socket.timeout:
            return
        self.received.append(data)
        reply = slide_answer(self.exercise, "udp", data)
        if self.kind == "crlf":
            reply += b"\r\n"
        self.sock.sendto(reply, address)

    def serve_connection(self, conn):
        if self.exercise == "ex0_hello":  # the slides' demo: send, close
            self.send(conn, GREETING)
            return
        reads = []
        self.received.append(reads)
        while True:
            data = conn.recv(1024)
            if not data:
                return
            reads.append(data)
            self.send(conn, slide_answer(self.exercise, "tcp", data))
            if self.kind != "recv_loop":
                return

    def send(self, conn, reply):
        if self.kind == "crlf":
            reply += b"\r\n"
        if self.split:
            half = len(reply) // 2
            conn.send(reply[:half])
            start = time.monotonic()
            time.sleep(0.15)  # the pause between the pieces is what the test is about
            self.worst_gap = max(self.worst_gap, time.monotonic() - start)
            reply = reply[half:]
        conn.send(reply)

    def stop(self):
        self.stopping.set()
        self.thread.join(10)


# (exercise, transport, server kind, split, args, stdin, expected Result, expected received)
ARGS = {"ex0_hello": [], "ex1_message": [], "ex2_sum": ["3", "4"],
        "ex3_password": ["Abc123@1,aF1#2w3E*,2We3345"]}
SENT = {"ex0_hello": b"", "ex1_message": b"From CLIENT TCP\n", "ex2_sum": b"3 4\n",
        "ex3_password": b"Abc123@1,aF1#2w3E*,2We3345\n"}
PRINTED = {"ex0_hello": cases.GREETING, "ex1_message": b"From SERVER TCP\n",
           "ex2_sum": b"7\n", "ex3_password": b"Abc123@1\n"}
STDIN = {
    "ex2_sum": (b"1 2\n3,4\n-5 12\n", b"3\n7\n7\n"),
    "ex3_password": (b"ABd1234@1,a F1#,2w3E*,2We3345\nAbc123@1, Xyz789#2\n",
                     b"ABd1234@1\nAbc123@1,Xyz789#2\n"),
}


def ok(stdout):
    return harness.Result(0, stdout, b"")


def client_plan():
    """{name: (exercise, transport, kind, split, args, stdin, Result, received)}."""
    plan = {}
    for exercise in cases.EXERCISES:
        sent = [[SENT[exercise]]] if exercise != "ex0_hello" else []
        for kind in ("one_shot", "accept_loop", "recv_loop"):
            if exercise == "ex0_hello" and kind == "recv_loop":
                continue  # ex0's server sends and closes: there is no request to loop on
            plan[f"{exercise}-tcp-{kind}"] = (
                exercise, "tcp", kind, False, ARGS[exercise], b"", ok(PRINTED[exercise]), sent)
        if exercise in STDIN:
            stdin, stdout = STDIN[exercise]
            # Several requests on one connection: each bare reply ends by the pause.
            lines = [line + b"\n" for line in stdin.split(b"\n")[:-1]]
            plan[f"{exercise}-tcp-recv_loop-stdin"] = (
                exercise, "tcp", "recv_loop", exercise == "ex3_password", [], stdin,
                ok(stdout), [lines])
            udp_lines = [line[:-1] for line in lines]
            plan[f"{exercise}-udp-stdin"] = (
                exercise, "udp", None, False, [], stdin, ok(stdout), udp_lines)
        # A reply that comes in two pieces 150 ms apart is one reply.
        if exercise == "ex1_message":
            plan[f"{exercise}-tcp-recv_loop-split"] = (
                exercise, "tcp", "recv_loop", True, [], b"", ok(PRINTED[exercise]), sent)
        udp_sent = [SENT[exercise].replace(b"TCP", b"UDP").rstrip(b"\n")]
        plan[f"{exercise}-udp"] = (exercise, "udp", None, False, ARGS[exercise], b"",
                                   ok(PRINTED[exercise].replace(b"TCP", b"UDP")), udp_sent)
        # A reply ending in "\r\n" prints without its "\r", as "\n" alone would.
        plan[f"{exercise}-tcp-crlf"] = (
            exercise, "tcp", "crlf", False, ARGS[exercise], b"", ok(PRINTED[exercise]), sent)
        plan[f"{exercise}-udp-crlf"] = (exercise, "udp", "crlf", False, ARGS[exercise], b"",
                                        ok(PRINTED[exercise].replace(b"TCP", b"UDP")), udp_sent)
    return plan


PLAN = client_plan()


@pytest.fixture(scope="module")
def client_runs():
    """{(name, client): (Result, received, server errors)}: every client of ours against a
    slide-style server of its own, all run at once."""
    jobs = {}
    for name, (exercise, transport, kind, split, args, stdin, _, _) in PLAN.items():
        for client in CLIENTS:
            jobs[(name, client)] = (exercise, transport, kind, split, args, stdin, client)

    def run(exercise, transport, kind, split, args, stdin, client):
        # A machine so loaded that a 150 ms pause between a reply's pieces became one
        # longer than a client's pause (0.3 s) proves nothing about the client: again.
        for _ in range(3):
            server = SlideServer(exercise, transport, kind, split)
            try:
                result = harness.run_client(client, exercise, transport, args, stdin, server.port)
            finally:
                server.stop()
            if server.worst_gap < PAUSE - 0.05:
                break
        return result, server.received, server.errors

    # The runs that wait out pauses (a server that keeps the connection) go first, and a
    # few more workers than cores: much of a run is waiting.
    order = sorted(jobs, key=lambda key: jobs[key][2] != "recv_loop")
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as executor:
        futures = {key: executor.submit(run, *jobs[key]) for key in order}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("name", list(PLAN))
def test_our_client_against_a_slide_server(client_runs, name, client):
    """Our client sends lines ending in "\\n" and prints the slide server's bare reply, exit 0,
    whether that server closes after one reply, loops over accept() or keeps the connection
    and loops over recv()."""
    *_, expected, received = PLAN[name]
    result, got, errors = client_runs[(name, client)]
    assert (result, got, errors) == (expected, received, [])


# ------------------------------------------------------------------ the slides' own demo

# The lecture's demo, exactly as printed (Python 2, with its Vietnamese comments).
LECTURE_SERVER = """\
import socket          # Import socket module
s = socket.socket()    # Tạo đối tượng socket (mặc định là TCP trên nền IPv4)
host = socket.gethostname() # Xác định tên localhost
port = 12345          # Xác định port muốn dùng
s.bind((host, port))  # Kết nối đến socket
s.listen(5)           # Server lắng nghe 5 Client cùng 1 lúc
while True:
    c, addr = s.accept() # Thiết lập kết nối
    print 'Got connection from', addr
    c.send('Thank you for connecting') #Gửi dữ liệu đến Client
    c.close()          # Đóng kết nối
"""

LECTURE_CLIENT = """\
import socket          # Import socket module

s = socket.socket()    # Tạo đối tượng socket
host = socket.gethostname() # Xác định tên localhost
port = 12345          # Xác định port

s.connect((host, port)) #Kết nối đến Server
print s.recv(1024) #Nhận dữ liệu từ Server với Buffer là 1024 bytes
s.close()              # Đóng kết nối
"""


def as_run(code, port):
    """The lecture's code with only its port changed, and its host: gethostname() may
    name an address other than loopback, and the tests stay on loopback. Python 2 also
    needs the coding line to read the Vietnamese comments."""
    assert code.count("port = 12345 ") == 1 and code.count("host = socket.gethostname()") == 1
    code = code.replace("port = 12345 ", f"port = {port} ")
    code = code.replace("host = socket.gethostname()", "host = '127.0.0.1'")
    return "# -*- coding: utf-8 -*-\n" + code


@functools.lru_cache(maxsize=None)
def python2():
    """A Python 2 interpreter (pyenv's 2.7, or python2 on PATH), or None."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(os.path.join(root, "versions", "2.7*", "bin", "python")),
                        reverse=True)
    candidates += [shutil.which(name) for name in ("python2.7", "python2")]
    for candidate in candidates:
        if not candidate:
            continue
        try:
            check = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[0])"],
                                   capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if check.stdout.strip() == b"2":
            return candidate
    return None


def need_python2():
    interpreter = python2()
    if interpreter is None:
        pytest.skip("no Python 2 on this machine (pyenv install 2.7.18)")
    return interpreter


def test_slides_client_against_our_ex0_servers(pool, tmp_path):
    """The slides' Python 2 client, as printed, prints our ex0 servers' greeting (its
    `print` adds an empty line after the greeting's own "\\n")."""
    interpreter = need_python2()
    jobs = []
    for impl in IMPLS:
        path = tmp_path / f"client_{impl}.py"
        path.write_text(as_run(LECTURE_CLIENT, pool.port(impl, "ex0_hello", "tcp")),
                        encoding="utf-8")
        jobs.append(lambda path=path: harness.run([interpreter, str(path)]))
    got = dict(zip(IMPLS, harness.parallel(jobs)))
    expected = harness.Result(0, b"Thank you for connecting\n\n", b"")
    assert got == {impl: expected for impl in IMPLS}


def test_our_ex0_clients_against_the_slides_server(tmp_path):
    """Our ex0 clients print the greeting of the slides' Python 2 server, as printed, which
    sends it bare and closes; the server prints `Got connection from` for each."""
    interpreter = need_python2()
    port = harness.free_port()
    path = tmp_path / "server.py"
    path.write_text(as_run(LECTURE_SERVER, port), encoding="utf-8")
    server = harness.start_server([interpreter, str(path)], tmp_path)
    try:
        deadline = time.monotonic() + harness.START_TIMEOUT
        while not harness.proc_net_listeners("tcp", port):
            assert server.alive(), server.stderr()
            assert time.monotonic() < deadline, "the slides' server does not listen"
            time.sleep(0.01)
        got = harness.parallel([
            lambda c=c: harness.run_client(c, "ex0_hello", "tcp", port=port) for c in CLIENTS])
        assert got == [harness.Result(0, cases.GREETING, b"")] * len(CLIENTS)
        lines = server.wait_for_lines(len(CLIENTS), timeout=5)
        assert [re.sub(r"\d+\)$", "P)", line) for line in lines] == [
            "Got connection from ('127.0.0.1', P)"] * len(CLIENTS)
        assert server.stderr() == b""
    finally:
        server.stop()
