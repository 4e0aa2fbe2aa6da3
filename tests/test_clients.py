"""Every client against every server, and against servers that fail in each way.

A client run is judged by its exit status, standard output and standard error, exactly;
the basic and the Twisted client must give identical results. Client processes are
costly (about 0.4 s for a Twisted one), so each test runs its clients in parallel threads.
"""

import concurrent.futures
import os
import pty
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

from tests import cases, harness

ERR_SUM = cases.ERR_SUM


def ok(stdout):
    return harness.Result(0, stdout, b"")


def runs(exercise, transport):
    """(name, args, stdin, expected Result) for one exercise: the lecture's examples."""
    reply1 = b"From SERVER %s\n" % transport.upper().encode()
    if exercise == "ex0_hello":
        return [("no_arguments", [], b"", ok(cases.GREETING))]
    if exercise == "ex1_message":
        return [("default_message", [], b"", ok(reply1)),
                # "--" ends the options: a message may start with "-" (README, Clients).
                ("dash_message", ["--", "-hello"], b"", ok(reply1)),
                ("message_argument", ["Xin chào"], b"", ok(reply1))]
    if exercise == "ex2_sum":
        return [
            ("arguments", ["3", "4"], b"", ok(b"7\n")),
            ("negative_argument", ["-5", "12"], b"", ok(b"7\n")),
            # ERROR replies go to stderr, the client goes on, and the status is 1; the
            # last line has no "\n" and still counts; an empty line is a request too;
            # one comma may separate the integers.
            ("stdin_lines", [],
             b"1 2\n10 20\nthree four\n3, 4\n\n99999999999999999999 1\n3,,4\n-5 12",
             harness.Result(1, b"3\n30\n7\n100000000000000000000\n7\n", ERR_SUM * 3)),
        ]
    if exercise == "ex3_password":
        return [
            ("argument", ["Abc123@1,aF1#2w3E*,2We3345"], b"", ok(b"Abc123@1\n")),
            # "zzz" has no valid password: an empty reply prints an empty line.
            ("stdin_lines", [], b"ABd1234@1,a F1#,2w3E*,2We3345\nzzz\nAbc123@1, Xyz789#2",
             ok(b"ABd1234@1\n\nAbc123@1,Xyz789#2\n")),
        ]
    raise ValueError(exercise)


def serve_plan(server_impl, exercise, transport):
    """[(client, name, args, stdin, expected)] for one server."""
    examples = runs(exercise, transport)
    if server_impl != "basic":
        # Client processes are costly: the argument runs against the basic server only,
        # standard input (the richest run) against every server.
        examples = examples[-1:]
    return [(client, name, args, stdin, expected)
            for client in harness.CLIENT_IMPLS
            for name, args, stdin, expected in examples]


@pytest.fixture(scope="module")
def results(pool):
    """Every client run of this module, run at once by a few worker threads.

    One test after the other, each waiting for its slowest client, would leave the two
    cores half idle; the tests then only compare these results with their expectations.
    Returns {key: Result} and the fake servers' ports.
    """
    jobs = {}
    for server_impl in harness.SERVER_IMPLS:
        for exercise in cases.EXERCISES:
            for transport in harness.TRANSPORTS:
                port = pool.port(server_impl, exercise, transport)
                for client, name, args, stdin, _ in serve_plan(server_impl, exercise, transport):
                    jobs[("serve", server_impl, exercise, transport, client, name)] = (
                        client, exercise, transport, args, stdin, port, ())
    fakes = {}
    for exercise in cases.EXERCISES:
        for transport in harness.TRANSPORTS:
            for behaviour in BEHAVIOURS[transport]:
                fake = FakeServer(behaviour, transport)
                fakes[(exercise, transport, behaviour)] = fake
                for client in harness.CLIENT_IMPLS:
                    jobs[("fail", exercise, transport, behaviour, client)] = (
                        client, exercise, transport, SOME_ARGS[exercise], b"", fake.port,
                        ("--timeout", "0.3"))
            for i, args in enumerate(usage_errors(exercise, transport)):
                for client in harness.CLIENT_IMPLS:
                    jobs[("usage", exercise, transport, i, client)] = (
                        client, exercise, transport, args, b"", harness.free_port(), ())
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as executor:
            futures = {key: executor.submit(run_job, *job) for key, job in jobs.items()}
            done = {key: future.result() for key, future in futures.items()}
    finally:
        for fake in fakes.values():
            fake.stop()
    return done, {key: fake.port for key, fake in fakes.items()}


def run_job(client, exercise, transport, args, stdin, port, options):
    return harness.run_client(client, exercise, transport, args, stdin, port, options=options)


@pytest.mark.parametrize("transport", harness.TRANSPORTS)
@pytest.mark.parametrize("exercise", cases.EXERCISES)
@pytest.mark.parametrize("server_impl", harness.SERVER_IMPLS)
def test_every_client_against_every_server(results, server_impl, exercise, transport):
    """The basic and the Twisted client print exactly the expected lines and status."""
    done, _ = results
    plan = serve_plan(server_impl, exercise, transport)
    got = {(c, name): done[("serve", server_impl, exercise, transport, c, name)]
           for c, name, _, _, _ in plan}
    expected = {(c, name): e for c, name, _, _, e in plan}
    assert got == expected


class FakeServer:
    """A TCP or UDP socket on a free port that misbehaves in one way.

    "silent": listens (TCP) or is bound (UDP) and never answers; "closing": accepts each
    connection and closes it at once, without a byte; "absent": nothing is there at all.
    """

    def __init__(self, behaviour, transport):
        self.behaviour = behaviour
        kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind((harness.HOST, 0))
        self.port = self.sock.getsockname()[1]
        self.thread = None
        if behaviour == "absent":
            self.sock.close()
            return
        if transport == "tcp":
            self.sock.listen(16)
        if behaviour == "closing":
            self.sock.settimeout(0.2)
            self.stopping = threading.Event()
            self.thread = threading.Thread(target=self.close_each)
            self.thread.start()

    def close_each(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.close()

    def stop(self):
        if self.thread:
            self.stopping.set()
            self.thread.join()
        self.sock.close()


def failure_text(behaviour, transport, port, timeout):
    """The one stderr line the README's table gives for a failure."""
    where = f"127.0.0.1 port {port}"
    if transport == "udp":
        return f"error: no reply from {where} after 3 tries in {timeout} seconds (is the server running?)\n"
    if behaviour == "absent":
        return f"error: cannot connect to {where}: connection refused (is the server running?)\n"
    if behaviour == "silent":
        return f"error: no reply from {where} within {timeout} seconds\n"
    return f"error: {where} closed the connection without replying\n"


# Over UDP a silent server and no server look the same to a client (the README says so):
# "absent" also covers the ICMP "port unreachable" that a missing server causes.
BEHAVIOURS = {"tcp": ["absent", "silent", "closing"], "udp": ["absent"]}

SOME_ARGS = {"ex0_hello": [], "ex1_message": [], "ex2_sum": ["3", "4"],
             "ex3_password": ["Abc123@1"]}


@pytest.mark.parametrize("transport", harness.TRANSPORTS)
@pytest.mark.parametrize("exercise", cases.EXERCISES)
def test_client_failures(results, exercise, transport):
    """No server, a silent server, a server that hangs up: one exact stderr line, status 1."""
    done, ports = results
    behaviours = BEHAVIOURS[transport]
    got = {(c, b): done[("fail", exercise, transport, b, c)]
           for c in harness.CLIENT_IMPLS for b in behaviours}
    expected = {(c, b): harness.Result(1, b"", failure_text(
        b, transport, ports[(exercise, transport, b)], "0.3").encode())
        for c in harness.CLIENT_IMPLS for b in behaviours}
    assert got == expected


USAGE_ERRORS = {
    "ex0_hello": [["unexpected"]],
    "ex1_message": [["two\nlines"], ["one", "two"]],
    "ex2_sum": [["3"], ["3\n4", "5"]],
    "ex3_password": [["a\nb"], ["Abc123@1", "Xyz789#2"]],
}


def usage_errors(exercise, transport):
    """Wrong argument lists for a client (a spot check for the UDP clients)."""
    argss = USAGE_ERRORS[exercise]
    return argss if transport == "tcp" else argss[-1:]


@pytest.mark.parametrize("transport", harness.TRANSPORTS)
@pytest.mark.parametrize("exercise", cases.EXERCISES)
def test_client_usage_errors(results, exercise, transport):
    """Wrong arguments and arguments holding a line break exit 2, identically in both clients."""
    done, _ = results
    for i, args in enumerate(usage_errors(exercise, transport)):
        basic, twisted = (done[("usage", exercise, transport, i, c)] for c in harness.CLIENT_IMPLS)
        for result in (basic, twisted):
            assert (result.returncode, result.stdout) == (2, b""), (args, result)
            assert result.stderr.startswith(b"usage: "), (args, result)
            if any("\n" in a for a in args):
                assert result.stderr.endswith(b" must be a single line\n"), (args, result)
        assert basic == twisted, args


# ------------------------------------------------------------- a person at the keyboard

def read_until(fd, got, expected, timeout=20.0):
    """Read from `fd` into the bytearray `got` until it ends with `expected`."""
    deadline = time.monotonic() + timeout
    while not got.endswith(expected):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"waited {timeout} s for {expected!r}; got {bytes(got)!r}")
        got += os.read(fd, 4096)


def start(argv, **streams):
    proc = subprocess.Popen(harness.command(argv), cwd=harness.ROOT, env=harness.ENV,
                            start_new_session=True, **streams)
    harness._register(proc)
    return proc


TERMINAL_RUNS = [("ex2_sum", "tcp", b"Two integers, like 3 4: ", b"3 4", b"7"),
                 ("ex2_sum", "udp", b"Two integers, like 3 4: ", b"3 4", b"7"),
                 ("ex3_password", "tcp", b"Passwords, comma-separated: ", b"Abc123@1,abc",
                  b"Abc123@1")]


@pytest.mark.parametrize("exercise, transport, prompt, line, reply", TERMINAL_RUNS)
@pytest.mark.parametrize("impl", harness.CLIENT_IMPLS)
def test_terminal_prompt_and_ctrl_c(pool, impl, exercise, transport, prompt, line, reply):
    """On a terminal a client prompts before each line and answers it; Ctrl+C then ends it
    with exit status 130 and nothing on standard error (no traceback)."""
    port = pool.port("basic", exercise, transport)
    master, slave = pty.openpty()
    try:
        proc = start(harness.client_argv(impl, exercise, transport) + ["--port", str(port)],
                     stdin=slave, stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        try:
            got = bytearray()
            read_until(master, got, prompt)
            os.write(master, line + b"\n")
            read_until(master, got, line + b"\r\n" + reply + b"\r\n" + prompt)
            proc.send_signal(signal.SIGINT)
            stderr = proc.stderr.read()
            assert (proc.wait(20), bytes(got), stderr) == (
                130, prompt + line + b"\r\n" + reply + b"\r\n" + prompt, b"")
        finally:
            harness._kill_group(proc)
            proc.wait()
            proc.stderr.close()
    finally:
        os.close(master)


@pytest.mark.parametrize("transport", harness.TRANSPORTS)
@pytest.mark.parametrize("impl", harness.CLIENT_IMPLS)
def test_reader_gone_stops_quietly(pool, impl, transport):
    """`client | head -1`: once its standard output is closed, a client stops with exit
    status 1 and nothing on standard error (no BrokenPipeError traceback)."""
    port = pool.port("basic", "ex3_password", transport)
    request = b",".join([b"Abc123@1"] * 1000) + b"\n"  # a 9 kB reply each: more than a pipe holds
    proc = start(harness.client_argv(impl, "ex3_password", transport) + ["--port", str(port)],
                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    def feed():  # in a thread: the client reads its input only as fast as it answers
        try:
            with proc.stdin:
                proc.stdin.write(request * 100)
        except BrokenPipeError:
            pass  # the client stopped before reading it all, as it should

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        first = proc.stdout.readline()
        proc.stdout.close()
        stderr = proc.stderr.read()
        assert (proc.wait(20), first, stderr) == (1, request, b"")
    finally:
        harness._kill_group(proc)
        proc.wait()
        writer.join()
        proc.stderr.close()


def test_help():
    """`--help` on every client prints its usage, with the exercise's default port, on
    standard output and exits 0."""
    programs = [(exercise, harness.client_argv(impl, exercise, transport))
                for impl in harness.CLIENT_IMPLS for exercise in cases.EXERCISES
                for transport in harness.TRANSPORTS]
    got = harness.parallel([lambda p=p: harness.run(p + ["--help"]) for _, p in programs])
    for (exercise, program), result in zip(programs, got):
        port = cases.DEFAULT_PORTS[exercise]
        assert (result.returncode, result.stderr) == (0, b""), program
        assert result.stdout.startswith(b"usage: "), program
        assert b"the server's port (default %d)" % port in result.stdout, program
