"""A careless or hostile classroom (issue 10): no crash, no lock-out, no forged output.

One test (or one small group) per item of the issue, for both implementations and the
twistd services where the item applies. Bounded in count and time, loopback only; the
bounds on delays and memory are generous (the figures themselves are measured by
`python3 -m tests.bench.abuse`), the bytes and lines are exact.
"""

import functools
import os
import re
import selectors
import signal
import socket
import subprocess
import threading
import time

import pytest

from tests import cases, harness

IMPLS = harness.SERVER_IMPLS  # basic, twisted, twistd
LINE_EXERCISES = ("ex1_message", "ex2_sum", "ex3_password")
SCRIPTS = ("basic", "twisted")
BAD_SECONDS = ("inf", "nan", "1e400", "0", "-1", "abc")
BUSY_LINE = "Server busy: {n} clients connected, new clients are turned away"


def busy_reply(n):
    return b"ERROR server busy (max %d clients)\n" % n


def timeout_error(value):
    return f"error: argument --timeout: not a positive number of seconds: {value!r}"


def no_traceback(*outputs):
    for output in outputs:
        assert b"Traceback" not in output, output.decode("utf-8", "replace")


def sample(exercise):
    """A request line of the exercise and its reply line (TCP)."""
    return {"ex1_message": (b"hello\n", b"From SERVER TCP\n"),
            "ex2_sum": (b"3 4\n", b"7\n"),
            "ex3_password": (b"Abc123@1,aF1#2w3E*\n", b"Abc123@1\n")}[exercise]


def udp_sample(exercise):
    if exercise == "ex0_hello":
        return b"hi\n", cases.GREETING
    request, reply = sample(exercise)
    return request, reply.replace(b"TCP", b"UDP")


def serves(port, exercise, transport="tcp"):
    """One request gets its exact reply."""
    if transport == "udp":
        request, reply = udp_sample(exercise)
        return harness.udp_exchange(port, request) == reply
    if exercise == "ex0_hello":
        return harness.tcp_exchange(port, b"") == cases.GREETING
    request, reply = sample(exercise)
    return harness.tcp_exchange(port, request) == reply


def wait_until(predicate, timeout, what):
    """Poll `predicate` until it is true, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def shell_limited(argv, nofile):
    """argv run under an open-files limit (soft and hard) of `nofile`."""
    return ["sh", "-c", f'ulimit -n {nofile} && exec "$@"', "sh"] + harness.command(argv)


class PipedServer:
    """A server whose stdout (and optionally stderr) is a pipe that the test closes.

    The pipe is what `server | head -1` or a closed SSH session gives a server: once the
    reader is gone, every print raises BrokenPipeError.
    """

    def __init__(self, argv, pipe_stderr):
        self.proc = subprocess.Popen(
            harness.command(argv), cwd=harness.ROOT, env=harness.ENV,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if pipe_stderr else subprocess.DEVNULL,
            start_new_session=True)
        harness._register(self.proc)

    def ports(self, both):
        """Read lines until the listening line(s), then close the pipes: `| head`."""
        ports = {}
        deadline = time.monotonic() + harness.START_TIMEOUT
        while len(ports) < (2 if both else 1) and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            match = harness.LISTENING.search(line.decode("utf-8", "replace").rstrip("\n"))
            if match:
                ports[match.group(1)] = int(match.group(3))
        self.proc.stdout.close()
        if self.proc.stderr:
            self.proc.stderr.close()
        assert ports, "no listening line"
        return ports

    def stop(self):
        harness._kill_group(self.proc)
        self.proc.wait(10)


# ----------------------------------------------------------------------- 1. stdout gone

STDOUT_CASES = [(impl, ex, t, "stdout") for impl in SCRIPTS for ex in cases.EXERCISES
                for t in harness.TRANSPORTS] + [
    ("twistd", "ex1_message", "both", "stdout"), ("twistd", "ex2_sum", "both", "stdout")] + [
    (impl, "ex1_message", t, "stdout_and_stderr") for impl in SCRIPTS
    for t in harness.TRANSPORTS] + [("twistd", "ex1_message", "both", "stdout_and_stderr")]


def _output_gone_server_keeps_serving(fresh, impl, exercise, transport, pipes):
    argv = harness.server_argv(impl, exercise, "tcp" if transport == "both" else transport)
    server = PipedServer(argv + ["--port", "0", "--host", harness.HOST],
                         pipe_stderr=pipes == "stdout_and_stderr")
    try:
        ports = server.ports(both=transport == "both")
        for _ in range(3):  # each request makes it print ("Got connection from" ...)
            for kind, port in ports.items():
                assert serves(port, exercise, kind.lower()), (kind, port)
        assert server.proc.poll() is None
        server.proc.send_signal(signal.SIGINT)
        server.proc.wait(10)
    finally:
        server.stop()


@pytest.mark.parametrize("impl, exercise, transport, pipes", STDOUT_CASES,
                         ids=["-".join(c) for c in STDOUT_CASES])
def test_output_gone_server_keeps_serving(together, impl, exercise, transport, pipes):
    """With its stdout (and stderr) read by `head -1` and then closed, a server keeps serving
    every client, and Ctrl+C still stops it. (Every case at once: `together`.)"""
    together(_output_gone_server_keeps_serving, STDOUT_CASES,
             (impl, exercise, transport, pipes))


# ------------------------------------------------------------------ 2. --timeout refused

def refuses(argv, value):
    """Run argv with `--timeout value`: usage on stderr, the exact error line, exit 2."""
    result = harness.run(argv + ["--timeout", value], timeout=10)
    lines = result.stderr.decode("utf-8", "replace").splitlines()
    return (result.returncode, result.stdout, lines[0].startswith("usage: ") if lines else False,
            lines[-1].split(": ", 1)[1] if lines else "")


@pytest.mark.parametrize("value", BAD_SECONDS)
def test_bad_timeouts_refused(value):
    """inf, nan, 1e400, 0, -1 and abc are refused with the same wording by an ex2 server and
    the ex2 clients of both implementations (`--timeout inf` by every program: in
    tests/test_basic_shared.py)."""
    programs = [harness.server_argv(impl, "ex2_sum", "tcp") for impl in SCRIPTS] + [
        harness.client_argv(impl, "ex2_sum", t) for impl in SCRIPTS for t in harness.TRANSPORTS]
    got = harness.parallel([lambda p=p: refuses(p, value) for p in programs])
    assert got == [(2, b"", True, timeout_error(value))] * len(programs)


TWISTD_BAD_OPTIONS = [
    ("--timeout", "inf", "--timeout: not a positive number of seconds: 'inf'"),
    ("--timeout", "nan", "--timeout: not a positive number of seconds: 'nan'"),
    ("--timeout", "1e400", "--timeout: not a positive number of seconds: '1e400'"),
    ("--timeout", "0", "--timeout: not a positive number of seconds: '0'"),
    ("--timeout", "-1", "--timeout: not a positive number of seconds: '-1'"),
    ("--timeout", "abc", "--timeout: not a positive number of seconds: 'abc'"),
    ("--port", "abc", "--port: not a port number (0 to 65535): 'abc'"),
    ("--port", "70000", "--port: not a port number (0 to 65535): '70000'"),
    ("--max-clients", "0", "--max-clients: not a positive whole number: '0'"),
]


def _twistd_bad_option_is_a_usage_error(fresh, option, value, message):
    result = harness.run(["twistd", "-n", "ex2-sum", option, value], timeout=30)
    no_traceback(result.stdout, result.stderr)
    assert result.returncode == 1
    assert result.stdout.decode().splitlines()[-1].endswith(": " + message), result


@pytest.mark.parametrize("option, value, message", TWISTD_BAD_OPTIONS)
def test_twistd_bad_option_is_a_usage_error(together, option, value, message):
    """twistd refuses a bad option with the scripts' wording as its usage error: exit 1, the
    line `twistd ...: --timeout: not a positive number of seconds: 'inf'`, no traceback.
    (The nine twistd runs at once: `together`.)"""
    together(_twistd_bad_option_is_a_usage_error, TWISTD_BAD_OPTIONS, (option, value, message))


# ------------------------------------------------------------ 3. bounded unsent replies

def flood_never_reading(port, clients, size=64 * 1024, rcvbuf=4096, seconds=3.0):
    """Clients with a small receive buffer send `size` bytes of empty lines each and never
    read; sending goes on for `seconds`. Returns the open sockets (the caller closes them)."""
    socks = []
    sel = selectors.DefaultSelector()
    left = {}
    for _ in range(clients):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        socks.append(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(10)
        sock.connect((harness.HOST, port))
        sock.setblocking(False)
        left[sock] = size
        sel.register(sock, selectors.EVENT_WRITE)
    payload = b"\n" * size
    deadline = time.monotonic() + seconds
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(0.05):
            sock = key.fileobj
            try:
                left[sock] -= sock.send(payload[:left[sock]])
            except BlockingIOError:
                continue
            except OSError:
                left[sock] = 0
            if left[sock] <= 0:
                del left[sock]
                sel.unregister(sock)
    sel.close()
    return socks


def _never_reading_clients_do_not_lock_out_others(fresh, impl):
    server = fresh(impl, "ex2_sum", "tcp")
    port = server.ports["TCP"]
    assert serves(port, "ex2_sum")
    before = server.rss_kb()
    socks = flood_never_reading(port, 30)
    try:
        start = time.monotonic()
        with harness.connect(port, timeout=10) as probe:
            assert harness.tcp_request(probe, b"3 4\n", 2) == b"7\n"
        delay = time.monotonic() - start
        growth = (server.rss_kb() - before) / 1024
    finally:
        for sock in socks:
            sock.close()
    assert delay < 10, delay
    assert growth < 30, f"server memory grew by {growth:.1f} MB"
    assert serves(port, "ex2_sum")
    assert server.stderr() == b""


@pytest.mark.parametrize("impl", IMPLS)
def test_never_reading_clients_do_not_lock_out_others(together, impl):
    """30 clients (4 kB receive buffers) send 64 KB of empty lines each and never read: a
    new client is still answered (within 10 s) and the server's memory grows < 30 MB.
    (Every implementation at once: `together`.)"""
    together(_never_reading_clients_do_not_lock_out_others, IMPLS, impl)


def small_buffer_connection(port, rcvbuf=4096):
    """A connection whose receive buffer is set small before connect (so its window is)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(20)
    sock.connect((harness.HOST, port))
    return sock


def _unsent_replies_stop_the_reading_in_mid_chunk(fresh, impl):
    server = fresh(impl, "ex2_sum", "tcp")
    port = server.ports["TCP"]
    assert serves(port, "ex2_sum")
    before = server.rss_kb()
    count = 400_000
    with small_buffer_connection(port) as sock:
        sender = threading.Thread(target=lambda: sock.sendall(b"\n" * count))
        sender.start()
        time.sleep(1.0)  # the server works on what it got; nobody reads its replies
        growth = (server.rss_kb() - before) / 1024
        got = harness.read_exactly(sock, len(cases.ERR_SUM) * count)
        sender.join(20)
    assert growth < 12, f"server memory grew by {growth:.1f} MB"
    assert got == cases.ERR_SUM * count
    assert serves(port, "ex2_sum")


@pytest.mark.parametrize("impl", IMPLS)
def test_unsent_replies_stop_the_reading_in_mid_chunk(together, impl):
    """A never-reading client sends 400,000 empty lines (16 MB of ERROR replies; one 64 kB
    read holds 2.5 MB of them): the server's memory grows < 12 MB meanwhile, and once the
    client reads, every reply arrives, in order. (The implementations' second of not
    reading overlaps: `together`.)"""
    together(_unsent_replies_stop_the_reading_in_mid_chunk, IMPLS, impl)


# ------------------------------------------------------------- 4. idle timeout, trickle

def _trickle_without_a_request_is_closed(fresh, impl):
    server = fresh(impl, "ex2_sum", "tcp", options=["--timeout", "1"])
    port = server.ports["TCP"]
    talker_replies = []

    def talk():
        with harness.connect(port, nodelay=True) as talker:
            # 1.8 s in all, never 1 s without a complete request: a request every 0.2 s
            # leaves 0.8 s to spare for a loaded machine's stalls.
            for _ in range(9):
                talker_replies.append(harness.tcp_request(talker, b"3 4\n", 2))
                time.sleep(0.2)
            talker_replies.append(harness.tcp_request(talker, b"3 4\n", 2))

    talker = threading.Thread(target=talk)
    closed_after = None
    with harness.connect(port, nodelay=True) as trickler:
        talker.start()
        start = time.monotonic()
        trickler.settimeout(0.3)
        while time.monotonic() - start < 6:
            try:
                trickler.send(b"1")
            except OSError:
                closed_after = time.monotonic() - start
                break
            try:
                data = trickler.recv(100)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            assert data == b"", data
            closed_after = time.monotonic() - start
            break
        talker.join(10)
    assert closed_after is not None, "the trickling client is still connected after 6 s"
    assert 0.9 < closed_after < 5, closed_after
    assert talker_replies == [b"7\n"] * 10


@pytest.mark.parametrize("impl", IMPLS)
def test_trickle_without_a_request_is_closed(together, impl):
    """--timeout 1: a client sending a byte every 0.3 s and never a newline is closed
    within 1 to 5 s; a client completing a request every 0.2 s stays open meanwhile.
    (The implementations' timeouts run at the same time: `together`.)"""
    together(_trickle_without_a_request_is_closed, IMPLS, impl)


# ---------------------------------------------------------------- 5. too many clients

MAX_CLIENT_CASES = [(impl, ex) for impl in SCRIPTS for ex in LINE_EXERCISES] + [
    ("twistd", "ex2_sum")]


def connected(server, sock):
    return f"Got connection from ('127.0.0.1', {sock.getsockname()[1]})"


def busy_count(server):
    return sum(line.startswith("Server busy:") for line in server.program_lines())


def served_connection(port, exercise, timeout=10):
    """Connect until a client is served again (the server may not have noticed yet that a
    client left); return that open connection, its request answered."""
    request, reply = sample(exercise)
    deadline = time.monotonic() + timeout
    while True:
        sock = harness.connect(port)
        sock.sendall(request)
        got = harness.read_exactly(sock, len(reply))
        if got == reply:
            return sock
        sock.close()
        assert time.monotonic() < deadline, f"not served again within {timeout} s: {got!r}"
        time.sleep(0.05)


def _max_clients(fresh, impl, exercise):
    server = fresh(impl, exercise, "tcp", options=["--max-clients", "3"])
    port = server.ports["TCP"]
    idle = [harness.connect(port) for _ in range(3)]
    try:
        for sock in idle:
            server.wait_for_line(connected(server, sock), timeout=10)
        for _ in range(4):
            with harness.connect(port) as sock:
                sock.sendall(sample(exercise)[0])
                assert harness.read_until_eof(sock) == busy_reply(3)
        server.wait_for(lambda lines: busy_count(server) >= 1, timeout=5, what="busy line")
        assert [x for x in server.program_lines() if x.startswith("Server busy")] == [
            BUSY_LINE.format(n=3)]
        request, reply = sample(exercise)
        assert harness.tcp_request(idle[0], request, len(reply)) == reply  # still served
        idle.pop().close()
        # A newcomer is served again (this ends the busy spell) and stays: full again.
        idle.append(served_connection(port, exercise))
        with harness.connect(port) as sock:
            assert harness.read_until_eof(sock) == busy_reply(3)
        server.wait_for(lambda lines: busy_count(server) >= 2, timeout=5, what="busy line")
        assert busy_count(server) == 2
    finally:
        for sock in idle:
            sock.close()
    assert server.stderr() == b""


@pytest.mark.parametrize("impl, exercise", MAX_CLIENT_CASES,
                         ids=["-".join(c) for c in MAX_CLIENT_CASES])
def test_max_clients(together, impl, exercise):
    """--max-clients 3: three idle clients are served; the next ones get exactly `ERROR
    server busy (max 3 clients)` then EOF; the server prints one busy line per spell; when
    one client leaves, a new one is served. (Every case at once: `together`.)"""
    together(_max_clients, MAX_CLIENT_CASES, (impl, exercise))


@pytest.mark.parametrize("impl", IMPLS)
def test_open_files_limit_gives_busy_not_a_hang(tmp_path, impl):
    """Under an open-files limit of 128 the default --max-clients is 96 (128 less 32 for the
    server's own): the 97th client gets the busy line at once, not a hang or a reset."""
    argv = harness.server_argv(impl, "ex2_sum", "tcp") + ["--port", "0", "--host", harness.HOST]
    server = harness.start_server(shell_limited(argv, 128), tmp_path)
    socks = []
    try:
        port = server.ports["TCP"]
        for _ in range(96):
            socks.append(harness.connect(port))
        server.wait_for(lambda lines: sum(x.startswith("Got connection") for x in
                                          server.program_lines()) >= 96, timeout=15,
                        what="96 connections")
        for _ in range(3):
            with harness.connect(port, timeout=5) as sock:
                sock.sendall(b"3 4\n")
                assert harness.read_until_eof(sock) == busy_reply(96)
        server.wait_for(lambda lines: busy_count(server) >= 1, timeout=5, what="busy line")
        assert busy_count(server) == 1
        socks.pop().close()
        socks.append(served_connection(port, "ex2_sum"))
    finally:
        for sock in socks:
            sock.close()
        server.stop()


# ----------------------------------------------------------------------- 6. SIGTERM

class Load:
    """Clients keeping a server busy: some pipeline requests as fast as they can, others
    send a lot and never read."""

    def __init__(self, port, active=10, stuck=20):
        self.stop = threading.Event()
        self.answered = set()  # the pipelining clients that got replies already
        self.socks = []
        for _ in range(active):
            self.socks.append(harness.connect(port))
        self.stuck = flood_never_reading(port, stuck, seconds=0.5)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        batch = b"12345 67890\n" * 2000
        sel = selectors.DefaultSelector()
        for sock in self.socks:
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        try:
            while not self.stop.is_set():
                for key, events in sel.select(0.1):
                    try:
                        if events & selectors.EVENT_READ:
                            if not key.fileobj.recv(1 << 16):
                                return
                            self.answered.add(key.fileobj)
                        if events & selectors.EVENT_WRITE:
                            key.fileobj.send(batch)
                    except BlockingIOError:
                        pass
                    except OSError:
                        return
        finally:
            sel.close()

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for sock in self.socks + self.stuck:
            sock.close()


@pytest.mark.parametrize("impl, transport", [
    ("basic", "tcp"), ("basic", "udp"), ("twisted", "tcp"), ("twisted", "udp"),
    ("twistd", "tcp")])
def test_sigterm_stops_like_ctrl_c(fresh, impl, transport):
    """SIGTERM under load (busy and never-reading clients): `Server stopped` is the last
    line, exit status 0, within 5 s, nothing on stderr."""
    server = fresh(impl, "ex2_sum", transport)
    load = None
    if transport == "tcp":
        load = Load(server.ports["TCP"])
    else:
        assert serves(server.ports["UDP"], "ex2_sum", "udp")
    try:
        if load:  # the load is there once every pipelining client is being answered
            wait_until(lambda: len(load.answered) == len(load.socks), 10, "clients answered")
        start = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            status = server.proc.wait(5)
        except subprocess.TimeoutExpired:
            raise AssertionError("still running 5 s after SIGTERM")
        elapsed = time.monotonic() - start
    finally:
        if load:
            load.close()
    assert server.program_lines()[-1] == "Server stopped"
    no_traceback(server.raw_output(), server.stderr())
    if impl == "twistd":
        # twistd re-raises the signal it got so that its parent sees it (twistd's own
        # behaviour, as for SIGINT in test_process); 0 is accepted too.
        assert status in (0, -signal.SIGTERM)
    else:
        assert (status, server.stderr()) == (0, b"")
    assert elapsed < 5


# ------------------------------------------------------------------- 7. printable text

HOSTILE = "a\x1b[2Jb\rc\u202ed\u0085e\x7ff\tg Xin chào thế giới\x00\u2066h"
HOSTILE_SHOWN = "a\\x1b[2Jb\\rc\\u202ed\\x85e\\x7ff\tg Xin chào thế giới\\x00\\u2066h"


PRINT_SERVERS = [("basic", "tcp"), ("basic", "udp"), ("twisted", "tcp"), ("twisted", "udp"),
                 ("twistd", "tcp"), ("twistd", "udp")]


def _ex1_server_prints_hostile_text_escaped(fresh, impl, transport):
    server = fresh(impl, "ex1_message", transport)
    port = server.ports[transport.upper()]
    data = HOSTILE.encode() + b"\n"
    if transport == "tcp":
        with harness.connect(port) as sock:
            client = sock.getsockname()[1]
            assert harness.tcp_request(sock, data, 16) == b"From SERVER TCP\n"
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(data, (harness.HOST, port))
            assert sock.recvfrom(1024)[0] == b"From SERVER UDP\n"
            client = sock.getsockname()[1]
    line = f"Received from ('127.0.0.1', {client}): {HOSTILE_SHOWN}"
    server.wait_for_line(line, timeout=5)
    raw = server.raw_output()
    for byte in (b"\x1b", b"\r", b"\x7f", b"\x00", "\u202e".encode(), "\u0085".encode()):
        assert byte not in raw, byte


@pytest.mark.parametrize("impl, transport", PRINT_SERVERS)
def test_ex1_server_prints_hostile_text_escaped(together, impl, transport):
    """The ex1 server prints ESC, CR, U+202E, C1, DEL, NUL and U+2066 escaped (`\\x1b`,
    `\\r`, `\\u202e`, `\\x85`, `\\x7f`, `\\x00`, `\\u2066`), a tab and Vietnamese as they are.
    (Every server at once: `together`.)"""
    together(_ex1_server_prints_hostile_text_escaped, PRINT_SERVERS, (impl, transport))


class FakeServer:
    """A hostile TCP or UDP server: answers anything with `reply`, then closes (TCP)."""

    def __init__(self, transport, reply, wait_for_line=True):
        self.wait_for_line = wait_for_line
        kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind((harness.HOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.transport, self.reply = transport, reply
        self.done = threading.Event()
        if transport == "tcp":
            self.sock.listen(8)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.done.is_set():
            try:
                if self.transport == "udp":
                    data, addr = self.sock.recvfrom(1 << 16)
                    self.sock.sendto(self.reply, addr)
                    continue
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(2)
                try:
                    data = b""
                    while self.wait_for_line and b"\n" not in data:
                        chunk = conn.recv(1 << 16)
                        if not chunk:
                            break
                        data += chunk
                    conn.sendall(self.reply)
                    conn.shutdown(socket.SHUT_WR)
                    while conn.recv(1 << 16):
                        pass
                except OSError:
                    pass

    def close(self):
        self.done.set()
        self.thread.join(5)
        self.sock.close()


CLIENT_PRINT_CASES = [(impl, ex, t) for impl in SCRIPTS
                      for ex in ("ex1_message", "ex2_sum") for t in harness.TRANSPORTS]


def _client_prints_hostile_reply_escaped(fresh, impl, exercise, transport):
    args = ["3", "4"] if exercise == "ex2_sum" else []
    for reply, expected in [
            (HOSTILE.encode() + b"\n", (0, HOSTILE_SHOWN.encode() + b"\n", b"")),
            (b"ERROR \x1b[31mred\n", (1, b"", b"ERROR \\x1b[31mred\n"))]:
        fake = FakeServer(transport, reply)
        try:
            result = harness.run_client(impl, exercise, transport, args, port=fake.port)
        finally:
            fake.close()
        assert (result.returncode, result.stdout, result.stderr) == expected


@pytest.mark.parametrize("impl, exercise, transport", CLIENT_PRINT_CASES,
                         ids=["-".join(c) for c in CLIENT_PRINT_CASES])
def test_client_prints_hostile_reply_escaped(together, impl, exercise, transport):
    """A client prints a hostile server's reply escaped: `\\x1b[2J`, `\\r`, `\\u202e` shown,
    tab and Vietnamese as they are; an ERROR reply likewise, on stderr with exit 1.
    (Every case's clients at once: `together`.)"""
    together(_client_prints_hostile_reply_escaped, CLIENT_PRINT_CASES,
             (impl, exercise, transport))


def _ex0_client_prints_hostile_greeting_escaped(fresh, impl, transport):
    # The ex0 TCP client sends nothing: the fake greets at once.
    fake = FakeServer(transport, HOSTILE.encode() + b"\n", wait_for_line=False)
    try:
        result = harness.run_client(impl, "ex0_hello", transport, port=fake.port)
    finally:
        fake.close()
    assert result == harness.Result(0, HOSTILE_SHOWN.encode() + b"\n", b"")


@pytest.mark.parametrize("transport", harness.TRANSPORTS)
@pytest.mark.parametrize("impl", SCRIPTS)
def test_ex0_client_prints_hostile_greeting_escaped(together, impl, transport):
    """The ex0 clients (TCP and UDP) print a hostile greeting escaped. (All four at once:
    `together`.)"""
    together(_ex0_client_prints_hostile_greeting_escaped,
             [(i, t) for i in SCRIPTS for t in harness.TRANSPORTS], (impl, transport))


# ----------------------------------------------------------------- 8. stdin closed

STDIN_CLIENTS = [(impl, ex, t) for impl in SCRIPTS for ex in ("ex2_sum", "ex3_password")
                 for t in harness.TRANSPORTS]


def run_without_stdin(argv, timeout=30):
    """Run argv with file descriptor 0 closed (`program <&-`)."""
    proc = subprocess.Popen(
        harness.command(argv), cwd=harness.ROOT, env=harness.ENV, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=lambda: os.close(0))
    harness._register(proc)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        harness._kill_group(proc)
        proc.wait()
    return harness.Result(proc.returncode, stdout, stderr)


def _closed_stdin_is_an_empty_one(pool, fresh, impl, exercise, transport):
    port = pool.port("basic", exercise, transport)
    argv = harness.client_argv(impl, exercise, transport) + [
        "--host", harness.HOST, "--port", str(port)]
    assert run_without_stdin(argv) == harness.Result(0, b"", b"")
    assert harness.run(argv, b"") == harness.Result(0, b"", b"")


@pytest.mark.parametrize("impl, exercise, transport", STDIN_CLIENTS,
                         ids=["-".join(c) for c in STDIN_CLIENTS])
def test_closed_stdin_is_an_empty_one(pool, together, impl, exercise, transport):
    """`tcpclient.py <&-`: no traceback, nothing printed, exit 0, as with an empty stdin.
    (Every client at once: `together`.)"""
    together(functools.partial(_closed_stdin_is_an_empty_one, pool), STDIN_CLIENTS,
             (impl, exercise, transport))


# --------------------------------------------------------------- 9. twistd start-up

@pytest.mark.parametrize("options", [
    ["--host", "nonexistent.invalid", "--port", "0"],
    ["--listen", "tcp:99999"],
    ["--listen", "nonsense:1"],
], ids=["bad_host", "listen_port_too_big", "listen_unknown_endpoint"])
def test_twistd_start_up_failure_is_one_line(options):
    """A twistd start-up failure is one clear line (`error: ...`), a non-zero exit, no
    traceback."""
    result = harness.run(["twistd", "-n", "ex2-sum"] + options, timeout=30)
    no_traceback(result.stdout, result.stderr)
    assert result.returncode != 0
    lines = [x for x in result.stderr.decode().splitlines() if x.strip()]
    stdout_last = result.stdout.decode().strip().splitlines()[-1:]
    # Either the service's one line on stderr (like the scripts), or a usage error.
    assert (len(lines) == 1 and lines[0].startswith("error: ")) or (
        lines == [] and stdout_last and "--listen" in stdout_last[0]), result


def test_twistd_bad_host_is_the_scripts_line():
    """twistd with `--host nonexistent.invalid`: the scripts' exact line on stderr, exit 1."""
    result = harness.run(["twistd", "-n", "ex2-sum", "--host", "nonexistent.invalid",
                          "--port", "0"], timeout=30)
    no_traceback(result.stdout, result.stderr)
    assert result.returncode == 1, result
    assert re.fullmatch(rb"error: cannot listen on nonexistent\.invalid port 0: [^\n]+\n",
                        result.stderr), result


@pytest.mark.parametrize("impl", SCRIPTS)
def test_script_bad_host_is_one_line(impl):
    """`--host nonexistent.invalid`: one `error: cannot listen on ...` line, exit 1."""
    result = harness.run(harness.server_argv(impl, "ex2_sum", "tcp")
                         + ["--host", "nonexistent.invalid", "--port", "0"], timeout=30)
    assert result.returncode == 1 and result.stdout == b"", result
    assert re.fullmatch(rb"error: cannot listen on nonexistent\.invalid port 0: [^\n]+\n",
                        result.stderr), result


def test_two_twistd_services_side_by_side(tmp_path):
    """Two `twistd -n` services from one folder, each with its own --pidfile, both serve,
    each pid file holds its twistd's pid, and both are removed on Ctrl+C."""
    pids = [tmp_path / "ex2.pid", tmp_path / "ex3.pid"]
    servers = [
        harness.start_server(["twistd", "-n", f"--pidfile={pids[0]}", "--logfile=-",
                              "ex2-sum", "--port", "0"], tmp_path),
        harness.start_server(["twistd", "-n", f"--pidfile={pids[1]}", "--logfile=-",
                              "ex3-password", "--port", "0"], tmp_path)]
    try:
        assert serves(servers[0].ports["TCP"], "ex2_sum")
        assert serves(servers[1].ports["TCP"], "ex3_password")
        assert serves(servers[0].ports["UDP"], "ex2_sum", "udp")
        assert [int(p.read_text()) for p in pids] == [s.pid for s in servers]
        for server in servers:
            server.interrupt(timeout=10)
        assert [p.exists() for p in pids] == [False, False]
    finally:
        for server in servers:
            server.stop()


# ------------------------------------------------------------- 10. ex0 closes cleanly

def _ex0_greeting_then_clean_close_after_client_talks(fresh, impl):
    server = fresh(impl, "ex0_hello", "tcp")
    port = server.ports["TCP"]
    results = []
    deadline = time.monotonic() + 30
    while len(results) < 50 and time.monotonic() < deadline:
        with harness.connect(port, timeout=5) as sock:
            sock.sendall(b"hi\n")
            data = b""
            try:
                while True:
                    chunk = sock.recv(1024)
                    if not chunk:
                        results.append((data, "FIN"))
                        break
                    data += chunk
            except ConnectionResetError:
                results.append((data, "reset"))
    assert results == [(cases.GREETING, "FIN")] * 50


@pytest.mark.parametrize("impl", IMPLS)
def test_ex0_greeting_then_clean_close_after_client_talks(together, impl):
    """A client that sends `hi\\n` first gets the whole greeting and a FIN (no reset), 50
    times out of 50. (Every implementation at once: `together`.)"""
    together(_ex0_greeting_then_clean_close_after_client_talks, IMPLS, impl)


# ----------------------------------------------------------- 11. long stdin line

class SinkServer(FakeServer):
    """A TCP server that reads one whole line (any length) and answers `7`."""

    def __init__(self):
        super().__init__("tcp", b"7\n")
        self.received = 0

    def serve(self):
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(10)
                try:
                    while True:
                        chunk = conn.recv(1 << 20)
                        if not chunk:
                            break
                        self.received += len(chunk)
                        if chunk.endswith(b"\n"):
                            conn.sendall(self.reply)
                except OSError:
                    pass


@pytest.mark.parametrize("impl", SCRIPTS)
def test_long_stdin_line_read_in_linear_time(impl):
    """A 64 MB standard-input line is read and sent whole within 12 s (the quadratic reader
    took 25 s, a linear one well under a second)."""
    sink = SinkServer()
    line = b"1" * (64 * 1024 * 1024) + b" 1\n"
    try:
        start = time.monotonic()
        result = harness.run_client(impl, "ex2_sum", "tcp", stdin=line, port=sink.port)
        elapsed = time.monotonic() - start
    finally:
        sink.close()
    assert result == harness.Result(0, b"7\n", b"")
    assert sink.received == len(line)
    assert elapsed < 12, elapsed
