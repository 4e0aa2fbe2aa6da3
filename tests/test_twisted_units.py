"""Unit tests of the Twisted servers' protocols, without a network, in a few milliseconds.

In the style of Twisted's own test_basic.py: each protocol runs on an in-memory
transport (StringTransport for TCP, a list of sent datagrams for UDP) and a fake clock,
so every trap of the wire contract can be played byte by byte. The expectation rows
come from tests/cases.py, the same rows every real server is run against.
"""

import pytest
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHalfCloseableProtocol, IPushProducer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python import usage

from tests import cases
from twisted_impl import serve, service
from twisted_impl.ex0_hello import tcpserver as ex0_tcp, udpserver as ex0_udp
from twisted_impl.ex1_message import tcpserver as ex1_tcp, udpserver as ex1_udp
from twisted_impl.ex2_sum import tcpserver as ex2_tcp, udpserver as ex2_udp
from twisted_impl.ex2_sum.logic import add_line
from twisted_impl.ex3_password import tcpserver as ex3_tcp, udpserver as ex3_udp
from twisted_impl.ex3_password.logic import valid_passwords
from twisted_impl.lineserver import LINGER, MAX_LINE, LineServer

TCP_SCRIPTS = {"ex1_message": ex1_tcp, "ex2_sum": ex2_tcp, "ex3_password": ex3_tcp}
UDP_SCRIPTS = {"ex1_message": ex1_udp, "ex2_sum": ex2_udp, "ex3_password": ex3_udp}
PEER = ("127.0.0.1", 48437)
TIMEOUT = 60


class TCPTransport(StringTransport):
    """A StringTransport that can also half-close, as a real TCP transport can."""

    write_closed = False

    def __init__(self, peer=IPv4Address("TCP", *PEER)):
        super().__init__(peerAddress=peer)

    def loseWriteConnection(self):
        self.write_closed = True


class DatagramTransport:
    """The part of a UDP port that a DatagramProtocol uses: it records what is sent."""

    def __init__(self, fail=False):
        self.sent = []
        self.fail = fail

    def write(self, datagram, address):
        if self.fail:
            raise OSError(11, "Resource temporarily unavailable")
        self.sent.append((datagram, address))


def connect(protocol, transport=None):
    """Connect a line protocol to an in-memory transport and a fake clock."""
    clock = Clock()
    protocol.callLater = clock.callLater
    transport = transport if transport is not None else TCPTransport()
    protocol.makeConnection(transport)
    return transport, clock


def exercise_server(exercise, transport=None):
    """The TCP protocol an exercise's tcpserver.py builds for one connection."""
    protocol = TCP_SCRIPTS[exercise].make_factory(TIMEOUT).buildProtocol(IPv4Address("TCP", *PEER))
    transport, clock = connect(protocol, transport)
    return protocol, transport, clock


def sum_server():
    return exercise_server("ex2_sum")


def datagram_server(exercise, transport=None):
    protocol = UDP_SCRIPTS[exercise].make_protocol() if exercise in UDP_SCRIPTS \
        else ex0_udp.make_protocol()
    protocol.makeConnection(transport if transport is not None else DatagramTransport())
    return protocol


@pytest.fixture
def logged():
    """The lines our servers log during one test, as they would be printed."""
    events = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


def lines_of(events):
    return [formatEvent(event) for event in events
            if event.get("log_namespace", "").startswith("twisted_impl")]


def tcp_rows():
    return [pytest.param(ex, req, rep, id="{}-{}".format(ex, i))
            for ex in TCP_SCRIPTS for i, (req, rep) in enumerate(cases.rows(ex, "tcp"))]


def udp_rows():
    return [pytest.param(ex, req, rep, id="{}-{}".format(ex, i))
            for ex in UDP_SCRIPTS for i, (req, rep) in enumerate(cases.rows(ex, "udp"))]


# The exercise logic, alone.

def numbered(rows):
    return [pytest.param(*row, id=str(i)) for i, row in enumerate(rows)]


@pytest.mark.parametrize("request_line, reply", numbered(cases.rows("ex2_sum")))
def test_add_line(request_line, reply):
    """add_line gives each row's reply text for the row's decoded line."""
    assert (add_line(cases.line_text(request_line)) + "\n").encode() == reply


@pytest.mark.parametrize("request_line, reply", numbered(cases.rows("ex3_password")))
def test_valid_passwords(request_line, reply):
    """valid_passwords gives each row's reply text for the row's decoded line."""
    assert (valid_passwords(cases.line_text(request_line)) + "\n").encode() == reply


# Every row, over TCP and UDP, through the protocols the scripts build.

@pytest.mark.parametrize("exercise, request_line, reply", tcp_rows())
def test_tcp_row(exercise, request_line, reply):
    """Each request line gets exactly its reply line, and the connection stays open."""
    protocol, transport, clock = exercise_server(exercise)
    protocol.dataReceived(request_line)
    assert transport.value() == reply
    assert not transport.disconnecting


@pytest.mark.parametrize("exercise", sorted(TCP_SCRIPTS))
def test_many_lines_in_one_call(exercise):
    """All the rows sent in one chunk get all the replies, in order."""
    protocol, transport, clock = exercise_server(exercise)
    rows = cases.rows(exercise, "tcp")
    protocol.dataReceived(b"".join(request for request, _ in rows))
    assert transport.value() == b"".join(reply for _, reply in rows)


@pytest.mark.parametrize("exercise", sorted(TCP_SCRIPTS))
def test_one_byte_per_call(exercise):
    """The rows sent one byte at a time get the same replies as whole lines."""
    protocol, transport, clock = exercise_server(exercise)
    rows = [row for row in cases.rows(exercise, "tcp") if len(row[0]) < 200]
    for byte in b"".join(request for request, _ in rows):
        protocol.dataReceived(bytes([byte]))
    assert transport.value() == b"".join(reply for _, reply in rows)


@pytest.mark.parametrize("exercise, request_line, reply", udp_rows())
def test_udp_row(exercise, request_line, reply):
    """A row as one datagram, with its line ending or without, gets the reply datagram."""
    transport = DatagramTransport()
    protocol = datagram_server(exercise, transport)
    protocol.datagramReceived(request_line, PEER)
    without_ending = request_line[:-2] if request_line.endswith(b"\r\n") else request_line[:-1]
    protocol.datagramReceived(without_ending, PEER)  # what our UDP clients send
    assert transport.sent == [(reply, PEER), (reply, PEER)]


def test_udp_lone_cr_is_data():
    """A datagram ending in "\r" without "\n" keeps its "\r": only "\r\n" goes."""
    transport = DatagramTransport()
    datagram_server("ex2_sum", transport).datagramReceived(b"3 4\r", PEER)
    assert transport.sent == [(cases.ERR_SUM, PEER)]


# ex0: no request at all.

def test_ex0_tcp_greets_and_closes(logged):
    """ex0's TCP server sends the greeting as soon as a client connects, then closes."""
    protocol = ex0_tcp.make_factory(TIMEOUT).buildProtocol(IPv4Address("TCP", *PEER))
    transport = TCPTransport()
    protocol.makeConnection(transport)
    assert transport.value() == cases.GREETING
    assert transport.disconnecting
    assert lines_of(logged) == ["Got connection from ('127.0.0.1', 48437)"]


@pytest.mark.parametrize("datagram", [b"", b"hello\n", b"x" * 10000], ids=["empty", "hello", "10kB"])
def test_ex0_udp_greets_any_datagram(datagram):
    """ex0's UDP server answers any datagram, even an empty one, with the greeting."""
    transport = DatagramTransport()
    datagram_server("ex0_hello", transport).datagramReceived(datagram, PEER)
    assert transport.sent == [(cases.GREETING, PEER)]


# Framing: only "\n" frames, one "\r" before it is removed.

def test_bare_cr_is_data():
    """A "\\r" that is not right before the "\\n" neither ends a line nor is removed."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"3 4\r5 6")
    assert transport.value() == b""
    protocol.dataReceived(b"\n")
    assert transport.value() == cases.ERR_SUM


def test_crlf_split_between_calls():
    """A "\\r\\n" split across two chunks still ends one line, with the "\\r" removed."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"3 4\r")
    protocol.dataReceived(b"\n1 1\n")
    assert transport.value() == b"7\n2\n"


# The line length limit.

def test_longest_line_is_answered():
    """A line of exactly 65536 bytes is answered, with "\\n" or "\\r\\n" after it."""
    protocol, transport, clock = sum_server()
    line = b"1" * (MAX_LINE - 2) + b" 1"
    protocol.dataReceived(line + b"\n" + line + b"\r\n")
    assert transport.value() == cases.ERR_DIGITS * 2
    assert not transport.disconnecting and not transport.write_closed


def test_line_too_long_after_earlier_replies():
    """65537 bytes get the ERROR after the replies to earlier lines, then a hang-up."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"3 4\n" + b"1" * (MAX_LINE + 1) + b"\n1 1\n")
    assert transport.value() == b"7\n" + cases.ERR_LONG
    assert transport.write_closed  # our FIN goes once the replies are out
    assert transport.producer is None  # so that a paused producer cannot stall the close


def test_only_one_cr_is_free():
    """65536 bytes and "\\r\\r\\n" is too long: only one "\\r" is not counted."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"1" * MAX_LINE + b"\r\r\n")
    assert transport.value() == cases.ERR_LONG


def test_too_long_decided_without_newline():
    """65538 bytes without a "\\n" are too long at once: the rest is never buffered."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"1" * (MAX_LINE + 1))  # could still be 65536 bytes and "\r"
    assert transport.value() == b""
    protocol.dataReceived(b"1")
    assert transport.value() == cases.ERR_LONG
    protocol.dataReceived(b"1" * 100000 + b"\n3 4\n")  # the client goes on: ignored
    assert transport.value() == cases.ERR_LONG
    assert len(protocol._buffer) == 0 and not protocol._pieces


def test_too_long_one_byte_per_call():
    """A long line arriving a byte at a time is refused after 65538 bytes, quickly."""
    protocol, transport, clock = sum_server()
    for _ in range(MAX_LINE + 2):
        protocol.dataReceived(b"7")
    assert transport.value() == cases.ERR_LONG


def test_hang_up_lingers_then_aborts():
    """After the hang-up's FIN, a client that neither closes nor stops is cut off."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"1" * (MAX_LINE + 2))
    protocol.writeConnectionLost()  # the transport sent our FIN
    clock.advance(LINGER - 0.1)
    assert not transport.disconnected
    clock.advance(0.1)
    assert transport.disconnected  # StringTransport's mark of abortConnection()


def test_hang_up_without_half_close():
    """On a transport that cannot half-close (TLS), the hang-up is a plain close."""
    protocol = ex2_tcp.make_factory(TIMEOUT).buildProtocol(None)
    transport, clock = connect(protocol, StringTransport())
    protocol.dataReceived(b"3 4\n" + b"1" * (MAX_LINE + 2))
    assert transport.value() == b"7\n" + cases.ERR_LONG
    assert transport.disconnecting


# An exception in answering one line.

def test_exception_keeps_earlier_replies(logged):
    """A bug answering one line keeps the earlier replies, then closes: no later reply."""
    def answer(text):
        if text == "boom":
            raise ValueError("boom")
        return text.upper()

    protocol = LineServer(answer, TIMEOUT)
    transport, clock = connect(protocol)
    protocol.dataReceived(b"a\nb\nboom\nc\n")
    assert transport.value() == b"A\nB\n"
    assert transport.write_closed
    assert any(event.get("log_failure") is not None for event in logged)


# Half-close, timeout, back-pressure.

def test_half_close_keeps_replies():
    """A client that half-closes gets every reply; its unfinished last line is dropped."""
    protocol, transport, clock = sum_server()
    assert IHalfCloseableProtocol.providedBy(protocol)
    protocol.dataReceived(b"3 4\n1 2\n5 5")
    protocol.readConnectionLost()
    assert transport.value() == b"7\n3\n"
    assert transport.disconnecting
    assert transport.producer is None


def test_idle_timeout_closes_quietly():
    """A connection silent for --timeout seconds is closed without a word."""
    protocol, transport, clock = sum_server()
    clock.advance(TIMEOUT - 1)
    protocol.dataReceived(b"3")  # any data resets the clock, even half a line
    clock.advance(TIMEOUT - 1)
    assert not transport.disconnecting
    clock.advance(1)
    assert transport.disconnecting
    assert transport.value() == b""


def test_timeout_then_abort_if_stuck():
    """A connection still not gone one more timeout after closing is aborted."""
    protocol, transport, clock = sum_server()
    clock.advance(TIMEOUT)
    assert transport.disconnecting and not transport.disconnected
    clock.advance(TIMEOUT)
    assert transport.disconnected


def test_timeout_stops_when_connection_lost():
    """A lost connection leaves no timer behind."""
    protocol, transport, clock = sum_server()
    protocol.connectionLost(None)
    assert clock.getDelayedCalls() == []


def test_registered_as_streaming_producer():
    """Each connection registers itself as a push producer on its transport."""
    protocol, transport, clock = sum_server()
    assert transport.producer is protocol and transport.streaming
    assert IPushProducer.providedBy(protocol)


def test_back_pressure_pauses_reading():
    """A full write buffer pauses reading from the client; a drained one resumes it."""
    protocol, transport, clock = sum_server()
    protocol.pauseProducing()  # what the transport calls when its buffer is full
    assert transport.producerState == "paused"
    protocol.resumeProducing()
    assert transport.producerState == "producing"


# What the servers log (printed as is by the scripts).

def test_tcp_logs_connection(logged):
    """A TCP connection is logged as the lecture prints it, for IPv6 too."""
    sum_server()
    connect(ex2_tcp.make_factory(TIMEOUT).buildProtocol(None),
            TCPTransport(IPv6Address("TCP", "::1", 40000)))
    assert lines_of(logged) == ["Got connection from ('127.0.0.1', 48437)",
                                "Got connection from ('::1', 40000)"]


@pytest.mark.parametrize("request_line, text", numbered(cases.EX1_PRINTED))
def test_ex1_tcp_prints_messages(logged, request_line, text):
    """ex1's TCP server logs each message, decoded, without its line ending."""
    protocol, transport, clock = exercise_server("ex1_message")
    protocol.dataReceived(request_line)
    assert lines_of(logged)[-1] == "Received from ('127.0.0.1', 48437): " + text


def test_ex1_udp_prints_datagrams(logged):
    """ex1's UDP server logs each datagram and its message; IPv6 peers as (host, port)."""
    protocol = datagram_server("ex1_message")
    protocol.datagramReceived(b"From CLIENT UDP", ("::1", 40000, 0, 0))
    assert lines_of(logged) == ["Got datagram from ('::1', 40000)",
                                "Received from ('::1', 40000): From CLIENT UDP"]
    assert protocol.transport.sent == [(b"From SERVER UDP\n", ("::1", 40000, 0, 0))]


def test_other_udp_servers_do_not_print_messages(logged):
    """ex2's UDP server logs the datagram's sender only."""
    datagram_server("ex2_sum").datagramReceived(b"3 4", PEER)
    assert lines_of(logged) == ["Got datagram from ('127.0.0.1', 48437)"]


def test_udp_long_datagram():
    """A 10 kB datagram is answered like any other (and the port reads 65536 bytes)."""
    transport = DatagramTransport()
    datagram_server("ex3_password", transport).datagramReceived(b"Abc123@1," * 1111, PEER)
    assert transport.sent == [((b"Abc123@1," * 1111)[:-1] + b"\n", PEER)]
    assert serve.MAX_DATAGRAM >= cases.MAX_DATAGRAM


def test_udp_send_error_is_survived(logged):
    """A failed send loses that reply only: the server logs it and goes on."""
    protocol = datagram_server("ex2_sum", DatagramTransport(fail=True))
    protocol.datagramReceived(b"3 4", PEER)
    protocol.transport.fail = False
    protocol.datagramReceived(b"1 1", PEER)
    assert protocol.transport.sent == [(b"2\n", PEER)]


def test_print_event_prints_only_our_lines(capsys):
    """The scripts' observer prints our messages as bare lines, and no Twisted chatter."""
    serve.print_event({"log_namespace": "twisted_impl.lineserver", "log_level": None,
                       "log_format": "Got connection from {peer!r}", "peer": PEER})
    serve.print_event({"log_namespace": "twisted.internet.base", "log_level": None,
                       "log_format": "Received SIGINT, shutting down."})
    assert capsys.readouterr().out == "Got connection from ('127.0.0.1', 48437)\n"


# twistd.

def test_twistd_options_and_service():
    """A twistd service runs one TCP listener per --listen and one UDP server."""
    options = service.ex2_sum.Options()
    options.parseOptions(["--port", "0", "--listen", "tcp:0", "--listen", "unix:/tmp/x.sock"])
    assert options["port"] == 0 and options["timeout"] == TIMEOUT
    top = service.ex2_sum.makeService(options)
    kinds = [type(child).__name__ for child in top]
    assert kinds == ["StreamServerEndpointService"] * 2 + ["AnnouncedUDPServer"]
    assert service.ex0_hello.Options()["port"] == 12345


def test_twistd_refuses_bad_listen():
    """A --listen that is no endpoint string is a usage error, not a traceback."""
    with pytest.raises(usage.UsageError):
        service.ex1_message.Options().parseOptions(["--listen", "nonsense:1"])
