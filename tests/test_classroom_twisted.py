"""Classroom mode (issue 18) in the Twisted servers and the twistd services.

The same expectations as the basic servers' tests: distinct loopback source addresses
(127.0.0.2, 127.0.0.3...) stand for students' machines; one address takes its N
connections, its next one gets exactly TOO_MANY and a clean end of file, another
address is served at once, and the server says so once per spell. The addresses printed
for a wildcard host are checked for real inside a private network namespace
(`unshare -n`), skipped where that is not permitted, except under CI, where they fail.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from twisted.internet.address import IPv4Address

from tests import harness
from tests.test_twisted_units import TCPTransport, connect
from twisted_impl import common, server as twisted_server
from twisted_impl.ex2_sum import tcpserver as ex2_tcp

IMPLS = ["twisted", "twistd"]
NETWORK = "10.11.12.13"
NETWORK6 = "fd00::13"


def too_many(n):
    return b"ERROR too many connections from your address (max %d)\n" % n


def too_many_line(host, n):
    return f"Too many connections from {host} (max {n}), new ones from it are turned away"


# ------------------------------------------------------------------ the default, alone

@pytest.mark.parametrize("host, expected", [
    ("127.0.0.1", None), ("127.1.2.3", None), ("::1", None), ("localhost", None),
    ("0.0.0.0", 8), ("::", 8), ("192.168.1.23", 8), ("fd00::13", 8), ("lab-pc", 8),
])
def test_default_per_address(host, expected):
    """No cap on loopback (this machine's own clients); PER_ADDRESS elsewhere."""
    assert common.default_per_address(host) == expected


def test_script_option_and_its_default():
    """--max-per-address N is taken as given, loopback or not; left out, it follows --host."""
    assert common.server_args("TCP", "x", 8091, ["--max-per-address", "3"]).max_per_address == 3
    assert common.server_args("TCP", "x", 8091, []).max_per_address is None
    assert common.server_args("TCP", "x", 8091, ["--host", "0.0.0.0"]).max_per_address == 8
    assert not hasattr(common.server_args("UDP", "x", 8091, []), "max_per_address")


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5"])
def test_script_option_refused(capsys, value):
    """A --max-per-address that is not a positive whole number: usage error, status 2."""
    with pytest.raises(SystemExit) as caught:
        common.server_args("TCP", "x", 8091, ["--max-per-address", value])
    assert caught.value.code == 2
    assert (f"argument --max-per-address: not a positive whole number: {value!r}"
            in capsys.readouterr().err)


def test_help_text():
    """The option's help says what the spec says."""
    assert common.PER_ADDRESS_HELP == (
        "connections one address (one student's machine) may hold at once; more from it "
        "are turned away (default: 8 when the server is open to the network, no limit on "
        "loopback)")


# ---------------------------------------------------------- the factory, in memory

def arrive(factory, host):
    """A connection from `host`, on an in-memory transport: its protocol and transport."""
    address = IPv4Address("TCP", host, 40000)
    transport = TCPTransport(address)
    protocol = factory.buildProtocol(address)
    connect(protocol, transport)
    return protocol, transport


def test_factory_turns_away_past_the_cap(monkeypatch):
    """The third from 127.0.0.2 gets TOO_MANY and a FIN, the line is logged once per
    spell, 127.0.0.3 is served meanwhile, and a place freed ends the spell."""
    logged = []
    monkeypatch.setattr(twisted_server.log, "info", lambda text, **kw: logged.append(
        text.format(**kw)))
    factory = twisted_server.LineServerFactory(ex2_tcp.Handle, 60, 100, 2)
    first = [arrive(factory, "127.0.0.2") for _ in range(2)]
    assert [t.value() for _, t in first] == [b"", b""]
    refused = [arrive(factory, "127.0.0.2")[1] for _ in range(2)]
    assert [(t.value(), t.write_closed) for t in refused] == [(too_many(2), True)] * 2
    other, other_transport = arrive(factory, "127.0.0.3")
    other.dataReceived(b"3 4\n")
    assert other_transport.value() == b"7\n"
    first[0][0].connectionLost(None)
    arrive(factory, "127.0.0.2")  # admitted: the spell ends
    assert arrive(factory, "127.0.0.2")[1].value() == too_many(2)
    assert [x for x in logged if x.startswith("Too many")] == [too_many_line("127.0.0.2", 2)] * 2
    assert factory.per_address == {"127.0.0.2": 2, "127.0.0.3": 1}


def test_per_address_before_max_clients(monkeypatch):
    """A full server turns an address at its cap away for that cap, not for being busy."""
    monkeypatch.setattr(twisted_server.log, "info", lambda text, **kw: None)
    factory = twisted_server.LineServerFactory(ex2_tcp.Handle, 60, 2, 2)
    arrive(factory, "127.0.0.2")
    arrive(factory, "127.0.0.2")
    assert arrive(factory, "127.0.0.2")[1].value() == too_many(2)
    assert arrive(factory, "127.0.0.3")[1].value() == b"ERROR server busy (max 2 clients)\n"


# ---------------------------------------------------------------- real processes

def connect_from(source, port, timeout=10.0):
    """A TCP connection to 127.0.0.1:port from the loopback address `source`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect((harness.HOST, port))
    return sock


def ask(sock, line=b"3 4\n", reply=b"7\n"):
    sock.sendall(line)
    assert harness.read_exactly(sock, len(reply)) == reply


def admitted_from(source, port, seconds=10.0):
    """A connection from `source` that the server keeps, tried until it is not refused."""
    deadline = time.monotonic() + seconds
    while True:
        sock = connect_from(source, port)
        sock.sendall(b"3 4\n")
        reply = harness.read_exactly(sock, 2)
        if reply == b"7\n":
            return sock
        assert reply == b"ER" and time.monotonic() < deadline, reply
        sock.close()


def start(impl, options):
    return harness.start(impl, "ex2_sum", "tcp", options=options)


def program_lines(server):
    return server.program_lines() if server.twistd else server.output()


def said(server, text):
    return [x for x in program_lines(server) if x.endswith(text)]


@pytest.mark.parametrize("impl", IMPLS)
def test_one_address_capped_others_served(impl):
    """--max-per-address 2 on loopback: 127.0.0.2 holds 2, its 3rd and 4th get exactly the
    ERROR line and a clean end of file, without "Got connection from"; 127.0.0.3 is
    served at once; one line per spell, a second spell after a place is freed."""
    server = start(impl, ["--max-per-address", "2"])
    try:
        port = server.ports["TCP"]
        held = [connect_from("127.0.0.2", port) for _ in range(2)]
        for sock in held:
            ask(sock)
        for _ in range(2):
            with connect_from("127.0.0.2", port) as sock:
                assert harness.read_until_eof(sock) == too_many(2)
        with connect_from("127.0.0.3", port) as sock:
            ask(sock)
        line = too_many_line("127.0.0.2", 2)
        server.wait_for(lambda lines: said(server, line), what="the too-many line")
        held.pop().close()
        # Once the server has seen that close, the freed place is taken again (which
        # ends the spell: refusals meanwhile belong to the first one).
        held.append(admitted_from("127.0.0.2", port))
        with connect_from("127.0.0.2", port) as sock:
            assert harness.read_until_eof(sock) == too_many(2)
        server.wait_for(lambda lines: len(said(server, line)) == 2, what="a second spell")
        got = [x for x in program_lines(server) if "Got connection from ('127.0.0.2'" in x]
        assert len(got) >= 3 and len(got) == len(set(got))  # the refused are not there
        assert len(said(server, line)) == 2
        for sock in held:
            sock.close()
    finally:
        server.stop()


@pytest.mark.parametrize("impl", IMPLS)
def test_no_cap_by_default_on_loopback(impl):
    """Without --max-per-address, a loopback server serves ten connections from one
    address (the cap would be 8 on a network)."""
    server = start(impl, [])
    try:
        port = server.ports["TCP"]
        held = [connect_from("127.0.0.2", port) for _ in range(10)]
        for sock in held:
            ask(sock)
            sock.close()
        assert not [x for x in program_lines(server) if x.startswith("Too many")]
    finally:
        server.stop()


def test_twistd_help_shows_the_option():
    """`twistd ex2-sum --help` lists --max-per-address."""
    result = harness.run(["twistd", "ex2-sum", "--help"])
    assert result.returncode == 0, result
    assert b"--max-per-address" in result.stdout


def test_non_wildcard_host_prints_no_address_line():
    """A server on 127.0.0.1 prints its listening line and no "Students" line."""
    assert common.address_lines("127.0.0.1", 8091) == []
    assert common.address_lines("localhost", 8091) == []
    assert common.address_lines("192.168.1.23", 8091) == []


# ------------------------------------------------ wildcard hosts, in a private network

NAMESPACE_SCRIPT = textwrap.dedent('''
    import json, socket, subprocess, sys
    from tests import harness

    setup, argv, count, connects = json.loads(sys.argv[1])
    for command in setup:
        subprocess.run(command, check=True)
    server = harness.start_server(argv)
    try:
        def lines_now():
            return server.program_lines() if server.twistd else server.output()
        server.wait_for(lambda _: len(lines_now()) >= count, what=f"{count} lines")
        lines = lines_now()
        port = server.ports.get("TCP", server.ports.get("UDP"))
        replies = []
        for host in connects:
            if "TCP" in server.ports:
                with socket.create_connection((host, port), timeout=10) as sock:
                    sock.sendall(b"3 4\\n")
                    replies.append(harness.read_exactly(sock, 2).decode())
            else:
                with socket.socket(harness.family(host), socket.SOCK_DGRAM) as sock:
                    sock.settimeout(10)
                    sock.sendto(b"3 4\\n", (host, port))
                    replies.append(sock.recv(100).decode())
        print(json.dumps({"lines": lines, "ports": server.ports, "replies": replies}))
    finally:
        server.stop()
''')

LO_UP = [["ip", "link", "set", "lo", "up"], ["hostname", "sockets-classroom-test"]]
VETH = LO_UP + [
    ["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
    ["ip", "addr", "add", NETWORK + "/24", "dev", "v0"],
    ["ip", "-6", "addr", "add", NETWORK6 + "/64", "dev", "v0", "nodad"],
    ["ip", "link", "set", "v0", "up"], ["ip", "link", "set", "v1", "up"],
]


# Root makes the namespaces directly; anyone else through a user namespace of their own
# (-r: root inside it), where the kernel allows that.
UNSHARE = ["unshare", "-n", "-u"] + ([] if getattr(os, "geteuid", lambda: 0)() == 0 else ["-r"])


def namespace_unavailable():
    """Why a private network namespace cannot be made here, or None."""
    if not (shutil.which("unshare") and shutil.which("ip")):
        return "unshare or ip is missing"
    done = subprocess.run(UNSHARE + ["ip", "link", "set", "lo", "up"],
                          capture_output=True, timeout=30)
    if done.returncode:
        return "unshare -n is not permitted: " + done.stderr.decode(errors="replace").strip()
    return None


@pytest.fixture(scope="module")
def namespace():
    """Skip when no namespace can be made, except under CI (env CI set), where it fails."""
    reason = namespace_unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def in_namespace(setup, argv, count, connects=()):
    """Run a server in a fresh network namespace until it printed `count` lines; those
    lines, its ports and the replies to "3 4" from each host of `connects`."""
    done = harness.run(UNSHARE + [harness.PYTHON, "-c", NAMESPACE_SCRIPT,
                        json.dumps([setup, argv, count, list(connects)])], timeout=60)
    assert done.returncode == 0, done
    return json.loads(done.stdout)


def script(transport, host):
    return harness.server_argv("twisted", "ex2_sum", transport) + ["--host", host, "--port", "0"]


def listening(kind, host, port, addresses):
    """The lines a server prints when it starts listening on a wildcard `host`."""
    return [f"{kind} server listening on {host} port {port}, Ctrl+C to stop"] + (
        [f"Students can connect to {a} port {port}" for a in addresses]
        or ["No network address found: only this machine can connect"])


# As on Windows and the BSDs: "::" takes no IPv4 unless the server asks, which it must,
# since the lines it prints for "::" name IPv4 addresses too.
V6ONLY = VETH + [["sh", "-c", "echo 1 > /proc/sys/net/ipv6/bindv6only"]]
CASES = {
    "tcp-0.0.0.0": (VETH, script("tcp", "0.0.0.0"), [NETWORK], "TCP", "0.0.0.0", [NETWORK]),
    "tcp-::": (V6ONLY, script("tcp", "::"), [NETWORK, NETWORK6], "TCP", "::", [NETWORK, NETWORK6]),
    "udp-0.0.0.0": (VETH, script("udp", "0.0.0.0"), [NETWORK], "UDP", "0.0.0.0", [NETWORK]),
    "udp-::": (V6ONLY, script("udp", "::"), [NETWORK, NETWORK6], "UDP", "::", [NETWORK, NETWORK6]),
    "tcp-lo-only": (LO_UP, script("tcp", "0.0.0.0"), ["127.0.0.1"], "TCP", "0.0.0.0", []),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_wildcard_address_lines(namespace, case):
    """Right after the listening line, one line per address students can use (IPv4,
    then IPv6 for ::), or the one "No network address found" line; a client on the
    network (IPv4 and IPv6 for ::) gets its answer."""
    setup, argv, connects, kind, host, addresses = CASES[case]
    result = in_namespace(setup, argv, 1 + max(1, len(addresses)), connects)
    port = result["ports"][kind]
    assert result["lines"] == listening(kind, host, port, addresses)
    assert result["replies"] == ["7\n"] * len(connects)


def test_twistd_wildcard_address_lines(namespace):
    """twistd on 0.0.0.0: each listening line, TCP and UDP, is followed by the address
    line; a client on the network gets its answer."""
    argv = ["twistd", "-n", "ex2-sum", "--host", "0.0.0.0", "--port", "0"]
    result = in_namespace(VETH, argv, 4, [NETWORK])
    ports = result["ports"]
    assert result["lines"][:4] == (listening("TCP", "0.0.0.0", ports["TCP"], [NETWORK])
                                   + listening("UDP", "0.0.0.0", ports["UDP"], [NETWORK]))
    assert result["replies"] == ["7\n"]


# ---------------------------------------------------------------- twistd's default

class FakePort:
    def __init__(self, host):
        self.host = host

    def getHost(self):
        return IPv4Address("TCP", self.host, 8091)

    def stopListening(self):
        pass


class FakeEndpoint:
    """An endpoint that 'listens' on `host` at once, without a socket."""

    def __init__(self, host):
        self.host = host

    def listen(self, factory):
        from twisted.internet.defer import succeed
        return succeed(FakePort(self.host))


@pytest.mark.parametrize("hosts, cap", [
    (["127.0.0.1"], None), (["0.0.0.0"], 8), (["127.0.0.1", "0.0.0.0"], 8), (["::1"], None),
])
def test_twistd_default_follows_where_it_listens(monkeypatch, hosts, cap):
    """Without --max-per-address, a twistd service caps each address at 8 as soon as one
    of its endpoints listens off loopback (a bare --listen tcp:8091 is 0.0.0.0)."""
    from twisted_impl import service
    monkeypatch.setattr(service, "announce", lambda *args: None)
    factory = twisted_server.LineServerFactory(ex2_tcp.Handle, 60, 100, None)
    for host in hosts:
        server = service.AnnouncedTCPServer(FakeEndpoint(host), factory, cap_by_host=True)
        server.startService()
    assert factory.max_per_address == cap


def test_twistd_explicit_cap_on_a_listen_endpoint():
    """--max-per-address N applies on --listen endpoints too, loopback included."""
    server = harness.start_server(["twistd", "-n", "ex2-sum", "--port", "0",
                                   "--listen", "tcp:0:interface=127.0.0.1",
                                   "--max-per-address", "1"])
    try:
        port = server.ports["TCP"]
        with connect_from("127.0.0.2", port) as held:
            ask(held)
            with connect_from("127.0.0.2", port) as sock:
                assert harness.read_until_eof(sock) == too_many(1)
            with connect_from("127.0.0.3", port) as sock:
                ask(sock)
    finally:
        server.stop()
