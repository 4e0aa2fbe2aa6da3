"""Classroom mode (issue 18), the Twisted side's own pieces: the option and its default,
the factory's admission in memory, and twistd's default, which follows where each of its
endpoints listens. The behaviour every implementation shares (the cap on real
connections, the address lines in a private network namespace) is tests/test_classroom.py's.
"""

import pytest
from twisted.internet.address import IPv4Address

from tests import harness
from tests.test_classroom import from_address
from tests.test_twisted_units import TCPTransport, connect
from twisted_impl import common, server as twisted_server
from twisted_impl.ex2_sum import tcpserver as ex2_tcp


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


def ask(sock, line=b"3 4\n", reply=b"7\n"):
    sock.sendall(line)
    assert harness.read_exactly(sock, len(reply)) == reply


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
        with from_address(port, "127.0.0.2") as held:
            ask(held)
            with from_address(port, "127.0.0.2") as sock:
                assert harness.read_until_eof(sock) == too_many(1)
            with from_address(port, "127.0.0.3") as sock:
                ask(sock)
    finally:
        server.stop()
