"""Every row of tests/cases.py against every server: basic, Twisted script, twistd service.

Over TCP a row is sent on its own connection, all rows are sent pipelined in one send,
all rows are sent one byte per send, and each row is sent without its line ending before
a half-close (answered bare); over UDP a row is one datagram, with and without its line
ending (answered bare without it). Test names carry the implementation, the exercise and
the transport.
"""

import re
import socket

import pytest

from tests import cases, harness

IMPLS = harness.SERVER_IMPLS
LINE_EXERCISES = ("ex1_message", "ex2_sum", "ex3_password")


@pytest.mark.parametrize("exercise", LINE_EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_tcp_one_connection_per_row(pool, impl, exercise):
    """Each row alone on a half-closed connection gets exactly its reply, then EOF."""
    port = pool.port(impl, exercise, "tcp")
    rows = cases.rows(exercise, "tcp")
    got = harness.parallel([lambda r=r: (r, harness.tcp_exchange(port, r)) for r, _ in rows])
    assert got == rows


@pytest.mark.parametrize("exercise", LINE_EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_tcp_all_rows_pipelined_in_one_send(pool, impl, exercise):
    """All rows in one send() on one connection get all replies, in order, then EOF."""
    port = pool.port(impl, exercise, "tcp")
    rows = cases.rows(exercise, "tcp")
    got = harness.tcp_exchange(port, b"".join(r for r, _ in rows))
    assert got == b"".join(reply for _, reply in rows)


@pytest.mark.parametrize("exercise", LINE_EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_tcp_all_rows_one_byte_per_send(pool, impl, exercise):
    """All rows sent one byte per send() with TCP_NODELAY get all replies, in order."""
    port = pool.port(impl, exercise, "tcp")
    # The 4000-digit rows would make 50 000 sends: keep the short rows, which are the
    # interesting ones for framing (CR, LF, empty lines, split UTF-8).
    rows = [(r, a) for r, a in cases.rows(exercise, "tcp") if len(r) < 200]
    got = harness.tcp_bytewise(port, b"".join(r for r, _ in rows))
    assert got == b"".join(reply for _, reply in rows)


@pytest.mark.parametrize("exercise", LINE_EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_tcp_each_row_bare_before_half_close(pool, impl, exercise):
    """Each row without its line ending, then a half-close, gets its reply bare, then EOF."""
    port = pool.port(impl, exercise, "tcp")
    rows = [(cases.without_line_ending(r), cases.bare(a)) for r, a in cases.rows(exercise, "tcp")]
    rows = [(r, a) for r, a in rows if r]  # no byte before the half-close: no request at all
    got = harness.parallel([lambda r=r: (r, harness.tcp_exchange(port, r)) for r, _ in rows])
    assert got == rows


@pytest.mark.parametrize("ending", ["with_line_ending", "without_line_ending"])
@pytest.mark.parametrize("exercise", LINE_EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_udp_each_row_as_a_datagram(pool, impl, exercise, ending):
    """Each row as one datagram gets its reply datagram, which ends in "\\n" when the
    request did (or when the answer is empty): bare without the line ending."""
    port = pool.port(impl, exercise, "udp")
    rows = cases.rows(exercise, "udp")
    if ending == "without_line_ending":
        rows = [(cases.without_line_ending(r), cases.bare(a)) for r, a in rows]
    got = harness.parallel([lambda r=r: (r, harness.udp_exchange(port, r)) for r, _ in rows])
    assert got == rows


@pytest.mark.parametrize("impl", IMPLS)
def test_ex0_tcp_greets_then_closes(pool, impl):
    """ex0 over TCP: connecting is enough to get the greeting, then the server closes."""
    port = pool.port(impl, "ex0_hello", "tcp")
    with harness.connect(port) as sock:
        assert harness.read_until_eof(sock) == cases.GREETING


@pytest.mark.parametrize("impl", IMPLS)
def test_ex0_tcp_greets_each_connection(pool, impl):
    """ex0 over TCP: every one of several simultaneous connections gets the greeting."""
    port = pool.port(impl, "ex0_hello", "tcp")
    got = harness.parallel([lambda: harness.tcp_exchange(port, b"") for _ in range(20)])
    assert got == [cases.GREETING] * 20


@pytest.mark.parametrize("datagram", [b"", b"hello\n", b"hello\r\n", b"hello",
                                      b"\xff\x00\r\n garbage", b"x" * 10_000,
                                      b"x" * 10_000 + b"\n"],
                         ids=["empty", "line", "crlf_line", "bare", "garbage", "10kB", "10kB_line"])
@pytest.mark.parametrize("impl", IMPLS)
def test_ex0_udp_any_datagram_gets_the_greeting(pool, impl, datagram):
    """ex0 over UDP: any datagram, even empty, garbage or 10 kB, gets the greeting, ending
    in "\\n" exactly when the datagram did."""
    port = pool.port(impl, "ex0_hello", "udp")
    expected = cases.GREETING if datagram.endswith(b"\n") else cases.bare(cases.GREETING)
    assert harness.udp_exchange(port, datagram) == expected


PEER_LINE = re.compile(r"(Got connection from|Got datagram from|Received from) "
                       r"\('127\.0\.0\.1', (\d+)\)")


def visits(lines, port, kind="Got connection from"):
    """The connections (kind "Got datagram from": the datagrams) from client `port` in a
    server's output lines, in order: each is the list of its lines, its `Got ...` line and
    the `Received from` lines about that port that follow it (a `Received from` line
    belongs to the latest `Got ...` line about its port: a twistd service's TCP and UDP
    clients may have the same port number). Lines about a connection that began before
    `lines` are left out. The system reuses a closed connection's port, so a port alone
    does not name a connection: the caller knows which of them is its own."""
    found = []
    for line in lines:
        match = PEER_LINE.match(line)
        if not match or int(match.group(2)) != port:
            continue
        if match.group(1) != "Received from":
            found.append((match.group(1), [line]))
        elif found:
            found[-1][1].append(line)
    return [visit for got, visit in found if got == kind]


def wait_for_visits(server, since, port, done, kind="Got connection from"):
    """visits(the server's output after its first `since` lines, port, kind), once
    done(those visits) is true."""
    lines = server.wait_for(lambda ls: done(visits(ls[since:], port, kind)), timeout=10,
                            what=f"{kind} ('127.0.0.1', {port}) and what follows")
    return visits(lines[since:], port, kind)


@pytest.mark.parametrize("impl", IMPLS)
def test_ex1_tcp_server_prints_each_message(pool, impl):
    """ex1 over TCP prints `Got connection from` then `Received from (host, port): text` per line."""
    server = pool.get(impl, "ex1_message", "tcp")
    since = len(server.output())
    with harness.connect(server.ports["TCP"]) as sock:
        port = sock.getsockname()[1]
        for request, _ in cases.EX1_PRINTED:
            assert harness.tcp_request(sock, request, 16) == b"From SERVER TCP\n"
    expected = [f"Got connection from ('127.0.0.1', {port})"] + [
        f"Received from ('127.0.0.1', {port}): {text}" for _, text in cases.EX1_PRINTED]
    # The first connection from that port since the test began: its own (it was open
    # the whole time, so no other connection had that port meanwhile).
    got = wait_for_visits(server, since, port, lambda v: v and len(v[0]) >= len(expected))
    assert got[0] == expected


@pytest.mark.parametrize("impl", IMPLS)
def test_ex1_udp_server_prints_each_message(pool, impl):
    """ex1 over UDP prints `Got datagram from` then `Received from (host, port): text` per datagram."""
    server = pool.get(impl, "ex1_message", "udp")
    since = len(server.output())
    expected = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind((harness.HOST, 0))
        port = sock.getsockname()[1]
        for request, text in cases.EX1_PRINTED:
            sock.sendto(request, (harness.HOST, server.ports["UDP"]))
            assert sock.recvfrom(1 << 16)[0] == b"From SERVER UDP\n"
            expected.append([f"Got datagram from ('127.0.0.1', {port})",
                             f"Received from ('127.0.0.1', {port}): {text}"])
    # The datagrams from that port since the test began: its own (the socket was bound
    # the whole time). A twistd service's TCP clients may have had that port number too.
    n = len(expected)
    got = wait_for_visits(server, since, port, lambda v: len(v) >= n and len(v[n - 1]) >= 2,
                          kind="Got datagram from")
    assert got[:n] == expected


@pytest.mark.parametrize("transport", harness.TRANSPORTS)
@pytest.mark.parametrize("exercise", cases.EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_listening_line_names_the_real_port(pool, impl, exercise, transport):
    """The listening line is exactly `<TCP|UDP> server listening on 127.0.0.1 port N, Ctrl+C to stop`."""
    server = pool.get(impl, exercise, transport)
    kind = transport.upper()
    lines = [x for x in server.output() if re.match(r"(TCP|UDP) server listening", x)]
    port = server.ports[kind]
    assert f"{kind} server listening on 127.0.0.1 port {port}, Ctrl+C to stop" in lines
    if impl != "twistd":
        assert server.output()[0] == lines[0]
    assert port != 0 and port != cases.DEFAULT_PORTS[exercise]
    assert ("tcp" if transport == "tcp" else "udp", "0100007F") in [
        (t[:3], a) for t, a in harness.proc_net_listeners(transport, port)]
