"""Every client against every server, and against servers that fail in each way.

A client run is judged by its exit status, standard output and standard error, exactly;
the basic and the Twisted client must give identical results. Client processes are
costly (about 0.4 s for a Twisted one), so each test runs its clients in parallel threads.
"""

import socket
import threading

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
                ("message_argument", ["Xin chào"], b"", ok(reply1))]
    if exercise == "ex2_sum":
        return [
            ("arguments", ["3", "4"], b"", ok(b"7\n")),
            ("negative_argument", ["-5", "12"], b"", ok(b"7\n")),
            # ERROR replies go to stderr, the client goes on, and the status is 1; the
            # last line has no "\n" and still counts; an empty line is a request too.
            ("stdin_lines", [], b"1 2\n10 20\nthree four\n\n99999999999999999999 1\n-5 12",
             harness.Result(1, b"3\n30\n100000000000000000000\n7\n", ERR_SUM + ERR_SUM)),
        ]
    if exercise == "ex3_password":
        return [
            ("argument", ["Abc123@1,aF1#2w3E*,2We3345"], b"", ok(b"Abc123@1\n")),
            # "zzz" has no valid password: an empty reply prints an empty line.
            ("stdin_lines", [], b"ABd1234@1,a F1#,2w3E*,2We3345\nzzz\nAbc123@1, Xyz789#2",
             ok(b"ABd1234@1\n\nAbc123@1,Xyz789#2\n")),
        ]
    raise ValueError(exercise)


@pytest.mark.parametrize("transport", harness.TRANSPORTS)
@pytest.mark.parametrize("exercise", cases.EXERCISES)
@pytest.mark.parametrize("server_impl", harness.SERVER_IMPLS)
def test_every_client_against_every_server(pool, server_impl, exercise, transport):
    """The basic and the Twisted client print exactly the expected lines and status."""
    port = pool.port(server_impl, exercise, transport)
    examples = runs(exercise, transport)
    if server_impl == "twistd":
        examples = examples[-1:]  # the same servers as "twisted": one run is enough
    plan = [(client, name, args, stdin, expected)
            for client in harness.CLIENT_IMPLS
            for name, args, stdin, expected in examples]
    results = harness.parallel([
        lambda c=c, a=a, s=s: harness.run_client(c, exercise, transport, a, s, port)
        for c, _, a, s, _ in plan])
    got = {(c, name): r for (c, name, _, _, _), r in zip(plan, results)}
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


SOME_ARGS = {"ex0_hello": [], "ex1_message": [], "ex2_sum": ["3", "4"],
             "ex3_password": ["Abc123@1"]}


@pytest.mark.parametrize("transport", harness.TRANSPORTS)
@pytest.mark.parametrize("exercise", cases.EXERCISES)
def test_client_failures(exercise, transport):
    """No server, a silent server, a server that hangs up: one exact stderr line, status 1."""
    behaviours = ["absent", "silent"] + (["closing"] if transport == "tcp" else [])
    fakes = [FakeServer(b, transport) for b in behaviours]
    try:
        plan = [(client, fake) for client in harness.CLIENT_IMPLS for fake in fakes]
        results = harness.parallel([
            lambda c=c, f=f: harness.run_client(c, exercise, transport, SOME_ARGS[exercise],
                                                port=f.port, options=["--timeout", "0.3"])
            for c, f in plan])
    finally:
        for fake in fakes:
            fake.stop()
    got = {(c, f.behaviour): r for (c, f), r in zip(plan, results)}
    expected = {(c, f.behaviour): harness.Result(
        1, b"", failure_text(f.behaviour, transport, f.port, "0.3").encode())
        for c, f in plan}
    assert got == expected


USAGE_ERRORS = {
    "ex0_hello": [["unexpected"]],
    "ex1_message": [["two\nlines"], ["one", "two"]],
    "ex2_sum": [["3"], ["3", "4", "5"], ["3\n4", "5"]],
    "ex3_password": [["a\nb"], ["Abc123@1", "Xyz789#2"]],
}


@pytest.mark.parametrize("transport", harness.TRANSPORTS)
@pytest.mark.parametrize("exercise", cases.EXERCISES)
def test_client_usage_errors(exercise, transport):
    """Wrong arguments and arguments holding a line break exit 2, identically in both clients."""
    port = harness.free_port()
    argss = USAGE_ERRORS[exercise]
    if transport == "udp":
        argss = argss[-1:]  # the same argument parsing as the TCP client's: spot check
    plan = [(client, args) for client in harness.CLIENT_IMPLS for args in argss]
    results = harness.parallel([
        lambda c=c, a=a: harness.run_client(c, exercise, transport, a, port=port)
        for c, a in plan])
    for (client, args), result in zip(plan, results):
        assert (result.returncode, result.stdout) == (2, b""), (client, args, result)
        assert result.stderr.startswith(b"usage: "), (client, args, result)
        if any("\n" in a for a in args):
            assert result.stderr.endswith(b" must be a single line\n"), (client, args, result)
    basic = [r for (c, _), r in zip(plan, results) if c == "basic"]
    twisted = [r for (c, _), r in zip(plan, results) if c == "twisted"]
    assert basic == twisted
