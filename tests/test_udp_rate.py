"""Classroom mode for UDP (issue 18): --max-rate N, the datagrams one address may send a
second. Past N in one second of time.monotonic(), the rest of that second's datagrams from
that address are dropped: no reply, no "Got datagram" line, one "Too many datagrams" line.

Students are stood for by loopback source addresses (127.0.0.2, 127.0.0.3: a socket bound
to one before sendto). The servers count in fixed windows of int(time.monotonic()), the
system-wide CLOCK_MONOTONIC on Linux, the same clock as the test's: a burst is sent early
in a second and checked to have been served within it; a machine that overslept the
second runs the burst again (up to three times), never a flaky verdict.

The default (100 a second off loopback) is tested for real inside a private network
namespace, as tests/test_classroom.py's address lines are: skipped where that cannot be
made, failed under CI.

The same tests run against the basic scripts, the Twisted programs and the twistd services.
"""

import importlib.util
import json
import socket
import subprocess
import time

import pytest
from twisted.internet.address import IPv4Address

from tests import harness
from twisted_impl import common, server as twisted_server, service
from twisted_impl.ex2_sum import udpserver as ex2_udp

ROOT = harness.ROOT
UDP_SERVERS = sorted((ROOT / "basic").glob("*/udpserver.py"))
SAMPLE = {"ex0_hello": (b"hi\n", b"Thank you for connecting\n"),
          "ex1_message": (b"hi\n", b"From SERVER UDP\n"),
          "ex2_sum": (b"3 4\n", b"7\n"), "ex3_password": (b"Abc123@1\n", b"Abc123@1\n")}
HELP = ("datagrams one address (one student's machine) may send per second; past it, the "
        "rest of that second's are dropped unanswered (default: 100 when the server is open "
        "to the network, no limit on loopback)")
HOSTS = {"127.0.0.1": None, "127.0.0.2": None, "127.1.2.3": None, "::1": None,
         "localhost": None, "0.0.0.0": 100, "::": 100, "192.168.1.23": 100, "fd00::13": 100,
         "example.org": 100}


def dropping(host, n):
    return f"Too many datagrams from {host} (max {n} a second), the rest are dropped"


def load_script(path):
    spec = importlib.util.spec_from_file_location(f"udp_rate_{path.parent.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # importing a script opens no socket
    return module


# ------------------------------------------------------------------ the default, alone

@pytest.mark.parametrize("path", UDP_SERVERS, ids=[p.parent.name for p in UDP_SERVERS])
def test_default_rate_depends_on_the_host(path):
    """No limit on loopback (127.0.0.0/8, ::1, localhost), 100 a second on any other address."""
    module = load_script(path)
    assert {host: module.default_rate(host) for host in HOSTS} == HOSTS


def test_default_rate_twisted():
    """twisted_impl's default_rate says the same; the UDP scripts' option follows it."""
    assert {host: common.default_rate(host) for host in HOSTS} == HOSTS
    assert common.server_args("UDP", "x", 8091, []).max_rate is None
    assert common.server_args("UDP", "x", 8091, ["--host", "0.0.0.0"]).max_rate == 100
    assert common.server_args("UDP", "x", 8091, ["--max-rate", "3"]).max_rate == 3
    assert common.server_args("UDP", "x", 8091, ["--host", "::", "--max-rate", "7"]).max_rate == 7
    assert not hasattr(common.server_args("TCP", "x", 8091, []), "max_rate")


def help_of(argv):
    """The --max-rate paragraph of a program's --help, on one line."""
    text = " ".join(harness.run(argv + ["--help"]).stdout.decode().split())
    return text[text.rindex("--max-rate MAX_RATE ") + len("--max-rate MAX_RATE "):].split(
        " Stop it")[0]


def test_help_text():
    """Every UDP server's --help (basic and Twisted) and twistd's give the option in one
    wording."""
    programs = [harness.server_argv(impl, ex, "udp") for impl in ("basic", "twisted")
                for ex in harness.SERVICES]
    assert harness.parallel([lambda p=p: help_of(p) for p in programs]) == [HELP] * len(programs)
    assert common.RATE_HELP == HELP
    options = {row[0]: row[3] for row in service.ex2_sum.Options.optParameters}
    assert options["max-rate"] == HELP


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5"])
def test_refused_value(value):
    """A --max-rate that is not a positive whole number: the usage error of
    --max-per-address, exit status 2, from every UDP server; twistd's own usage error."""
    programs = [harness.server_argv(impl, ex, "udp") for impl in ("basic", "twisted")
                for ex in harness.SERVICES]
    got = harness.parallel([lambda p=p: harness.run(p + ["--max-rate", value]) for p in programs])
    error = f"error: argument --max-rate: not a positive whole number: {value!r}"
    for result in got:
        assert (result.returncode, result.stdout) == (2, b"")
        assert result.stderr.decode().splitlines()[-1].endswith(error)
    from twisted.python import usage
    with pytest.raises(usage.UsageError) as refused:
        service.ex2_sum.Options().parseOptions(["--max-rate", value])
    assert str(refused.value) == f"--max-rate: not a positive whole number: {value!r}"


# ---------------------------------------------------------- Twisted's protocol, in memory

class Transport:
    def __init__(self):
        self.sent = []

    def write(self, data, address):
        self.sent.append((data, address))


def test_datagram_server_windows(monkeypatch):
    """Past max_rate in one second of time.monotonic(), an address's datagrams are dropped
    unlogged, with one line per second; another address is served; the next second
    counts anew."""
    now = [100.1]
    monkeypatch.setattr(twisted_server.time, "monotonic", lambda: now[0])
    logged = []
    monkeypatch.setattr(twisted_server.log, "info", lambda text, **kw: logged.append(
        text.format(**kw)))
    protocol = ex2_udp.make_protocol()
    protocol.max_rate = 2
    protocol.transport = Transport()
    student, other = ("127.0.0.2", 5000), ("127.0.0.3", 5000)
    for _ in range(5):
        protocol.datagramReceived(b"3 4\n", student)
    protocol.datagramReceived(b"1 1\n", other)
    now[0] = 100.9
    protocol.datagramReceived(b"3 4\n", student)
    assert protocol.transport.sent == [(b"7\n", student)] * 2 + [(b"2\n", other)]
    assert logged == ["Got datagram from ('127.0.0.2', 5000)"] * 2 + [
        dropping("127.0.0.2", 2), "Got datagram from ('127.0.0.3', 5000)"]
    assert protocol.counts == {"127.0.0.2": 6, "127.0.0.3": 1}
    now[0] = 101.0  # a new second: counted anew, the old counts forgotten
    for _ in range(3):
        protocol.datagramReceived(b"3 4\n", student)
    assert protocol.transport.sent[3:] == [(b"7\n", student)] * 2
    assert logged[4:] == ["Got datagram from ('127.0.0.2', 5000)"] * 2 + [dropping("127.0.0.2", 2)]
    assert protocol.counts == {"127.0.0.2": 3}


def test_datagram_server_no_limit():
    """Without max_rate (as made by make_protocol), every datagram is answered."""
    protocol = ex2_udp.make_protocol()
    protocol.transport = Transport()
    for _ in range(1000):
        protocol.datagramReceived(b"3 4\n", ("127.0.0.2", 5000))
    assert len(protocol.transport.sent) == 1000
    assert protocol.counts == {}


class FakeUDPPort:
    def __init__(self, host):
        self.host = host

    def getHost(self):
        return IPv4Address("UDP", self.host, 8091)

    def stopListening(self):
        pass


@pytest.mark.parametrize("host, given, expected", [
    ("127.0.0.1", None, None), ("0.0.0.0", None, 100), ("::1", None, None),
    ("127.0.0.1", 3, 3), ("0.0.0.0", 3, 3)])
def test_twistd_default_follows_where_it_listens(monkeypatch, host, given, expected):
    """Without --max-rate, a twistd service's UDP server limits each address to 100 a
    second when it listens off loopback; --max-rate N applies everywhere."""
    monkeypatch.setattr(service, "announce", lambda *args: None)
    options = service.ex2_sum.Options()
    options.parseOptions(["--host", host] + (["--max-rate", str(given)] if given else []))
    top = service.ex2_sum.makeService(options)
    udp = [s for s in top if isinstance(s, service.AnnouncedUDPServer)][0]

    monkeypatch.setattr(udp, "_listen", lambda: setattr(udp, "port", FakeUDPPort(host)))
    udp.startService()
    assert udp.datagram_protocol.max_rate == expected
    udp.stopService()


# ------------------------------------------------------------- the limit, on loopback

RATE_CASES = [("basic", ex) for ex in harness.SERVICES] + [("twisted", "ex2_sum"),
                                                          ("twistd", "ex2_sum")]
BURST = 6  # datagrams from 127.0.0.2, with --max-rate 3


def from_address(source, timeout):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    return sock


def early_in_a_second(after):
    """Wait for a second of time.monotonic() later than `after`, in its first fifth."""
    while True:
        now = time.monotonic()
        if int(now) > after and now % 1 < 0.2:
            return int(now)
        time.sleep(0.01)  # not waiting for a server: for the clock


def _rate_limit(fresh, impl, exercise):
    server = fresh(impl, exercise, "udp", options=["--max-rate", "3"])
    port = server.ports["UDP"]
    request, reply = SAMPLE[exercise]
    after = -1
    for _ in range(3):
        seen = len(server.output())
        second = early_in_a_second(after)
        student, other = from_address("127.0.0.2", 10), from_address("127.0.0.3", 10)
        with student, other:
            for _ in range(BURST):
                student.sendto(request, (harness.HOST, port))
            other.sendto(request, (harness.HOST, port))  # served after the burst, if at all
            got_other = other.recvfrom(1 << 16)[0]
            after = int(time.monotonic())
            if after != second:
                continue  # the machine overslept the second: the burst may span two windows
            assert got_other == reply  # another student, answered in the same second
            replies = [student.recvfrom(1 << 16)[0] for _ in range(3)]
            assert replies == [reply] * 3
            student.settimeout(0.3)
            with pytest.raises(socket.timeout):
                student.recvfrom(1 << 16)  # the three others were dropped
            lines = server.wait_for_line(dropping("127.0.0.2", 3), timeout=10, since=seen)[seen:]
            name = "('127.0.0.2', %d)" % student.getsockname()[1]
            assert [x for x in lines if x.startswith("Too many")] == [dropping("127.0.0.2", 3)]
            assert [x for x in lines if x.startswith("Got datagram from") and name in x] == [
                f"Got datagram from {name}"] * 3
            # The next second, the student is answered again.
            student.settimeout(10)
            early_in_a_second(after)
            student.sendto(request, (harness.HOST, port))
            assert student.recvfrom(1 << 16)[0] == reply
            break
    else:
        pytest.fail("the machine overslept three seconds running")
    assert server.stderr() == b""


@pytest.mark.parametrize("impl, exercise", RATE_CASES, ids=["-".join(c) for c in RATE_CASES])
def test_rate_limit(together, impl, exercise):
    """--max-rate 3: six datagrams from 127.0.0.2 early in one second get exactly three
    replies and one "Too many datagrams" line, no line for the dropped ones; 127.0.0.3 is
    answered in the same second; the next second, 127.0.0.2 is answered again.
    (Every case at once: `together`.)"""
    together(_rate_limit, RATE_CASES, (impl, exercise))


def _no_limit_on_loopback(fresh, impl):
    server = fresh(impl, "ex2_sum", "udp")  # --host 127.0.0.1, no --max-rate
    port = server.ports["UDP"]
    with from_address("127.0.0.2", 10) as student:
        early_in_a_second(-1)
        for _ in range(150):  # more than the network default, in one burst
            student.sendto(b"3 4\n", (harness.HOST, port))
        assert [student.recvfrom(1 << 16)[0] for _ in range(150)] == [b"7\n"] * 150
    assert not any(x.startswith("Too many") for x in server.program_lines())


@pytest.mark.parametrize("impl", harness.SERVER_IMPLS)
def test_no_limit_on_loopback_by_default(together, impl):
    """On 127.0.0.1 without the option, a burst of 150 datagrams from one address is
    answered whole.
    (Every implementation at once: `together`.)"""
    together(_no_limit_on_loopback, harness.SERVER_IMPLS, impl)


# ------------------------------------------- the default on a network, in a namespace

NETWORK_BURST = 120  # from 10.11.12.13, the namespace's own non-loopback address


def inside(impl):
    """Run in a private network namespace: a server on 0.0.0.0 without --max-rate, a burst
    from a network address early in one second; print what came back, as JSON."""
    from tests import test_classroom
    for step in test_classroom.SETUP + test_classroom.VETH:
        subprocess.run(step, check=True)
    server = harness.start_server(harness.server_argv(impl, "ex2_sum", "udp")
                                  + ["--host", "0.0.0.0", "--port", "0"])
    try:
        port = server.ports["UDP"]
        after, seen = -1, {"overslept": 0}
        for _ in range(3):
            second = early_in_a_second(after)
            student, other = from_address("10.11.12.13", 10), from_address("127.0.0.1", 10)
            with student, other:
                for _ in range(NETWORK_BURST):
                    student.sendto(b"3 4\n", ("10.11.12.13", port))
                other.sendto(b"1 1\n", ("10.11.12.13", port))  # served after the burst
                seen["other"] = other.recvfrom(1 << 16)[0].decode()
                after = int(time.monotonic())
                if after != second:
                    seen["overslept"] += 1
                    continue
                student.settimeout(0.3)
                replies = []
                try:
                    while True:
                        replies.append(student.recvfrom(1 << 16)[0].decode())
                except socket.timeout:
                    pass
                seen["replies"] = replies
                break
        seen["too_many"] = [x for x in server.program_lines() if x.startswith("Too many")]
    finally:
        server.stop()
    print(json.dumps(seen))


@pytest.mark.parametrize("impl", harness.SERVER_IMPLS)
def test_default_rate_on_a_network(together, impl):
    """On 0.0.0.0 without --max-rate, a burst of 120 datagrams from a network address
    (10.11.12.13, in a private network namespace) gets exactly 100 replies and one
    "Too many datagrams" line. (Every implementation at once, each in a namespace of its
    own: `together`.)"""
    together(_default_rate_on_a_network, harness.SERVER_IMPLS, impl)


def _default_rate_on_a_network(start, impl):
    from tests import test_classroom
    prefix = test_classroom.namespace_or_skip()
    code = "import sys; from tests import test_udp_rate; test_udp_rate.inside(sys.argv[1])"
    result = subprocess.run(prefix + [harness.PYTHON, "-c", code, impl], cwd=ROOT,
                            env=harness.ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    seen = json.loads(result.stdout.decode().strip().split("\n")[-1])
    assert seen["overslept"] < 3, seen
    assert seen["other"] == "2\n"
    assert seen["replies"] == ["7\n"] * 100
    assert seen["too_many"] == [dropping("10.11.12.13", 100)]
