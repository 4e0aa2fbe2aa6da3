"""basic/sockettrace.py: golden traces of every exercise, and a program under it behaves
exactly as without it.

A golden trace is one traced process whose peer (played by this file) acts step by step:
it acts only once every live thread of the traced process waits (its last line says
"waits...", or it has just closed), so the order of the lines cannot vary from run to run.
Times, ports and repeated polling timeouts are normalised; lines are compared thread by
thread (the interleaving of two threads' lines is the scheduler's).

Regenerate the goldens after changing the programs (then read the diff):

    python3 -m tests.test_sockettrace --regenerate
"""

import html
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import cases, harness

ROOT = harness.ROOT
TRACER = str(ROOT / "basic" / "sockettrace.py")
GOLDEN = ROOT / "tests" / "golden" / "trace"
STUDENT = ROOT / "tests" / "golden" / "student_server.py"
PY = harness.PYTHON
SETTLE = 15.0  # seconds a traced program may take to react to one step

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the goldens are Linux's (epoll, descriptor numbers)")


# ----------------------------------------------------------------------- the trace

THREAD = re.compile(r" *\d+\.\d{3} (MainThread|Thread-\d+(?: \(\w+\))?|PoolThread-\S+)")


def read_trace(path):
    """The trace's complete lines, as (thread, rest of the line) without the time. The
    thread's column is 17 characters wide, or as wide as a longer name."""
    text = Path(path).read_bytes().decode("utf-8")
    lines = []
    for line in text.split("\n")[:-1]:
        match = THREAD.match(line)
        assert match, line
        thread = match.group(1)
        lines.append((thread, line[match.start(1) + max(17, len(thread)) + 1:]))
    return lines


def waiting(rest):
    """A thread that waits: in a call, or in a polling loop whose next waits are not shown."""
    return rest.endswith("waits...") or POLLING_TIMEOUT.match(rest)


POLLING_TIMEOUT = re.compile(r"(fd \d+)? *(accept|recvfrom)\(.*timed out")


def settled(lines, since):
    """True once the program reacted to the last step (a line after `since` that is not
    a polling timeout; any line if `since` is None) and each of its live threads waits,
    or has closed its socket."""
    fresh = [rest for _, rest in lines[since or 0:] if "timed out" not in rest]
    if since is not None and not fresh:
        return False
    last = {}
    for thread, rest in lines:
        last[thread] = rest
        started = re.search(r"starts thread (.*)$", rest)
        # A new thread must show its first call; but Twisted's thread pool workers (they
        # resolve host names) wait for work on a queue, which the tracer does not show.
        if started and not started.group(1).endswith("(work)"):
            last.setdefault(started.group(1), "started")
    # A client's thread ends after its close(); the main thread always goes on.
    return all(waiting(rest) or (rest.endswith("close()") and thread != "MainThread")
               for thread, rest in last.items())


class Traced:
    """A program run under the tracer, its trace in a file; `settle` waits for it."""

    def __init__(self, argv, folder, options=()):
        self.trace = Path(folder) / "trace.txt"
        self.trace.write_bytes(b"")
        argv = argv[1:] if argv[0] == PY else argv  # the tracer runs the script itself
        self.proc = harness.start_server([PY, TRACER, "-o", str(self.trace), *options] + argv,
                                         folder)
        self.seen = 0

    def lines(self):
        return read_trace(self.trace)

    def settle(self, done=None):
        """Wait until the program has reacted to the last step, and waits again; or, with
        `done`, until done(lines) is true and it waits (it may have nothing to do)."""
        deadline = time.monotonic() + SETTLE
        while True:
            lines = self.lines()
            if done(lines) and settled(lines, None) if done else settled(lines, self.seen):
                self.seen = len(lines)
                return
            if self.proc.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"not settled: {lines[self.seen:]!r}, "
                                     f"stderr {self.proc.stderr()!r}")
            time.sleep(0.01)


EVENT_LOOP_WAIT = re.compile(r" *(epoll|poll|select)\(")


def normalise(lines, event_loop=True):
    """The trace as text without what varies between runs: times, ephemeral ports, the
    number of polling timeouts. Without `event_loop`, without the event loop's waits:
    a Twisted client resolves the host name in a thread of its own, which wakes the
    loop up at a moment of its own."""
    out = []
    for thread, rest in lines:
        if POLLING_TIMEOUT.match(rest):
            continue  # a polling loop's wake-ups: how many depends on the timing
        if not event_loop:
            if EVENT_LOOP_WAIT.match(rest):
                continue
            rest = re.sub(r"^(.{7})  ", r"\1", rest)  # not nested under a wait
            rest = re.sub(r"\bfd \d+", "fd N", rest)  # the thread pool's take some first
        rest = re.sub(r", \d+ more timeouts not shown", "", rest)
        rest = re.sub(r"\(after \d+\.\d+ s\)", "(after T)", rest)
        rest = re.sub(r"(up to|timeout) [\d.e+-]+ s", r"\1 T s", rest)
        rest = re.sub(r"('(127\.0\.0\.1|::1)', )\d+\)", r"\1P)", rest)
        rest = re.sub(r"got port \d+", "got port P", rest)
        # Python 3.10 names a thread after its function too, "Thread-1 (handle)": not 3.9.
        thread = re.sub(r"^(Thread-\d+) \(\w+\)$", r"\1", thread)
        rest = re.sub(r"(starts thread Thread-\d+) \(\w+\)$", r"\1", rest)
        out.append(f"{thread:<17} {rest}".rstrip())
    return out


def by_thread(lines):
    """Each thread's lines in their order, one thread after the other."""
    return sorted(lines, key=lambda line: line[:17])


# ----------------------------------------------------------------------- scenarios
# Each is (name, argv, function(traced, folder) -> None): the peer's steps.

REQUESTS = {  # exercise: [(request, reply)] over TCP, one connection each
    "ex0_hello": [(b"", cases.GREETING)],
    "ex1_message": [(b"From CLIENT TCP\n", b"From SERVER TCP\n")],
    "ex2_sum": [(b"3,4", b"7"), (b"3 4\n", b"7\n")],  # a bare client, then a line client
    "ex3_password": [(b"Abc123@1,aF1#2w3E*,2We3345\n", b"Abc123@1\n")],
}
UDP = {"ex0_hello": (b"hello\n", cases.GREETING), "ex1_message": (b"hi\n", b"From SERVER UDP\n"),
       "ex2_sum": (b"3 4\n", b"7\n"), "ex3_password": (b"Abc123@1\n", b"Abc123@1\n")}
CLIENT_ARGS = {"ex0_hello": [], "ex1_message": ["hello"], "ex2_sum": ["3", "4"],
               "ex3_password": ["Abc123@1,aF1#2w3E*"]}


def port_of(traced):
    """The port a traced server listens on, as its bind() line says."""
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        for _, rest in traced.lines():
            match = re.search(r"got port (\d+)", rest)
            if match:
                return int(match.group(1))
        time.sleep(0.01)
    raise AssertionError(f"no port: {traced.proc.stderr()!r}")


def drive_tcp_server(exchanges, server_closes=False):
    """One client after the other: connect, send, read the reply, close; the server
    settles after each step. `server_closes`: the server closes after its reply (ex0, a
    student's), at once or once it has read our end of stream."""
    def steps(traced):
        port = port_of(traced)
        traced.settle()
        for request, reply in exchanges:
            with harness.connect(port) as sock:
                traced.settle()
                if request:
                    sock.sendall(request)
                if not server_closes:
                    assert harness.read_exactly(sock, len(reply)) == reply
                    traced.settle()
                else:
                    assert harness.read_until_eof(sock) == reply
            if server_closes:  # at once, or once it has read our end of stream
                traced.settle(accepted_is_closed)
            else:
                traced.settle()
    return steps


def accepted_is_closed(lines):
    """True if the last connection accepted has been closed."""
    accepted = [i for i, (_, rest) in enumerate(lines) if re.search(r"accept\(\) = fd", rest)]
    fd = re.search(r"accept\(\) = (fd \d+)", lines[accepted[-1]][1]).group(1)
    return any(re.match(fd + r" +close\(\)$", rest) for _, rest in lines[accepted[-1]:])


def drive_udp_server(request, reply):
    def steps(traced):
        port = port_of(traced)
        traced.settle()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.sendto(request, (harness.HOST, port))
            assert sock.recvfrom(1 << 16)[0] == reply
            traced.settle()
    return steps


def fake_tcp_server(listener, reply, close_after):
    """The peer of a traced client: accept, wait for the client to wait, answer."""
    def steps(traced):
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            traced.settle()
            if reply:
                conn.sendall(reply)
            if close_after:  # once the client waits for more
                traced.settle()
                conn.shutdown(socket.SHUT_WR)
            assert traced.proc.wait() == 0, traced.proc.stderr()
    return steps


def fake_udp_server(listener, reply):
    def steps(traced):
        _, address = listener.recvfrom(1 << 16)
        traced.settle()
        listener.sendto(reply, address)
        assert traced.proc.wait() == 0, traced.proc.stderr()
    return steps


def server_argv(impl, exercise, transport):
    return harness.server_argv(impl, exercise, transport) + ["--port", "0", "--host", harness.HOST]


def scenarios():
    """name -> (argv or a function of the peer's port, steps, kind): every exercise, TCP
    and UDP, server and client, both implementations, and a student's server."""
    found = {}
    for exercise in cases.EXERCISES:
        for impl in ("basic", "twisted"):
            found[f"{impl}-{exercise}-tcpserver"] = (
                server_argv(impl, exercise, "tcp"),
                drive_tcp_server(REQUESTS[exercise], exercise == "ex0_hello"), None)
            found[f"{impl}-{exercise}-udpserver"] = (
                server_argv(impl, exercise, "udp"), drive_udp_server(*UDP[exercise]), None)
            for transport in ("tcp", "udp"):
                argv = harness.client_argv(impl, exercise, transport) + CLIENT_ARGS[exercise]
                found[f"{impl}-{exercise}-{transport}client"] = (argv, exercise, transport)
    found["student-server"] = ([str(STUDENT), "0"],
                               drive_tcp_server([(b"Xin ch\xc3\xa0o \xff", b"XIN CH\xc3\xa0O \xff")], True),
                               None)
    return found


SCENARIOS = scenarios()


def run_scenario(name, folder, options=()):
    """Run one scenario; return its normalised trace lines (the raw trace is left in
    folder/trace.txt)."""
    argv, steps, transport = SCENARIOS[name]
    if transport is None:  # a server: the steps are the clients'
        traced = Traced(argv, folder, options)
        try:
            steps(traced)
            lines = traced.lines()
            exchange = traced.trace.read_text(encoding="utf-8").split("\n")[:len(lines)]
            (Path(folder) / "exchange.txt").write_text("\n".join(exchange) + "\n", encoding="utf-8")
            return normalise(lines)
        finally:
            traced.proc.proc.send_signal(signal.SIGINT)  # the Mermaid file is written at exit
            try:
                traced.proc.wait()
            finally:
                traced.proc.stop()
    exercise = steps
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as listener:
        listener.settimeout(10)
        listener.bind((harness.HOST, 0))
        port = listener.getsockname()[1]
        argv = argv[:2 + (argv[1] == "-m")] + ["--port", str(port)] + argv[2 + (argv[1] == "-m"):]
        if transport == "tcp":
            listener.listen()
            _, reply = (REQUESTS[exercise][-1] if exercise != "ex0_hello"
                        else (b"", cases.GREETING))
            peer = fake_tcp_server(listener, reply, exercise == "ex0_hello")
        else:
            peer = fake_udp_server(listener, UDP[exercise][1])
        traced = Traced(argv, folder)
        try:
            peer(traced)
            lines = traced.lines()
        finally:
            traced.proc.stop()
    return normalise(lines, event_loop=not name.startswith("twisted"))


def golden_path(name):
    return GOLDEN / f"{name}.txt"


def _golden_trace(start, name):
    got = run_scenario(name, start.directory)
    expected = golden_path(name).read_text(encoding="utf-8").split("\n")[:-1]
    assert by_thread(got) == by_thread(expected), "\n".join(got)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden_trace(together, name):
    """Each exercise traced, step by step, gives its golden trace, thread by thread.
    (Every scenario at once, `together`: each waits on its own program's trace.)"""
    together(_golden_trace, sorted(SCENARIOS), name)


# ----------------------------------------------------------------------- behaviour

TRACED_IMPLS = ("basic", "twisted", "twistd")


def traced_server(folder, impl, exercise, transport):
    """A server under the tracer, its trace into a file: a harness.Server."""
    argv = harness.server_argv(impl, exercise, transport)
    argv = argv[1:] if argv[0] == PY else argv
    if impl != "twistd":
        argv += ["--port", "0", "--host", harness.HOST]
    server = harness.start_server([PY, TRACER, "-o", str(Path(folder) / "trace.txt")] + argv,
                                  folder)
    server.twistd = impl == "twistd"
    return server


@pytest.mark.parametrize("exercise", ("ex1_message", "ex2_sum", "ex3_password"))
@pytest.mark.parametrize("impl", TRACED_IMPLS)
def test_conformance_rows_under_the_tracer(tmp_path, impl, exercise):
    """Under the tracer, every row gets byte-identical replies: over TCP pipelined on one
    connection and alone on its own, bare before a half-close; over UDP as a datagram."""
    tcp = traced_server(tmp_path, impl, exercise, "tcp")
    (tmp_path / "udp").mkdir()
    udp = tcp if impl == "twistd" else traced_server(tmp_path / "udp", impl, exercise, "udp")
    try:
        port = tcp.ports["TCP"]
        rows = cases.rows(exercise, "tcp")
        got = harness.tcp_exchange(port, b"".join(r for r, _ in rows))
        assert got == b"".join(reply for _, reply in rows)
        bare = [(cases.without_line_ending(r), cases.bare(a)) for r, a in rows[:12]]
        got = harness.parallel([lambda r=r: (r, harness.tcp_exchange(port, r))
                                for r, _ in bare if r])
        assert got == [(r, a) for r, a in bare if r]
        rows = cases.rows(exercise, "udp")
        port = udp.ports["UDP"]
        got = harness.parallel([lambda r=r: (r, harness.udp_exchange(port, r)) for r, _ in rows])
        assert got == rows
        for folder in (tmp_path, tmp_path / "udp"):  # many threads, and every line whole
            if (folder / "trace.txt").exists():
                assert len(read_trace(folder / "trace.txt")) > len(rows)
    finally:
        tcp.stop()
        udp.stop()


@pytest.mark.parametrize("impl", TRACED_IMPLS)
def test_ex0_under_the_tracer(tmp_path, impl):
    """ex0 under the tracer greets each TCP connection and any datagram, byte for byte."""
    server = traced_server(tmp_path, impl, "ex0_hello", "tcp")
    try:
        assert harness.tcp_exchange(server.ports["TCP"], b"") == cases.GREETING
    finally:
        server.stop()


@pytest.mark.parametrize("reactor, wait", [("epoll", "epoll("), ("poll", "poll("),
                                           ("select", "select(")])
def test_twistd_reactors(tmp_path, reactor, wait):
    """twistd -n with each of the reactors Twisted picks (Linux epoll, macOS poll, Windows
    select) serves under the tracer, and the trace shows its wait and the callbacks."""
    trace = tmp_path / "trace.txt"
    server = harness.start_server([PY, TRACER, "-o", str(trace), "twistd", "-r", reactor, "-n",
                                   "--pidfile=", "--logfile=-", "ex2-sum", "--port", "0"],
                                  tmp_path)
    server.twistd = True
    try:
        assert harness.tcp_exchange(server.ports["TCP"], b"3 4\n") == b"7\n"
        text = trace.read_text(encoding="utf-8")
        assert re.search(r"\n *\d+\.\d+ MainThread +" + re.escape(wait), text), text
        assert 'Handle.lineReceived("3 4")' in text and 'transport.write("7\\n")' in text
    finally:
        server.stop()


def test_all_shows_every_timeout(tmp_path):
    """With --all, a polling accept loop shows each of its timeouts and waits again."""
    traced = Traced(server_argv("basic", "ex2_sum", "tcp"), tmp_path, ["--all"])
    try:
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            rests = [rest for _, rest in traced.lines()]
            timeouts = [i for i, rest in enumerate(rests) if "accept() timed out" in rest]
            if len(timeouts) >= 2:
                break
            time.sleep(0.05)
        assert len(timeouts) >= 2, rests
        assert rests[timeouts[0] + 1] == "fd 3   accept() (timeout 0.5 s) waits..."
    finally:
        traced.proc.stop()


def test_ctrl_c_and_sigterm_as_without_the_tracer(tmp_path):
    """Ctrl+C and SIGTERM stop a traced server as they stop it untraced: same output,
    same exit status."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        for impl in ("basic", "twisted"):
            results = []
            for traced in (False, True):
                argv = server_argv(impl, "ex2_sum", "tcp")
                if traced:
                    argv = [PY, TRACER, "-o", str(tmp_path / "t.txt")] + argv[1:]
                server = harness.start_server(argv, tmp_path)
                try:
                    server.ports
                    server.proc.send_signal(sig)
                    status = server.wait()
                    results.append((status, server.output()[-1]))
                finally:
                    server.stop()
            assert results[0] == results[1] == (0, "Server stopped"), (impl, sig, results)


CRASH = """import socket
def connect():
    socket.create_connection(("127.0.0.1", {port}))
connect()
"""


def test_crash_shows_the_programs_own_traceback(tmp_path):
    """A program that crashes shows the very traceback it shows untraced (without the
    tracer's frames), and exits with the same status."""
    script = tmp_path / "crash.py"
    script.write_text(CRASH.format(port=harness.free_port()))
    plain = harness.run([PY, str(script)])
    traced = harness.run([PY, TRACER, "-o", str(tmp_path / "t.txt"), str(script)])
    assert plain.returncode == 1 and b"ConnectionRefusedError" in plain.stderr
    assert traced == plain
    trace = (tmp_path / "t.txt").read_text()
    assert "failed: connection refused: nobody listens there (ECONNREFUSED)" in trace


ASYNCIO = """import asyncio, selectors, socket

async def answer(reader, writer):
    writer.write((await reader.readline()).upper())
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"xin chao\\n")
    print((await reader.readline()).decode(), end="")
    writer.close()
    server.close()

asyncio.run(main())
"""


@pytest.mark.parametrize("selector", ["EpollSelector", "PollSelector", "SelectSelector"])
def test_asyncio_under_the_tracer(tmp_path, selector):
    """An asyncio program (the selectors module underneath) runs as without the tracer,
    and the trace shows its loop's waits and its socket calls."""
    script = tmp_path / "echo.py"
    script.write_text(ASYNCIO.replace(
        "asyncio.run(main())", f"loop = asyncio.SelectorEventLoop(selectors.{selector}())\n"
        "loop.run_until_complete(main())\nloop.close()"))
    plain = harness.run([PY, str(script)])
    traced = harness.run([PY, TRACER, "-o", str(tmp_path / "t.txt"), str(script)])
    assert plain == traced == harness.Result(0, b"XIN CHAO\n", b"")
    text = (tmp_path / "t.txt").read_text(encoding="utf-8")
    wait = {"EpollSelector": "epoll(", "PollSelector": "poll(", "SelectSelector": "select("}
    assert re.search(r"\n *\d+\.\d+ MainThread +" + re.escape(wait[selector]), text), text
    assert 'recv(' in text and '"xin chao\\n"' in text, text


def test_exit_status_stdin_and_stdout_are_the_programs(tmp_path):
    """The program gets the same argv, stdin and stdout, and its exit status is kept."""
    script = tmp_path / "echo.py"
    script.write_text("import sys\nsys.stdout.write(repr(sys.argv[1:]) + sys.stdin.read())\n"
                      "sys.exit(3)\n")
    plain = harness.run([PY, str(script), "a", "-o", "x"], stdin=b"input\n")
    traced = harness.run([PY, TRACER, str(script), "a", "-o", "x"], stdin=b"input\n")
    assert plain == traced == harness.Result(3, b"['a', '-o', 'x']input\n", b"")


def test_user_errors_are_one_line(tmp_path):
    """A missing script or module is one line on stderr and exit status 2, not a traceback."""
    assert harness.run([PY, TRACER, "nosuch.py"]) == harness.Result(
        2, b"", b"sockettrace: no such script or program: nosuch.py\n")
    assert harness.run([PY, TRACER, "-m", "nosuch.module"]) == harness.Result(
        2, b"", b"sockettrace: no module named nosuch.module\n")
    result = harness.run([PY, TRACER, "--help"])
    assert result.returncode == 0 and b"--mermaid FILE" in result.stdout


def test_bytes_shown_as_text_escaped_and_cut(tmp_path):
    """Printable UTF-8 is shown as text (Vietnamese as is), the rest escaped, cut at --bytes."""
    script = tmp_path / "pair.py"
    script.write_text(
        "import socket\n"
        "a, b = socket.socketpair()\n"
        "for data in ['Xin chào'.encode(), b'\\xff\\x00ab', b'\\x1b[2J\\r\\n', "
        "'\\u202e'.encode(), 'ạạạạ'.encode()]:\n"
        "    a.sendall(data)\n"
        "    b.recv(100)\n")
    result = harness.run([PY, TRACER, "--bytes", "7", "-o", str(tmp_path / "t.txt"), str(script)])
    assert result == harness.Result(0, b"", b"")
    shown = [rest[7:] for _, rest in read_trace(tmp_path / "t.txt") if "recv(" in rest]
    assert shown == ['recv(100) = "Xin ch"... (+3 bytes) (9 bytes)',
                     'recv(100) = "\\xff\\x00ab" (4 bytes)',
                     'recv(100) = "\\x1b[2J\\r\\n" (6 bytes)',
                     'recv(100) = "\\u202e" (3 bytes)',
                     'recv(100) = "ạạ"... (+6 bytes) (12 bytes)']


MERMAID_TEXT = r"(?:[^;#<>\n]|#\d+;)+"  # ; # < > only in entity codes
MERMAID_LINE = re.compile(rf"sequenceDiagram|    participant \w+ as {MERMAID_TEXT}"
                          rf"|    \w+-{{1,2}}(>>|x)\w+: {MERMAID_TEXT}")


def test_mermaid_diagram_is_valid(tmp_path):
    """--mermaid writes a sequenceDiagram: one participant per peer, one arrow per call,
    with ; # < > written as Mermaid's entity codes."""
    server = Traced(server_argv("basic", "ex1_message", "tcp"), tmp_path,
                    ["--mermaid", str(tmp_path / "m.md")])
    try:
        drive_tcp_server([(b"a;b#c<d>\n", b"From SERVER TCP\n")])(server)
        server.proc.proc.send_signal(signal.SIGINT)
        assert server.proc.wait() == 0
    finally:
        server.proc.stop()
    text = (tmp_path / "m.md").read_text(encoding="utf-8")
    for line in text.split("\n")[:-1]:
        assert MERMAID_LINE.fullmatch(line), line
    client = re.search(r"P1 as 127.0.0.1 port (\d+)", text).group(1)
    assert text.split("\n")[:-1] == [
        "sequenceDiagram",
        "    participant program as tcpserver.py",
        f"    participant P1 as 127.0.0.1 port {client}",
        "    P1->>program: connect (accepted)",
        '    P1->>program: "a#59;b#35;c#60;d#62;\\n"',
        '    program->>P1: "From SERVER TCP\\n"',
        "    P1-->>program: end of stream",
        "    program-->>P1: close",
    ]


# ----------------------------------------------------------------------- the README

README = (ROOT / "README.md").read_text(encoding="utf-8")
README_TRACE = re.compile(r"<!-- trace: ([\w -]+) -->\n(.*?)\n(?=\n|<!--)", re.S)
BLOCK = re.compile(r"<pre>\n(.*?)</pre>|```\n(.*?)```", re.S)


def readme_traces():
    """[(scenario, the trace the README shows for it)] in "Watching the calls"."""
    found = []
    for names, text in README_TRACE.findall(README):
        blocks = [html.unescape(a or b) for a, b in BLOCK.findall(text)]
        assert len(blocks) == len(names.split()), names
        found += zip(names.split(), blocks)
    return found


def test_readme_traces_are_the_goldens(tmp_path):
    """Each trace in the README, times and ports normalised, is its scenario's golden
    trace (which the golden tests check against real runs)."""
    traces = readme_traces()
    assert [name for name, _ in traces] == [
        "basic-ex2_sum-tcpserver", "twisted-ex2_sum-tcpserver", "student-server"]
    for name, text in traces:
        path = tmp_path / "readme.txt"
        path.write_text(text, encoding="utf-8")
        expected = golden_path(name).read_text(encoding="utf-8").split("\n")[:-1]
        assert by_thread(normalise(read_trace(path))) == by_thread(expected), name


def test_readme_mermaid_is_the_basic_run():
    """The README's diagram is valid Mermaid, and it is the exchange of the basic trace:
    one participant per client, its connect, request, reply, end of stream and close."""
    [text] = re.findall(r"<!-- mermaid: basic-ex2_sum-tcpserver -->\n```mermaid\n(.*?)```",
                        README, re.S)
    lines = text.split("\n")[:-1]
    for line in lines:
        assert MERMAID_LINE.fullmatch(line), line
    ports = re.findall(r"participant P\d as 127.0.0.1 port (\d+)", text)
    assert len(ports) == 2
    trace = dict(readme_traces())["basic-ex2_sum-tcpserver"]
    assert [p for p in re.findall(r"from \('127.0.0.1', (\d+)\)", trace)] == ports
    expected = ["sequenceDiagram", "    participant program as tcpserver.py"]
    for i, (request, reply) in enumerate([('"3,4"', '"7"'), ('"3 4\\n"', '"7\\n"')], 1):
        expected += [f"    participant P{i} as 127.0.0.1 port {ports[i - 1]}",
                     f"    P{i}->>program: connect (accepted)",
                     f"    P{i}->>program: {request}", f"    program->>P{i}: {reply}",
                     f"    P{i}-->>program: end of stream", f"    program-->>P{i}: close"]
    assert lines == expected


# ----------------------------------------------------------------------- regenerating

def regenerate():
    """Rewrite every golden trace, then the README's traces and diagram, from real runs."""
    import tempfile
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name in sorted(SCENARIOS):
        with tempfile.TemporaryDirectory() as folder:
            lines = run_scenario(name, folder)
        golden_path(name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{golden_path(name).relative_to(ROOT)}: {len(lines)} lines")
    runs = {name: real_run(name) for name, _ in readme_traces()}

    def blocks(match):  # one README trace region: each block its scenario's new trace
        names = iter(match.group(1).split())

        def block(found):
            trace = runs[next(names)][0]
            if found.group(1) is not None:
                return "<pre>\n" + html.escape(trace, quote=False) + "</pre>"
            return "```\n" + trace + "```"
        head = match.group(0)[:match.start(2) - match.start(0)]
        return head + BLOCK.sub(block, match.group(2)) + "\n"
    text = README_TRACE.sub(blocks, README)
    diagram = "<!-- mermaid: basic-ex2_sum-tcpserver -->\n```mermaid\n"
    start = text.index(diagram) + len(diagram)
    text = text[:start] + runs["basic-ex2_sum-tcpserver"][1] + text[text.index("```", start):]
    (ROOT / "README.md").write_text(text, encoding="utf-8")
    print("README.md: its traces and diagram")
    harness.kill_all()


def real_run(name):
    """One scenario's raw trace and its Mermaid diagram, from a real run."""
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        run_scenario(name, folder, ["--mermaid", str(Path(folder) / "m.md")])
        return [(Path(folder) / file).read_text(encoding="utf-8")
                for file in ("exchange.txt", "m.md")]


def show(name):
    """Print one scenario's raw trace, then its Mermaid diagram."""
    print(*real_run(name), sep="\n")
    harness.kill_all()


if __name__ == "__main__":
    os.chdir(ROOT)
    if sys.argv[1:] == ["--regenerate"]:
        regenerate()
    elif sys.argv[1:2] == ["--show"] and len(sys.argv) == 3:
        show(sys.argv[2])
    else:
        sys.exit("usage: python3 -m tests.test_sockettrace --regenerate | --show SCENARIO")
