"""Classroom mode (issue 18): the addresses a wildcard server can be reached at, and a cap
on the connections one address (one student's machine) may hold.

Students are stood for by distinct loopback source addresses (127.0.0.2, 127.0.0.3...:
a client socket bound to one before connect). The wildcard address lines are tested for
real inside a private network namespace (`unshare --net --uts`), never on the machine's
own network: skipped where unshare or ip are missing or not permitted, failed under CI.

The same tests run against the basic scripts, the Twisted programs and the twistd services.
"""

import functools
import importlib.util
import json
import os
import shutil
import socket
import subprocess

import pytest

from tests import harness

ROOT = harness.ROOT
IMPLS = harness.SERVER_IMPLS  # basic, twisted, twistd
LINE_EXERCISES = ("ex1_message", "ex2_sum", "ex3_password")
SAMPLE = {"ex0_hello": (b"", b"Thank you for connecting\n"), "ex1_message": (b"hi\n", b"From SERVER TCP\n"),
          "ex2_sum": (b"3 4\n", b"7\n"), "ex3_password": (b"Abc123@1\n", b"Abc123@1\n")}
UDP_SAMPLE = {"ex0_hello": (b"hi\n", b"Thank you for connecting\n"), "ex1_message": (b"hi\n", b"From SERVER UDP\n"),
              "ex2_sum": (b"3 4\n", b"7\n"), "ex3_password": (b"Abc123@1\n", b"Abc123@1\n")}
CROWDED = "Too many connections from {host} (max {n}), new ones from it are turned away"


def refused(n):
    return b"ERROR too many connections from your address (max %d)\n" % n


def from_address(port, source, timeout=10.0):
    """A connection to the server from loopback address `source`, as if from another machine."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect((harness.HOST, port))
    return sock


def until_fin(sock):
    """Every byte until the server's FIN; a reset fails the test (the words could be lost)."""
    chunks = []
    while True:
        data = sock.recv(1 << 16)  # ConnectionResetError propagates
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def got_from(server, source):
    return [x for x in server.program_lines() if x.startswith(f"Got connection from ('{source}', ")]


def served(server, sock, exercise):
    """`sock`'s connection line is printed and it is answered: it holds a place."""
    host, port = sock.getsockname()[:2]
    server.wait_for_line(f"Got connection from ('{host}', {port})", timeout=10)
    request, reply = SAMPLE[exercise]
    sock.sendall(request)
    assert harness.read_exactly(sock, len(reply)) == reply


# ------------------------------------------------------------------ the default cap

def load_script(path):
    spec = importlib.util.spec_from_file_location(f"classroom_{path.parent.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # importing a script opens no socket
    return module


TCP_SERVERS = sorted((ROOT / "basic").glob("*/tcpserver.py"))


@pytest.mark.parametrize("path", TCP_SERVERS, ids=[p.parent.name for p in TCP_SERVERS])
def test_default_per_address_depends_on_the_host(path):
    """No cap on loopback (127.0.0.0/8, ::1, localhost), 8 on any other address."""
    module = load_script(path)
    got = {host: module.default_per_address(host) for host in (
        "127.0.0.1", "127.0.0.2", "::1", "localhost", "0.0.0.0", "::", "192.168.1.23",
        "fd00::13", "example.org")}
    assert got == {"127.0.0.1": None, "127.0.0.2": None, "::1": None, "localhost": None,
                   "0.0.0.0": 8, "::": 8, "192.168.1.23": 8, "fd00::13": 8, "example.org": 8}


def test_default_per_address_in_the_help():
    """Every basic TCP server's --help gives the option and its default, in one wording."""
    helps = [harness.run([harness.PYTHON, str(p), "--help"]).stdout.decode() for p in TCP_SERVERS]
    texts = {" ".join(h[h.rindex("--max-per-address"):].split()).split(" Stop it")[0] for h in helps}
    assert texts == {
        "--max-per-address MAX_PER_ADDRESS connections one address (one student's machine) "
        "may hold at once; more from it are turned away (default: 8 when the server is open "
        "to the network, no limit on loopback)"}


# ------------------------------------------------------------- the cap, on loopback

CAP_CASES = [("basic", ex) for ex in LINE_EXERCISES] + [("twisted", "ex2_sum"), ("twistd", "ex2_sum")]


def _cap_per_address(fresh, impl, exercise):
    server = fresh(impl, exercise, "tcp", options=["--max-per-address", "2"])
    port = server.ports["TCP"]
    held = [from_address(port, "127.0.0.2") for _ in range(2)]
    try:
        for sock in held:
            served(server, sock, exercise)
        for _ in range(3):  # the student's next ones: the exact words, then a clean FIN
            with from_address(port, "127.0.0.2") as sock:
                assert until_fin(sock) == refused(2)
        with from_address(port, "127.0.0.3") as other:  # another student: served at once
            served(server, other, exercise)
        request, reply = SAMPLE[exercise]
        assert harness.tcp_request(held[0], request, len(reply)) == reply  # still served
        server.wait_for_line(CROWDED.format(host="127.0.0.2", n=2), timeout=5)
        assert server.program_lines().count(CROWDED.format(host="127.0.0.2", n=2)) == 1
        assert len(got_from(server, "127.0.0.2")) == 2  # no line for the refused ones
        # One leaves: the address is served again (its spell ends), then full again.
        held.pop().close()
        while True:
            sock = from_address(port, "127.0.0.2")
            sock.sendall(request)
            got = harness.read_exactly(sock, len(reply))
            if got == reply:
                held.append(sock)
                break
            assert refused(2).startswith(got), got  # not noticed yet that one left
            sock.close()
        with from_address(port, "127.0.0.2") as sock:
            assert until_fin(sock) == refused(2)
        server.wait_for(lambda lines: lines.count(CROWDED.format(host="127.0.0.2", n=2)) >= 2,
                        timeout=5, what="a second spell's line")
        assert server.program_lines().count(CROWDED.format(host="127.0.0.2", n=2)) == 2
    finally:
        for sock in held:
            sock.close()
    assert server.stderr() == b""


@pytest.mark.parametrize("impl, exercise", CAP_CASES, ids=["-".join(c) for c in CAP_CASES])
def test_cap_per_address(together, impl, exercise):
    """--max-per-address 2: an address holding two connections gets, for its next ones,
    exactly `ERROR too many connections from your address (max 2)` and a FIN, no
    connection line; another address is served at once; the server's line is printed
    once per spell. (Every case at once: `together`.)"""
    together(_cap_per_address, CAP_CASES, (impl, exercise))


def _per_address_before_max_clients(fresh, impl):
    server = fresh(impl, "ex2_sum", "tcp", options=["--max-per-address", "2", "--max-clients", "2"])
    port = server.ports["TCP"]
    held = [from_address(port, "127.0.0.2") for _ in range(2)]
    try:
        for sock in held:
            served(server, sock, "ex2_sum")
        with from_address(port, "127.0.0.2") as sock:  # full, and at its own cap
            assert until_fin(sock) == refused(2)
        with from_address(port, "127.0.0.3") as sock:  # full only
            assert until_fin(sock) == b"ERROR server busy (max 2 clients)\n"
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("impl", IMPLS)
def test_per_address_check_comes_first(together, impl):
    """Full and at its cap, an address is told about its cap; another, that the server is
    busy. (Every implementation at once: `together`.)"""
    together(_per_address_before_max_clients, IMPLS, impl)


def _no_cap_on_loopback_by_default(fresh, impl):
    server = fresh(impl, "ex2_sum", "tcp")  # --host 127.0.0.1, no --max-per-address
    port = server.ports["TCP"]
    held = [from_address(port, "127.0.0.2") for _ in range(12)]
    try:
        for sock in held:
            served(server, sock, "ex2_sum")
    finally:
        for sock in held:
            sock.close()
    assert not any(x.startswith("Too many") for x in server.program_lines())


@pytest.mark.parametrize("impl", IMPLS)
def test_no_cap_on_loopback_by_default(together, impl):
    """On 127.0.0.1 without the option, one address is served 12 times at once.
    (Every implementation at once: `together`.)"""
    together(_no_cap_on_loopback_by_default, IMPLS, impl)


# ------------------------------------------------ wildcard addresses, in a namespace

UNSHARE = ["unshare", "--net", "--uts"]


@functools.lru_cache(maxsize=None)
def _namespace_prefix():
    """(the command that makes a private network namespace, or None; the reason if None)."""
    problem = "unshare or ip is missing (apt-get install util-linux iproute2)"
    if shutil.which("unshare") and shutil.which("ip"):
        for prefix in (UNSHARE, UNSHARE + ["--map-root-user"]):
            probe = subprocess.run(prefix + ["ip", "link", "set", "lo", "up"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
            if probe.returncode == 0:
                return tuple(prefix), None
            problem = "no private network namespace here: " + probe.stderr.decode().strip()
    return None, problem


def namespace_or_skip():
    """The command that makes a private network namespace: unshare, as root or in a user
    namespace of its own (probed once). Skip without unshare and ip, or when neither way
    is permitted; fail instead under CI, whose .ci/run installs them."""
    prefix, problem = _namespace_prefix()
    if prefix is not None:
        return list(prefix)
    if os.environ.get("CI"):
        pytest.fail(problem)
    pytest.skip(problem)


SETUP = [["hostname", "localhost"],  # the machine's own name would resolve outside
         ["ip", "link", "set", "lo", "up"]]
VETH = [["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
        ["ip", "addr", "add", "10.11.12.13/24", "dev", "v0"],
        ["ip", "-6", "addr", "add", "fd00::13/64", "dev", "v0", "nodad"],
        ["ip", "link", "set", "v0", "up"], ["ip", "link", "set", "v1", "up"]]
# As on Windows and the BSDs: a socket on "::" takes no IPv4 unless the server asks for it,
# which every server must, since the lines it prints for "::" name IPv4 addresses too.
V6ONLY = [["sh", "-c", "echo 1 > /proc/sys/net/ipv6/bindv6only"]]


def inside(spec):
    """Run in the namespace: set it up, start the server, talk to it, print what was seen."""
    spec = json.loads(spec)
    for step in SETUP + (VETH if spec["veth"] else []) + (V6ONLY if spec.get("v6only") else []):
        subprocess.run(step, check=True)
    argv = harness.server_argv(spec["impl"], spec["exercise"], spec["transport"])
    server = harness.start_server(argv + ["--host", spec["host"], "--port", "0"] + spec["options"])
    try:
        port = server.ports[spec["transport"].upper()]
        seen = {"port": port}
        lines = server.wait_for(lambda lines: sum(
            x.startswith(("Students can", "No network")) for x in lines) >= spec["lines"],
            what="the address lines")
        if spec["veth"]:
            request, reply = (SAMPLE if spec["transport"] == "tcp" else UDP_SAMPLE)[spec["exercise"]]
            if spec["transport"] == "tcp":
                seen["reply"] = harness.tcp_exchange(port, request, host="10.11.12.13").decode()
            else:
                seen["reply"] = harness.udp_exchange(port, request, host="10.11.12.13").decode()
            if spec["cap"]:  # the default cap on a network: 8 held, the 9th refused
                held = [harness.connect(port, host="10.11.12.13") for _ in range(8)]
                server.wait_for(lambda lines: len([x for x in lines if x.startswith(
                    "Got connection from ('10.11.12.13'")]) >= 9, timeout=10, what="8 held")
                with harness.connect(port, host="10.11.12.13") as sock:
                    seen["ninth"] = until_fin(sock).decode()
                for sock in held:
                    sock.close()
        seen["lines"] = [x for x in server.program_lines()
                         if harness.LISTENING.search(x) or x.startswith(("Students can", "No network"))]
        seen["expected"] = len(lines)
    finally:
        server.stop()
    print(json.dumps(seen))


def in_namespace(prefix, **spec):
    code = "import sys; from tests import test_classroom; test_classroom.inside(sys.argv[1])"
    result = subprocess.run(prefix + [harness.PYTHON, "-c", code, json.dumps(spec)],
                            cwd=ROOT, env=harness.ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout.decode().strip().split("\n")[-1])


def expected_lines(seen, addresses):
    """Each listening line, followed by its address lines (twistd listens twice)."""
    lines = []
    for line in seen["lines"]:
        match = harness.LISTENING.search(line)
        if match:
            lines.append(line)
            port = match.group(3)
            lines += [f"Students can connect to {a} port {port}" for a in addresses] or [
                "No network address found: only this machine can connect"]
    return lines


WILDCARD_CASES = [(impl, transport) for impl in ("basic", "twisted") for transport in ("tcp", "udp")] + [
    ("twistd", "tcp")]


HOSTS = [("0.0.0.0", ["10.11.12.13"], False), ("::", ["10.11.12.13", "fd00::13"], False),
         ("::", ["10.11.12.13", "fd00::13"], True)]
WILDCARD_PARAMS = [case + host for case in WILDCARD_CASES for host in HOSTS]


@pytest.mark.parametrize("impl, transport", WILDCARD_CASES, ids=["-".join(c) for c in WILDCARD_CASES])
@pytest.mark.parametrize("host, addresses, v6only", HOSTS, ids=["0.0.0.0", "::", "::-v6only"])
def test_wildcard_prints_the_addresses_students_can_use(together, impl, transport, host,
                                                         addresses, v6only):
    """Listening on 0.0.0.0 (IPv4 only) or :: (IPv4 then IPv6), right after its listening
    line a server prints `Students can connect to ADDRESS port PORT` for the namespace's
    own addresses (loopback and link-local left out), and a client of 10.11.12.13 gets its
    answer (also where "::" takes no IPv4 unless asked: v6only); on 0.0.0.0, TCP, the
    default cap is 8 per address. (Every case at once, each in a namespace of its own:
    `together`.)"""
    together(_wildcard, WILDCARD_PARAMS, (impl, transport, host, addresses, v6only))


def _wildcard(start, impl, transport, host, addresses, v6only):
    exercise = "ex2_sum"
    cap = transport == "tcp" and host == "0.0.0.0"
    seen = in_namespace(namespace_or_skip(), impl=impl, exercise=exercise, transport=transport,
                        host=host, options=[], veth=True, lines=len(addresses), cap=cap,
                        v6only=v6only)
    assert seen["lines"] == expected_lines(seen, addresses)
    assert seen["lines"][0] == f"{transport.upper()} server listening on {host} port {seen['port']}, Ctrl+C to stop"
    assert seen["reply"] == "7\n"
    if cap:
        assert seen["ninth"] == refused(8).decode()


NO_NETWORK_CASES = [("basic", ex, t) for ex in harness.SERVICES for t in harness.TRANSPORTS] + [
    ("twisted", "ex2_sum", "tcp"), ("twisted", "ex2_sum", "udp"), ("twistd", "ex2_sum", "tcp")]


@pytest.mark.parametrize("impl, exercise, transport", NO_NETWORK_CASES,
                         ids=["-".join(c) for c in NO_NETWORK_CASES])
def test_wildcard_without_a_network(together, impl, exercise, transport):
    """With only loopback up, every server on 0.0.0.0 says so in one line after listening.
    (Every case at once: `together`.)"""
    together(_without_a_network, NO_NETWORK_CASES, (impl, exercise, transport))


def _without_a_network(start, impl, exercise, transport):
    seen = in_namespace(namespace_or_skip(), impl=impl, exercise=exercise, transport=transport,
                        host="0.0.0.0", options=[], veth=False, lines=1, cap=False)
    assert seen["lines"] == expected_lines(seen, [])
    assert seen["lines"][1] == "No network address found: only this machine can connect"


@pytest.mark.parametrize("impl", ("basic", "twisted"))
def test_specific_host_prints_no_address_lines(together, impl):
    """A server on a given address (here 127.0.0.1) prints no address lines."""
    together(_specific_host, ("basic", "twisted"), impl)


def _specific_host(fresh, impl):
    for transport in ("tcp", "udp"):
        server = fresh(impl, "ex2_sum", transport)
        port = server.ports[transport.upper()]
        request, reply = UDP_SAMPLE["ex2_sum"]
        if transport == "tcp":
            assert harness.tcp_exchange(port, request) == reply
            server.wait_for(lambda lines: any(x.startswith("Got connection") for x in lines))
        else:
            assert harness.udp_exchange(port, request) == reply
            server.wait_for(lambda lines: any(x.startswith("Got datagram") for x in lines))
        assert not any(x.startswith(("Students can", "No network")) for x in server.program_lines())
