"""Unit tests of the Twisted servers' protocols, without a network, in a few milliseconds.

In the style of Twisted's own test_basic.py: each protocol runs on an in-memory
transport (StringTransport for TCP, a list of sent datagrams for UDP) and a fake clock,
so every trap of the wire contract can be played byte by byte. The expectation rows
come from tests/cases.py, the same rows every real server is run against.
"""

import io

import pytest
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHalfCloseableProtocol, IPushProducer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.python import usage

from tests import cases
from twisted_impl import common, server, service
from twisted_impl.ex0_hello import tcpserver as ex0_tcp, udpserver as ex0_udp
from twisted_impl.ex1_message import tcpserver as ex1_tcp, udpserver as ex1_udp
from twisted_impl.ex2_sum import tcpserver as ex2_tcp, udpserver as ex2_udp
from twisted_impl.ex2_sum.tcpserver import add_line
from twisted_impl.ex3_password import tcpserver as ex3_tcp, udpserver as ex3_udp
from twisted_impl.ex3_password.tcpserver import valid_passwords
from twisted_impl.common import MAX_BARE, MAX_LINE, MAX_UNSENT, PAUSE, default_max_clients
from twisted_impl.server import LINGER, MAX_LINGERING, TURN, LineServer, LineServerFactory

TCP_SCRIPTS = {"ex1_message": ex1_tcp, "ex2_sum": ex2_tcp, "ex3_password": ex3_tcp}
UDP_SCRIPTS = {"ex1_message": ex1_udp, "ex2_sum": ex2_udp, "ex3_password": ex3_udp}
PEER = ("127.0.0.1", 48437)
TIMEOUT = 60
MAX_CLIENTS = 3


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


class FullTransport(TCPTransport):
    """A TCPTransport whose write buffer fills up, as Twisted's TCP transport's does: past
    `size` unsent bytes it pauses its producer, as FileDescriptor.write does."""

    def __init__(self, size):
        super().__init__()
        self.size = size

    def write(self, data):
        super().write(data)
        if len(self.value()) > self.size and self.producerState != "paused":
            self.producer.pauseProducing()

    def drain(self):
        """The client read everything: the transport resumes its producer."""
        self.clear()
        self.producer.resumeProducing()


def connect(protocol, transport=None):
    """Connect a line protocol to an in-memory transport and a fake clock."""
    clock = Clock()
    protocol.callLater = clock.callLater
    transport = transport if transport is not None else TCPTransport()
    protocol.makeConnection(transport)
    return transport, clock


def factory_of(handle, max_clients=MAX_CLIENTS):
    return LineServerFactory(handle, TIMEOUT, max_clients)


def exercise_server(exercise, transport=None):
    """The TCP protocol an exercise's tcpserver.py builds for one connection."""
    protocol = factory_of(TCP_SCRIPTS[exercise].Handle).buildProtocol(IPv4Address("TCP", *PEER))
    transport, clock = connect(protocol, transport)
    return protocol, transport, clock


def sum_server(transport=None):
    return exercise_server("ex2_sum", transport)


def bare(reply):
    """The reply to a request sent bare: without its "\n", unless the answer is empty."""
    return reply if reply == b"\n" else reply[:-1]


def without_line_ending(request):
    return request[:-2] if request.endswith(b"\r\n") else request[:-1]


class Upper(LineServer):
    """A line server answering in capitals, and with a bug for "boom"."""

    def lineReceived(self, line):
        if line == b"boom":
            raise ValueError("boom")
        self.send_reply(line.decode().upper())


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
    clock.advance(0)  # past TURN requests, the rest comes at the reactor's next turns
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
    """A row as one datagram gets the reply; without its line ending, the reply is bare."""
    transport = DatagramTransport()
    protocol = datagram_server(exercise, transport)
    protocol.datagramReceived(request_line, PEER)
    protocol.datagramReceived(without_line_ending(request_line), PEER)  # the slides' sendto
    assert transport.sent == [(reply, PEER), (bare(reply), PEER)]


def test_udp_lone_cr_is_data():
    """A datagram ending in "\r" without "\n" keeps its "\r": only "\r\n" goes."""
    transport = DatagramTransport()
    datagram_server("ex2_sum", transport).datagramReceived(b"3 4\r", PEER)
    assert transport.sent == [(bare(cases.ERR_SUM), PEER)]


@pytest.mark.parametrize("datagram, reply", [
    (b"3 4\n", b"7\n"), (b"3 4\r\n", b"7\n"), (b"3 4", b"7"), (b"3,4", b"7"), (b"3, 4\n", b"7\n")])
def test_udp_reply_ends_like_the_request(datagram, reply):
    """A UDP reply ends in "\n" exactly when the request did: the slides' `3 4` gets `7`."""
    transport = DatagramTransport()
    datagram_server("ex2_sum", transport).datagramReceived(datagram, PEER)
    assert transport.sent == [(reply, PEER)]


@pytest.mark.parametrize("datagram", [b"x", b"x\n"])
def test_udp_empty_answer_is_a_newline(datagram):
    """ex3's empty answer is sent as "\n" with or without a line ending: never zero bytes."""
    transport = DatagramTransport()
    datagram_server("ex3_password", transport).datagramReceived(datagram, PEER)
    assert transport.sent == [(b"\n", PEER)]


# ex0: no request at all.

def test_ex0_tcp_greets_and_closes(logged):
    """ex0's TCP server sends the greeting as soon as a client connects, then closes."""
    protocol = factory_of(ex0_tcp.Handle).buildProtocol(IPv4Address("TCP", *PEER))
    transport, clock = connect(protocol)
    assert transport.value() == cases.GREETING
    assert transport.disconnecting
    assert lines_of(logged) == ["Got connection from ('127.0.0.1', 48437)"]


@pytest.mark.parametrize("datagram, reply", [
    (b"", bare(cases.GREETING)), (b"hello\n", cases.GREETING), (b"hi", bare(cases.GREETING)),
    (b"x" * 10000, bare(cases.GREETING))], ids=["empty", "hello", "bare", "10kB"])
def test_ex0_udp_greets_any_datagram(datagram, reply):
    """ex0's UDP server answers any datagram, even an empty one, with the greeting."""
    transport = DatagramTransport()
    datagram_server("ex0_hello", transport).datagramReceived(datagram, PEER)
    assert transport.sent == [(reply, PEER)]


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
    protocol.readConnectionLost()  # and its end is no last request either
    assert transport.value() == cases.ERR_LONG


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
    protocol = factory_of(ex2_tcp.Handle).buildProtocol(None)
    transport, clock = connect(protocol, StringTransport())
    protocol.dataReceived(b"3 4\n" + b"1" * (MAX_LINE + 2))
    assert transport.value() == b"7\n" + cases.ERR_LONG
    assert transport.disconnecting


# An exception in answering one line.

def test_exception_keeps_earlier_replies(logged):
    """A bug answering one line keeps the earlier replies, then closes: no later reply."""
    protocol = factory_of(Upper).buildProtocol(None)
    transport, clock = connect(protocol)
    protocol.dataReceived(b"a\nb\nboom\nc\n")
    assert transport.value() == b"A\nB\n"
    assert transport.write_closed
    assert any(event.get("log_failure") is not None for event in logged)


# Half-close, timeout, back-pressure.

def test_half_close_keeps_replies():
    """A client that half-closes gets every reply; its unfinished last line is its last
    request, answered bare."""
    protocol, transport, clock = sum_server()
    assert IHalfCloseableProtocol.providedBy(protocol)
    protocol.dataReceived(b"3 4\n1 2\n5 5")
    protocol.readConnectionLost()
    assert transport.value() == b"7\n3\n10"
    assert transport.disconnecting
    assert transport.producer is None


@pytest.mark.parametrize("exercise, request_line, reply", tcp_rows())
def test_tcp_row_bare_then_half_close(exercise, request_line, reply):
    """Each row sent without its line ending, then a half-close, gets its reply bare."""
    protocol, transport, clock = exercise_server(exercise)
    request = without_line_ending(request_line)
    protocol.dataReceived(request)
    protocol.readConnectionLost()
    if not request:
        expected = b""  # nothing after the last "\n": no last request
    elif len(request) > MAX_LINE:
        expected = cases.ERR_LONG
    else:
        expected = bare(reply)
    assert transport.value() == expected
    assert transport.disconnecting or transport.write_closed


def test_half_close_with_nothing_pending_just_closes():
    """A half-close after a complete line sends nothing more: no empty last request."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"3 4\n")
    protocol.readConnectionLost()
    assert transport.value() == b"7\n" and transport.disconnecting


def test_idle_timeout_closes_quietly():
    """A connection that completes no request for --timeout seconds is closed quietly."""
    protocol, transport, clock = sum_server()
    clock.advance(TIMEOUT - 1)
    protocol.dataReceived(b"3 4\n")  # a complete request starts the count again
    clock.advance(TIMEOUT - 1)
    assert not transport.disconnecting
    clock.advance(1)
    assert transport.disconnecting
    assert transport.value() == b"7\n"


def test_trickle_does_not_hold_the_connection():
    """A byte a second without ever completing a request is closed after --timeout."""
    protocol, transport, clock = sum_server()
    for _ in range(TIMEOUT - 1):
        protocol.dataReceived(b"1")
        clock.advance(1)
    assert not transport.disconnecting
    clock.advance(1)
    assert transport.disconnecting and transport.value() == b""


def test_bare_message_resets_the_idle_timeout():
    """A bare message is a complete request: the idle count starts again after it."""
    protocol, transport, clock = sum_server()
    clock.advance(TIMEOUT - 1)
    protocol.dataReceived(b"3 4")
    clock.advance(PAUSE)
    assert transport.value() == b"7"
    clock.advance(TIMEOUT - 1 - PAUSE)
    assert not transport.disconnecting
    clock.advance(1 + PAUSE)
    assert transport.disconnecting


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


# Bare messages: the slides' one send() of a string, without "\n".

def timers(clock):
    return sorted(call.getTime() for call in clock.getDelayedCalls() if call.active())


def test_bare_message_answered_after_the_pause():
    """A read of 2 to MAX_BARE bytes without "\n", then PAUSE of silence: a bare reply."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"3 4")
    clock.advance(PAUSE - 0.01)
    assert transport.value() == b""
    clock.advance(0.01)
    assert transport.value() == b"7"
    assert not transport.disconnecting


def test_lines_arm_no_timer():
    """Lines that end in "\n" arm no timer: only the idle timeout is pending."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"3 4\n")
    protocol.dataReceived(b"1 1\n2 2\n3")
    protocol.dataReceived(b" 3\n")
    assert timers(clock) == [TIMEOUT]
    assert transport.value() == b"7\n2\n4\n6\n"


def test_one_byte_is_never_a_bare_message():
    """A single byte (telnet sends a key per packet) never ends a request, however slow."""
    protocol, transport, clock = sum_server()
    for byte in b"3 4":
        protocol.dataReceived(bytes([byte]))
        clock.advance(0.45)
    assert transport.value() == b""
    protocol.dataReceived(b"\r\n")
    assert transport.value() == b"7\n"


@pytest.mark.parametrize("size, bare_message", [(2, True), (MAX_BARE, True), (MAX_BARE + 1, False)])
def test_bare_message_sizes(size, bare_message):
    """2 to MAX_BARE bytes may be a bare message; a longer read is the start of a line."""
    protocol, transport, clock = exercise_server("ex3_password")
    protocol.dataReceived(b"a" * size)
    clock.advance(PAUSE)
    assert transport.value() == (b"\n" if bare_message else b"")


def test_more_bytes_within_the_pause_make_a_line():
    """Pieces of one line 150 ms apart stay one line: framed by "\n" as usual."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"3 ")
    clock.advance(0.15)
    protocol.dataReceived(b"4")
    clock.advance(0.15)
    protocol.dataReceived(b"00")  # no bare check again until the line completes
    clock.advance(10 * PAUSE)
    assert transport.value() == b""
    protocol.dataReceived(b"\n")
    assert transport.value() == b"403\n"
    assert timers(clock) == [10 * PAUSE + 0.3 + TIMEOUT]


def test_no_bare_check_with_a_line_pending():
    """A short read after the start of a line is not a bare message: the line goes on."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"3 4\n5")
    protocol.dataReceived(b" 6")
    clock.advance(PAUSE)
    assert transport.value() == b"7\n"
    protocol.dataReceived(b"\n")
    assert transport.value() == b"7\n11\n"


def test_long_first_segment_is_not_split():
    """A 1500-byte first segment and the rest 0.7 s later are one line."""
    protocol, transport, clock = exercise_server("ex3_password")
    protocol.dataReceived(b"Abc123@1," * 166 + b"x" * 6)
    clock.advance(0.7)
    protocol.dataReceived(b",Xyz789#2\n")
    assert transport.value() == b"Abc123@1," * 166 + b"Xyz789#2\n"


def test_several_bare_messages_on_one_connection():
    """A slide-style loop of send() and recv() on one connection: each bare, each answered."""
    protocol, transport, clock = sum_server()
    for request, reply in [(b"3 4", b"7"), (b"3,4", b"7"), (b"1 2", b"3")]:
        transport.clear()
        protocol.dataReceived(request)
        clock.advance(PAUSE)
        assert transport.value() == reply


def test_bare_then_lines():
    """After a bare message, lines are framed by "\n" again."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"3 4")
    clock.advance(PAUSE)
    protocol.dataReceived(b"1 1\n")
    assert transport.value() == b"72\n"


def test_empty_bare_answer_is_a_newline():
    """ex3's empty answer to a bare message is sent as "\n": zero bytes are no reply."""
    protocol, transport, clock = exercise_server("ex3_password")
    protocol.dataReceived(b"abc")
    clock.advance(PAUSE)
    assert transport.value() == b"\n"


def test_bare_trailing_cr_is_data():
    """A bare message's trailing "\r" is data, as any "\r" not before a "\n"."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"3 4\r")
    clock.advance(PAUSE)
    assert transport.value() == bare(cases.ERR_SUM)


def test_ex1_bare_message_printed_and_answered(logged):
    """The slides' Bài 1 client: "From CLIENT TCP" bare gets "From SERVER TCP" bare."""
    protocol, transport, clock = exercise_server("ex1_message")
    protocol.dataReceived(b"From CLIENT TCP")
    clock.advance(PAUSE)
    assert transport.value() == b"From SERVER TCP"
    assert lines_of(logged)[-1] == "Received from ('127.0.0.1', 48437): From CLIENT TCP"


def test_ex1_prints_control_characters_escaped(logged):
    """A client's escape sequences and "\r" are printed escaped, Vietnamese as it is."""
    protocol, transport, clock = exercise_server("ex1_message")
    protocol.dataReceived("\x1b[2J chào\r\u202e\n".encode())
    assert lines_of(logged)[-1] == "Received from ('127.0.0.1', 48437): \\x1b[2J chào\\r\\u202e"


def test_bug_in_a_bare_answer_hangs_up(logged):
    """An exception answering a bare message is logged and that client hung up on."""
    protocol = factory_of(Upper).buildProtocol(None)
    transport, clock = connect(protocol)
    protocol.dataReceived(b"boom")
    clock.advance(PAUSE)
    assert transport.value() == b"" and transport.write_closed
    assert any(event.get("log_failure") is not None for event in logged)


def test_bare_timer_cancelled_when_connection_lost():
    """A connection lost during the pause leaves no timer behind."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"3 4")
    protocol.connectionLost(None)
    assert timers(clock) == []


# Bounded unsent replies: a client that sends and never reads.

def test_paused_in_the_middle_of_a_chunk():
    """When the transport pauses us, parsing stops between two lines; the rest waits."""
    transport = FullTransport(size=100)
    protocol, transport, clock = sum_server(transport)
    protocol.dataReceived(b"3 4\n" * 1000)
    assert transport.producerState == "paused"
    assert transport.value() == b"7\n" * 51  # just past the transport's 100 bytes
    replies = b""
    while transport.producerState == "paused":
        replies += transport.value()
        transport.drain()
    replies += transport.value()
    assert replies == b"7\n" * 1000
    assert transport.producerState == "producing"


def test_own_unsent_bound_yields_to_the_reactor():
    """Past MAX_UNSENT bytes of replies to one chunk, the rest waits for the next turn."""
    protocol = factory_of(Upper).buildProtocol(None)
    transport, clock = connect(protocol)
    protocol.dataReceived((b"a" * 1999 + b"\n") * 50)
    assert len(transport.value()) == (MAX_UNSENT // 2000 + 1) * 2000 < TURN * 2000
    assert transport.producerState == "paused"  # no reading meanwhile either
    clock.advance(0)  # the reactor's next turns (a Clock runs them all at once)
    assert transport.value() == (b"A" * 1999 + b"\n") * 50
    assert transport.producerState == "producing"


def test_one_chunk_does_not_monopolise_the_reactor():
    """After TURN requests of one chunk, the other connections get their turn."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"\n" * 65536)  # 39 bytes of ERROR for each byte
    assert transport.value() == cases.ERR_SUM * TURN
    assert transport.producerState == "paused"
    clock.advance(0)
    assert transport.value() == cases.ERR_SUM * 65536
    assert transport.producerState == "producing"


def test_connection_lost_during_a_yield():
    """A connection lost while the rest of its chunk waits for a turn answers no more."""
    protocol, transport, clock = sum_server()
    protocol.dataReceived(b"3 4\n" * (TURN + 10))
    protocol.connectionLost(None)
    clock.advance(0)
    assert transport.value() == b"7\n" * TURN


def test_half_close_while_paused():
    """A half-close while replies wait: first the kept lines, then the bare last one."""
    transport = FullTransport(size=10)
    protocol, transport, clock = sum_server(transport)
    protocol.dataReceived(b"3 4\n" * 20 + b"5 5")
    protocol.readConnectionLost()
    assert not transport.disconnecting
    replies = b""
    while transport.producer is not None and transport.producerState == "paused":
        replies += transport.value()
        transport.drain()
    assert replies + transport.value() == b"7\n" * 20 + b"10"
    assert transport.disconnecting


def test_resume_after_hang_up_is_harmless():
    """A resume after the line-too-long hang-up answers nothing more."""
    transport = FullTransport(size=10)
    protocol, transport, clock = sum_server(transport)
    protocol.dataReceived(b"3 4\n" * 10 + b"1" * (MAX_LINE + 2) + b"\n")
    transport.drain()
    assert transport.value().endswith(cases.ERR_LONG) and transport.write_closed
    protocol.resumeProducing()
    assert transport.value().endswith(cases.ERR_LONG)


# --max-clients: a newcomer beyond the limit is told so.

def test_busy_newcomer_told_and_closed(logged):
    """Beyond max_clients, a newcomer gets the busy ERROR line and our FIN at once."""
    factory = factory_of(ex2_tcp.Handle, max_clients=2)
    first = [connect(factory.buildProtocol(None)) for _ in range(2)]
    busy = factory.buildProtocol(None)
    transport, clock = connect(busy)
    assert transport.value() == b"ERROR server busy (max 2 clients)\n"
    assert transport.write_closed
    assert lines_of(logged)[-1] == "Server busy: 2 clients connected, new clients are turned away"
    busy.readConnectionLost()  # the client read it and closed: so do we
    assert transport.disconnecting
    assert all(not t.value() for t, _ in first)


def test_busy_lingers_then_aborts():
    """A turned-away client that never closes is cut off LINGER seconds later."""
    factory = factory_of(ex2_tcp.Handle, max_clients=1)
    connect(factory.buildProtocol(None))
    busy = factory.buildProtocol(None)
    transport, clock = connect(busy)
    clock.advance(LINGER)
    assert transport.disconnected
    busy.connectionLost(None)
    assert timers(clock) == []


def test_crowd_of_newcomers_closed_at_once():
    """Past MAX_LINGERING turned-away clients lingering, the next ones are closed at once
    (each lingering one holds an open file)."""
    factory = factory_of(ex2_tcp.Handle, max_clients=1)
    connect(factory.buildProtocol(None))
    lingering = [connect(factory.buildProtocol(None))[0] for _ in range(MAX_LINGERING)]
    crowd = factory.buildProtocol(None)
    transport, clock = connect(crowd)
    assert transport.value() == b"ERROR server busy (max 1 clients)\n"
    assert transport.disconnecting and not transport.write_closed
    assert all(t.write_closed and not t.disconnecting for t in lingering)
    crowd.connectionLost(None)
    assert factory.lingering == MAX_LINGERING


def test_one_busy_line_per_spell(logged):
    """One printed line per busy spell; a spell ends when a client is accepted again."""
    factory = factory_of(ex2_tcp.Handle, max_clients=1)
    protocol = factory.buildProtocol(None)
    connect(protocol)
    for _ in range(5):
        connect(factory.buildProtocol(None))
    protocol.connectionLost(None)  # a client leaves: the next one is served
    served = factory.buildProtocol(None)
    transport, clock = connect(served)
    served.dataReceived(b"3 4\n")
    assert transport.value() == b"7\n"
    connect(factory.buildProtocol(None))
    busy_lines = [line for line in lines_of(logged) if line.startswith("Server busy")]
    assert busy_lines == ["Server busy: 1 clients connected, new clients are turned away"] * 2


# Options: the scripts' validators, the same words under twistd.

@pytest.mark.parametrize("argv, error", [
    (["--timeout", "inf"], "argument --timeout: not a positive number of seconds: 'inf'"),
    (["--timeout", "nan"], "argument --timeout: not a positive number of seconds: 'nan'"),
    (["--timeout", "0"], "argument --timeout: not a positive number of seconds: '0'"),
    (["--port", "abc"], "argument --port: not a port number (0 to 65535): 'abc'"),
    (["--port", "65536"], "argument --port: not a port number (0 to 65535): '65536'"),
    (["--max-clients", "abc"], "argument --max-clients: not a positive whole number: 'abc'"),
    (["--max-clients", "0"], "argument --max-clients: not a positive whole number: '0'"),
])
def test_script_options_refused(capsys, argv, error):
    """A bad option value is one argparse error, worded as basic's scripts word it."""
    with pytest.raises(SystemExit) as exit:
        common.server_args("TCP", "x", 8091, argv)
    assert exit.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(error)


def test_script_options_defaults():
    """TCP servers take --timeout and --max-clients; UDP servers neither."""
    args = common.server_args("TCP", "x", 8091, [])
    assert (args.timeout, args.max_clients) == (TIMEOUT, default_max_clients())
    args = common.server_args("UDP", "x", 8091, [])
    assert not hasattr(args, "timeout") and not hasattr(args, "max_clients")
    with pytest.raises(SystemExit):
        common.server_args("UDP", "x", 8091, ["--timeout", "5"])


@pytest.mark.parametrize("argv, error", [
    (["--timeout", "inf"], "--timeout: not a positive number of seconds: 'inf'"),
    (["--timeout", "-1"], "--timeout: not a positive number of seconds: '-1'"),
    (["--port", "99999"], "--port: not a port number (0 to 65535): '99999'"),
    (["--port", "abc"], "--port: not a port number (0 to 65535): 'abc'"),
    (["--max-clients", "0"], "--max-clients: not a positive whole number: '0'"),
])
def test_twistd_options_refused(argv, error):
    """twistd's options refuse what the scripts refuse, in the same words."""
    with pytest.raises(usage.UsageError) as refused:
        service.ex2_sum.Options().parseOptions(argv)
    assert str(refused.value) == error


def test_twistd_max_clients_option():
    """--max-clients reaches the TCP factory; its default is the scripts' default."""
    options = service.ex2_sum.Options()
    options.parseOptions(["--max-clients", "7", "--timeout", "2.5"])
    assert (options["max-clients"], options["timeout"]) == (7, 2.5)
    assert service.ex2_sum.Options()["max-clients"] == default_max_clients()


def test_twistd_start_up_failure_is_one_line(capfd):
    """A --listen that cannot be opened (port 99999) is one line and status 1."""
    options = service.ex2_sum.Options()
    options.parseOptions(["--port", "0", "--listen", "tcp:99999:interface=127.0.0.1"])
    top = service.ex2_sum.makeService(options)
    with pytest.raises(SystemExit) as exit:
        top.privilegedStartService()
    assert exit.value.code == 1
    assert str(exit.value) == ("error: cannot listen on tcp:99999:interface=127.0.0.1: "
                               "bind(): port must be 0-65535.")
    assert capfd.readouterr().err == str(exit.value) + "\n"


# Output that goes away.

class GoneStream(io.StringIO):
    """A standard stream whose reader went away (a closed pipe, `| head -1`)."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("gone", [GoneStream, "closed"])
def test_print_event_survives_output_gone(monkeypatch, gone):
    """With standard output or error gone, the lines are dropped and the server goes on."""
    for name in ("stdout", "stderr"):
        stream = io.StringIO() if gone == "closed" else gone()
        if gone == "closed":
            stream.close()
        monkeypatch.setattr("sys." + name, stream)
    server.print_event({"log_namespace": "twisted_impl.server", "log_level": None,
                       "log_format": "Got connection from {peer!r}", "peer": PEER})
    server.print_event({"log_namespace": "twisted_impl.server",
                       "log_level": LogLevel.error, "log_format": "bad"})


# What the servers log (printed as is by the scripts).

def test_tcp_logs_connection(logged):
    """A TCP connection is logged as the lecture prints it, for IPv6 too."""
    sum_server()
    connect(factory_of(ex2_tcp.Handle).buildProtocol(None),
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
    assert protocol.transport.sent == [(b"From SERVER UDP", ("::1", 40000, 0, 0))]


def test_other_udp_servers_do_not_print_messages(logged):
    """ex2's UDP server logs the datagram's sender only."""
    datagram_server("ex2_sum").datagramReceived(b"3 4", PEER)
    assert lines_of(logged) == ["Got datagram from ('127.0.0.1', 48437)"]


def test_udp_long_datagram():
    """A 10 kB datagram is answered like any other (and the port reads 65536 bytes)."""
    transport = DatagramTransport()
    datagram_server("ex3_password", transport).datagramReceived(b"Abc123@1," * 1111, PEER)
    assert transport.sent == [((b"Abc123@1," * 1111)[:-1], PEER)]
    assert server.MAX_DATAGRAM >= cases.MAX_DATAGRAM


def test_udp_send_error_is_survived(logged):
    """A failed send loses that reply only: the server logs it and goes on."""
    protocol = datagram_server("ex2_sum", DatagramTransport(fail=True))
    protocol.datagramReceived(b"3 4", PEER)
    protocol.transport.fail = False
    protocol.datagramReceived(b"1 1\n", PEER)
    assert protocol.transport.sent == [(b"2\n", PEER)]


def test_print_event_prints_only_our_lines(capsys):
    """The scripts' observer prints our messages as bare lines, and no Twisted chatter."""
    server.print_event({"log_namespace": "twisted_impl.server", "log_level": None,
                       "log_format": "Got connection from {peer!r}", "peer": PEER})
    server.print_event({"log_namespace": "twisted.internet.base", "log_level": None,
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
    assert kinds == ["AnnouncedTCPServer"] * 2 + ["AnnouncedUDPServer"]
    assert service.ex0_hello.Options()["port"] == 12345


def test_twistd_refuses_bad_listen():
    """A --listen that is no endpoint string is a usage error, not a traceback."""
    with pytest.raises(usage.UsageError):
        service.ex1_message.Options().parseOptions(["--listen", "nonsense:1"])
