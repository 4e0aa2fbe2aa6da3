"""Process behaviour of every server implementation: where it listens, what it prints,
how it fails and how it stops.
"""

import signal
import socket

import pytest

from tests import cases, harness

IMPLS = harness.SERVER_IMPLS
# (impl, transport) pairs that each need a process of their own; one twistd serves both.
PROCESSES = [("basic", "tcp"), ("basic", "udp"), ("twisted", "tcp"), ("twisted", "udp"),
             ("twistd", "tcp")]
PROCESS_IDS = ["basic-tcp", "basic-udp", "twisted-tcp", "twisted-udp", "twistd-tcp_and_udp"]


def transports(impl, transport):
    return ["tcp", "udp"] if impl == "twistd" else [transport]


def exchange(transport, port, host=harness.HOST):
    """Ask an ex2 server for 3+4 over the transport (a line: the reply ends in "\\n")."""
    if transport == "tcp":
        return harness.tcp_exchange(port, b"3 4\n", host)
    return harness.udp_exchange(port, b"3 4\n", host)


def other_local_address():
    """A non-loopback IPv4 address of this machine, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent, only routed
            address = sock.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _default_host_is_loopback_only(fresh, impl, transport):
    server = fresh(impl, "ex2_sum", transport, host=None)
    elsewhere = other_local_address()
    for kind in transports(impl, transport):
        port = server.ports[kind.upper()]
        assert f"{kind.upper()} server listening on 127.0.0.1 port {port}, Ctrl+C to stop" in server.output()
        assert [(t[:3], a) for t, a in harness.proc_net_listeners(kind, port)] == [
            (kind, "0100007F")]
        assert exchange(kind, port) == b"7\n"
        if elsewhere:
            if kind == "tcp":
                with pytest.raises(ConnectionRefusedError):
                    harness.connect(port, elsewhere, timeout=2).close()
            else:
                assert harness.udp_exchange(port, b"3 4", elsewhere, timeout=0.6) is None


@pytest.mark.parametrize("impl, transport", PROCESSES, ids=PROCESS_IDS)
def test_default_host_is_loopback_only(together, impl, transport):
    """Without --host a server listens on 127.0.0.1 only, and says so in its first line.
    (Every server at once: `together`.)"""
    together(_default_host_is_loopback_only, PROCESSES, (impl, transport))


def _ipv6_loopback(fresh, impl, transport):
    server = fresh(impl, "ex2_sum", transport, host="::1")
    for kind in transports(impl, transport):
        port = server.ports[kind.upper()]
        assert f"{kind.upper()} server listening on ::1 port {port}, Ctrl+C to stop" in server.output()
        if kind == "tcp":
            with harness.connect(port, "::1") as sock:
                client_port = sock.getsockname()[1]
                assert harness.tcp_request(sock, b"3 4\n", 2) == b"7\n"
            line = f"Got connection from ('::1', {client_port})"
        else:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
                sock.settimeout(5)
                sock.sendto(b"3 4", ("::1", port))
                assert sock.recvfrom(1024)[0] == b"7"  # a bare request, a bare reply
                client_port = sock.getsockname()[1]
            line = f"Got datagram from ('::1', {client_port})"
        server.wait_for_line(line, timeout=5)


@pytest.mark.skipif(not harness.ipv6_available(), reason="no IPv6 on this machine")
@pytest.mark.parametrize("impl, transport", PROCESSES, ids=PROCESS_IDS)
def test_ipv6_loopback(together, impl, transport):
    """--host ::1 listens on IPv6 loopback, prints `::1`, and shows clients as ('::1', port).
    (Every server at once: `together`.)"""
    together(_ipv6_loopback, PROCESSES, (impl, transport))


def run_with_port_taken(impl, transport):
    """Start an ex2 server on a port that a socket of ours holds; its exit status and port."""
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as holder:
        holder.bind((harness.HOST, 0))
        if transport == "tcp":
            holder.listen(1)
        port = holder.getsockname()[1]
        server = harness.start_server(harness.server_argv(impl, "ex2_sum", transport)
                                      + ["--port", str(port)])
        try:
            return server, server.wait(15), port
        finally:
            server.stop()


def in_use_line(port):
    return (f"error: cannot listen on 127.0.0.1 port {port}: address already in use "
            "(is another server running? try --port 0)\n").encode()


def _port_in_use(fresh, impl, transport):
    server, status, port = run_with_port_taken(impl, transport)
    assert (status, server.raw_output(), server.stderr()) == (1, b"", in_use_line(port))


@pytest.mark.parametrize("impl, transport", PROCESSES[:4], ids=PROCESS_IDS[:4])
def test_port_in_use(together, impl, transport):
    """A port in use gets one exact line on stderr, nothing on stdout, and exit status 1.
    (Every script at once: `together`.)"""
    together(_port_in_use, PROCESSES[:4], (impl, transport))


def _twistd_port_in_use(fresh, transport):
    server, status, port = run_with_port_taken("twistd", transport)
    assert (status, server.stderr()) == (1, in_use_line(port))
    assert "Traceback" not in server.raw_output().decode()


@pytest.mark.parametrize("transport", harness.TRANSPORTS)
def test_twistd_port_in_use(together, transport):
    """twistd with its TCP or its UDP port in use: the scripts' one line on stderr, exit 1.

    twistd would log a traceback; the service prints the line on the terminal instead.
    (Both transports at once: `together`.)
    """
    together(_twistd_port_in_use, harness.TRANSPORTS, transport)


def _ctrl_c_stops_promptly(fresh, impl, transport):
    server = fresh(impl, "ex2_sum", transport)
    port = server.ports[transport.upper()]
    assert exchange(transport, port) == b"7\n"
    idle = None
    try:
        if "TCP" in server.ports:  # a connected, silent client must not delay the stop
            since = len(server.output())  # the exchange's client may have had the same port
            idle = harness.connect(server.ports["TCP"])
            server.wait_for_line(f"Got connection from ('127.0.0.1', {idle.getsockname()[1]})",
                                 since=since)
        status, seconds = server.interrupt(timeout=5)
    finally:
        if idle:
            idle.close()
    assert seconds < 3
    output = server.raw_output().decode("utf-8", "replace")
    assert "Traceback" not in output
    if impl == "twistd":
        # twistd ends by re-raising the signal it got (twistd's own behaviour, not the
        # service's), so that its parent sees "killed by SIGINT"; 0 is accepted too.
        assert status in (0, -signal.SIGINT)
        assert (server.program_lines()[-1], server.stderr()) == ("Server stopped", b"")
        return
    assert status == 0
    assert (output.split("\n")[-2:], server.stderr()) == (["Server stopped", ""], b"")


@pytest.mark.parametrize("impl, transport", PROCESSES, ids=PROCESS_IDS)
def test_ctrl_c_stops_promptly(together, impl, transport):
    """SIGINT stops a server within 3 s, even with a client connected: `Server stopped`,
    status 0. (Every server at once: `together`.)"""
    together(_ctrl_c_stops_promptly, PROCESSES, (impl, transport))


@pytest.mark.parametrize("transport", harness.TRANSPORTS)
@pytest.mark.parametrize("exercise", cases.EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_prints_the_clients_real_address(pool, impl, exercise, transport):
    """A server prints `Got connection from` / `Got datagram from ('127.0.0.1', P)` with the client's port."""
    server = pool.get(impl, exercise, transport)
    port = server.ports[transport.upper()]
    since = len(server.output())  # earlier clients of this pooled server may have had the port
    if transport == "tcp":
        with harness.connect(port) as sock:
            client_port = sock.getsockname()[1]
            sock.sendall(b"\n")
            harness.read_exactly(sock, 1)
        line = f"Got connection from ('127.0.0.1', {client_port})"
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(b"\n", (harness.HOST, port))
            assert sock.recvfrom(1 << 16)[0]
            client_port = sock.getsockname()[1]
        line = f"Got datagram from ('127.0.0.1', {client_port})"
    server.wait_for_line(line, timeout=5, since=since)


def last_line(result):
    lines = result.stderr.decode("utf-8", "replace").splitlines()
    return lines[-1].split(": ", 1)[1] if lines else ""


def _udp_servers_take_no_timeout_nor_max_clients(fresh, impl, exercise):
    argv = harness.server_argv(impl, exercise, "udp")
    got = harness.parallel([lambda o=o: harness.run(argv + [o, "5"])
                            for o in ("--timeout", "--max-clients")])
    assert [(r.returncode, r.stdout, last_line(r)) for r in got] == [
        (2, b"", "error: unrecognized arguments: --timeout 5"),
        (2, b"", "error: unrecognized arguments: --max-clients 5")]


@pytest.mark.parametrize("exercise", cases.EXERCISES)
@pytest.mark.parametrize("impl", ["basic", "twisted"])
def test_udp_servers_take_no_timeout_nor_max_clients(together, impl, exercise):
    """A UDP server has no connection to time out or count: --timeout and --max-clients
    are unknown options there (exit 2), not accepted and ignored. (Every server at once:
    `together`.)"""
    together(_udp_servers_take_no_timeout_nor_max_clients,
             [(i, e) for i in ("basic", "twisted") for e in cases.EXERCISES], (impl, exercise))


MAX_CLIENTS_VALUES = ["0", "-3", "abc", "2.5"]


def _max_clients_must_be_a_positive_whole_number(fresh, impl, value):
    result = harness.run(harness.server_argv(impl, "ex2_sum", "tcp") + ["--max-clients", value])
    assert (result.returncode, result.stdout, last_line(result)) == (
        2, b"", f"error: argument --max-clients: not a positive whole number: {value!r}")


@pytest.mark.parametrize("value", MAX_CLIENTS_VALUES)
@pytest.mark.parametrize("impl", ["basic", "twisted"])
def test_max_clients_must_be_a_positive_whole_number(together, impl, value):
    """`--max-clients 0` (or -3, abc, 2.5) gets `argument --max-clients: not a positive
    whole number: '0'` and exit 2 from the TCP servers. (Every run at once: `together`.)"""
    together(_max_clients_must_be_a_positive_whole_number,
             [(i, v) for i in ("basic", "twisted") for v in MAX_CLIENTS_VALUES], (impl, value))


# A Twisted server run with an observer that says, when the listening line is logged,
# whether Ctrl+C and `kill` would already reach the reactor's handlers.
HANDLERS_READY = """import runpy, signal, sys
from twisted.logger import globalLogPublisher
def check(event):
    if "listening on" in event.get("log_format", ""):
        ready = (signal.getsignal(signal.SIGINT) is not signal.default_int_handler
                 and signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL)
        print("handlers ready" if ready else "handlers NOT ready", file=sys.__stderr__, flush=True)
globalLogPublisher.addObserver(check)
sys.argv[0] = sys.argv[1]
if sys.argv[1] == "twistd":
    from twisted.scripts.twistd import run
    del sys.argv[1]
    run()
else:
    runpy.run_module(sys.argv.pop(1), run_name="__main__")
"""


@pytest.mark.parametrize("argv", [
    ["twisted_impl.ex2_sum.tcpserver", "--port", "0"],
    ["twisted_impl.ex2_sum.udpserver", "--port", "0"],
    ["twistd", "-n", "--pidfile=", "--logfile=-", "ex2-sum", "--port", "0"]],
    ids=["twisted-tcp", "twisted-udp", "twistd"])
def test_listening_line_only_once_ctrl_c_works(tmp_path, argv):
    """A Twisted server says "listening ..., Ctrl+C to stop" only once the reactor's
    signal handlers are in place: a Ctrl+C or `kill` sent the moment the line appears
    stops the server as promised, instead of landing in the start-up code (which then
    served on, deaf to the signal: a flaky test found it)."""
    server = harness.start_server([harness.PYTHON, "-c", HANDLERS_READY] + argv, tmp_path)
    try:
        server.ports
        assert server.interrupt()[0] in (0, -signal.SIGINT)
        assert server.stderr().decode().split("\n")[:-1] == ["handlers ready"] * len(server.ports)
    finally:
        server.stop()
