"""Unit tests of the Twisted clients' runner (twisted_impl/client.py, and the command line
and reply printing of twisted_impl/common.py), without a network.

In the style of Twisted's own test_basic.py: the TCP line protocol runs on a
StringTransport, and the pauses, timeouts and UDP retries on a fake reactor whose clock
the test turns, so every one is played in no time. What the clients print is checked
byte for byte against the lines the README gives (and basic/'s clients print). Only the
modules' public names are used.
"""

import argparse
import errno
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from twisted_impl import client, common
from twisted_impl.ex0_hello import tcpclient as ex0_tcp, udpclient as ex0_udp
from twisted_impl.ex1_message import tcpclient as ex1_tcp, udpclient as ex1_udp
from twisted_impl.ex2_sum import tcpclient as ex2_tcp, udpclient as ex2_udp
from twisted_impl.ex3_password import tcpclient as ex3_tcp, udpclient as ex3_udp
from twisted_impl.common import PAUSE

HOST, PORT = "127.0.0.1", 8091
SERVER = (HOST, PORT)


def run(coroutine):
    """Start a coroutine as a Deferred, the way task.react runs a client."""
    return Deferred.fromCoroutine(coroutine)


def result_of(deferred):
    """The result a Deferred already has; a Failure is raised."""
    results = []
    deferred.addBoth(results.append)
    assert results, "the Deferred has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


def error_line(deferred):
    """The message of the ClientError a Deferred already failed with."""
    with pytest.raises(common.ClientError) as caught:
        result_of(deferred)
    return str(caught.value)


def line_client(clock=None):
    """A LineClient connected to an in-memory transport, timing its pauses on clock."""
    protocol = client.LineClient(Clock() if clock is None else clock)
    protocol.makeConnection(StringTransport())
    return protocol


def args(host=HOST, port=PORT, timeout=5.0, requests=None):
    """The parsed command line a session gets."""
    return argparse.Namespace(host=host, port=port, timeout=timeout, requests=requests)


# The command line.


@pytest.mark.parametrize("script", [ex0_tcp, ex0_udp, ex1_tcp, ex1_udp, ex2_tcp, ex2_udp,
                                    ex3_tcp, ex3_udp])
def test_defaults(script):
    """Every client defaults to 127.0.0.1, its exercise's port and 5 seconds."""
    parsed = script.parse_args([])
    assert (parsed.host, parsed.port, parsed.timeout) == ("127.0.0.1", script.PORT, 5)


def test_ports():
    """The default ports are the lecture's."""
    assert [ex0_tcp.PORT, ex1_tcp.PORT, ex2_tcp.PORT, ex3_tcp.PORT] == [12345, 8090, 8091, 8092]
    assert [ex0_udp.PORT, ex1_udp.PORT, ex2_udp.PORT, ex3_udp.PORT] == [12345, 8090, 8091, 8092]


def test_requests_from_arguments():
    """Arguments become the request bytes: ex0 UDP an empty datagram, ex1 its default."""
    assert ex0_udp.parse_args([]).requests == [b""]
    assert ex1_tcp.parse_args([]).requests == [b"From CLIENT TCP"]
    assert ex1_udp.parse_args([]).requests == [b"From CLIENT UDP"]
    assert ex1_tcp.parse_args(["Xin chào"]).requests == ["Xin chào".encode()]
    assert ex2_tcp.parse_args(["3", "4"]).requests == [b"3 4"]
    assert ex3_udp.parse_args(["Abc123@1,x"]).requests == [b"Abc123@1,x"]


def test_no_arguments_means_standard_input():
    """Without arguments ex2 and ex3 read their requests from standard input."""
    assert ex2_tcp.parse_args([]).requests is None
    assert ex2_udp.parse_args(["--port", "0"]).requests is None
    assert ex3_tcp.parse_args([]).requests is None


def test_negative_numbers_are_arguments():
    """-5 12 is two integers to send, not an option."""
    assert ex2_tcp.parse_args(["-5", "12"]).requests == [b"-5 12"]
    assert ex2_udp.parse_args(["--timeout", "0.5", "-5", "-12"]).requests == [b"-5 -12"]


def test_any_text_is_sent_as_is():
    """The server judges the input: the client sends even bytes that are not UTF-8."""
    assert ex2_tcp.parse_args(["three", os.fsdecode(b"\xff")]).requests == [b"three \xff"]


@pytest.mark.parametrize("argv, message", [
    (["3"], "give both A and B, or neither (to read lines from standard input)"),
    (["3\n4", "5"], "A must be a single line"),
    (["3", "4\r"], "B must be a single line"),
    (["--timeout", "0", "3", "4"], "argument --timeout: not a positive number of seconds: '0'"),
    (["--port", "65536"], "argument --port: not a port number (0 to 65535): '65536'"),
])
def test_wrong_arguments(argv, message, capsys):
    """Wrong arguments get the usage message and exit status 2."""
    with pytest.raises(SystemExit) as caught:
        ex2_tcp.parse_args(argv)
    assert caught.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: {message}\n")


@pytest.mark.parametrize("script, name", [(ex1_tcp, "MESSAGE"), (ex1_udp, "MESSAGE"),
                                          (ex3_tcp, "PASSWORDS"), (ex3_udp, "PASSWORDS")])
def test_line_break_refused(script, name, capsys):
    """An argument holding a line break is refused with exit status 2."""
    with pytest.raises(SystemExit) as caught:
        script.parse_args(["a\nb"])
    assert caught.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: {name} must be a single line\n")


# TCP: the line protocol.


def test_request_is_one_line():
    """A request goes out as its bytes and one b"\\n"."""
    protocol = line_client()
    protocol.ask(b"3 4")
    assert protocol.transport.value() == b"3 4\n"


def test_reply_without_its_newline():
    """The reply line is handed out without its b"\\n"."""
    protocol = line_client()
    reply = protocol.ask(b"3 4")
    protocol.dataReceived(b"7\n")
    assert result_of(reply) == b"7"


def test_reply_in_pieces():
    """A reply that comes one byte at a time is one reply."""
    protocol = line_client()
    reply = protocol.ask(b"3 4")
    for byte in b"100000000000000000000\n":
        assert not reply.called
        protocol.dataReceived(bytes([byte]))
    assert result_of(reply) == b"100000000000000000000"


def test_two_replies_in_one_piece():
    """Bytes after a reply's b"\\n" are kept for the next reply."""
    protocol = line_client()
    first = protocol.ask(b"1 2")
    protocol.dataReceived(b"3\n7")
    assert result_of(first) == b"3"
    second = protocol.ask(b"3 4")
    assert not second.called
    protocol.dataReceived(b"\n")
    assert result_of(second) == b"7"


def test_only_newline_frames():
    """A \\r is data: only b"\\n" ends a reply line, and one "\\r" before it is not
    part of the reply (telnet-style servers end their lines with "\\r\\n")."""
    protocol = line_client()
    reply = protocol.ask(b"x")
    protocol.dataReceived(b"a\rb\r\n")
    assert result_of(reply) == b"a\rb"


def test_long_reply_line():
    """A reply line longer than LineReceiver's default limit (16 KB) comes whole."""
    protocol = line_client()
    reply = protocol.ask(b"x")
    protocol.dataReceived(b"1" * 100000)
    protocol.dataReceived(b"\n")
    assert result_of(reply) == b"1" * 100000
    assert protocol.transport.connected


def test_bare_reply_closed():
    """A bare reply ends when the server closes after sending it (the slides' server)."""
    protocol = line_client()
    reply = protocol.ask(b"From CLIENT TCP")
    protocol.dataReceived(b"From SERVER TCP")
    assert not reply.called
    protocol.connectionLost(Failure(error.ConnectionDone()))
    assert result_of(reply) == b"From SERVER TCP"


def test_bare_reply_paused():
    """A bare reply ends when the server then pauses PAUSE seconds, the connection open."""
    clock = Clock()
    protocol = line_client(clock)
    reply = protocol.ask(b"3 4")
    protocol.dataReceived(b"7")
    clock.advance(PAUSE - 0.01)
    assert not reply.called
    clock.advance(0.01)
    assert result_of(reply) == b"7"
    assert not clock.getDelayedCalls()


def test_bare_reply_pause_counts_from_the_last_byte():
    """Pieces of a reply less than PAUSE apart are one reply."""
    clock = Clock()
    protocol = line_client(clock)
    reply = protocol.ask(b"x")
    for piece in (b"Abc", b"123", b"@1"):
        protocol.dataReceived(piece)
        clock.advance(PAUSE - 0.01)
        assert not reply.called
    clock.advance(0.01)
    assert result_of(reply) == b"Abc123@1"


def test_no_timer_for_lines():
    """No timer is armed while replies end in b"\\n", nor while nothing has come."""
    clock = Clock()
    protocol = line_client(clock)
    reply = protocol.ask(b"3 4")
    assert not clock.getDelayedCalls()
    protocol.dataReceived(b"7\n")
    assert not clock.getDelayedCalls()
    assert result_of(reply) == b"7"
    reply = protocol.ask(b"1 2")
    protocol.dataReceived(b"3")  # the start of a line, or a bare reply: the pause decides
    assert len(clock.getDelayedCalls()) == 1
    protocol.dataReceived(b"\n")
    assert not clock.getDelayedCalls()
    assert result_of(reply) == b"3"


def test_no_timer_between_requests():
    """Bytes that come while no reply is awaited arm nothing; asking times their pause."""
    clock = Clock()
    protocol = line_client(clock)
    protocol.dataReceived(b"7")
    assert not clock.getDelayedCalls()
    clock.advance(10)
    reply = protocol.ask(b"3 4")
    clock.advance(PAUSE)
    assert result_of(reply) == b"7"


def test_several_bare_replies():
    """A server that keeps the connection and answers bare answers each request."""
    clock = Clock()
    protocol = line_client(clock)
    for request, answer in ((b"1 2", b"3"), (b"3 4", b"7"), (b"10 20", b"30")):
        reply = protocol.ask(request)
        protocol.dataReceived(answer)
        clock.advance(PAUSE)
        assert result_of(reply) == answer
    assert protocol.transport.value() == b"1 2\n3 4\n10 20\n"


def test_line_then_bare_in_one_piece():
    """A whole line and the start of the next reply in one piece: the pause ends the rest."""
    clock = Clock()
    protocol = line_client(clock)
    first = protocol.ask(b"1 2")
    protocol.dataReceived(b"3\n7")
    assert result_of(first) == b"3"
    second = protocol.ask(b"3 4")
    clock.advance(PAUSE)
    assert result_of(second) == b"7"


def test_closed_without_a_byte():
    """The server closing before sending a byte of the reply fails the reply."""
    protocol = line_client()
    reply = protocol.ask(b"3 4")
    protocol.connectionLost(Failure(error.ConnectionDone()))
    with pytest.raises(error.ConnectionDone):
        result_of(reply)


def test_reply_that_came_before_the_close():
    """A whole reply line, or a bare one, still counts after the server has closed."""
    protocol = line_client()
    protocol.dataReceived(b"7\n3")
    protocol.connectionLost(Failure(error.ConnectionDone()))
    assert result_of(protocol.ask(b"3 4")) == b"7"
    assert result_of(protocol.ask(b"1 2")) == b"3"
    with pytest.raises(error.ConnectionDone):
        result_of(protocol.ask(b"5 6"))


def test_greeting():
    """ex0: everything the server sends, handed out when it closes."""
    greeting = client.Greeting()
    greeting.makeConnection(StringTransport())
    greeting.dataReceived(b"Thank you ")
    greeting.dataReceived(b"for connecting\n")
    assert not greeting.closed.called
    assert greeting.received() == b"Thank you for connecting\n"
    greeting.connectionLost(Failure(error.ConnectionDone()))
    assert result_of(greeting.closed) == b"Thank you for connecting\n"


def test_ask_reply():
    """ask() gives the reply line."""
    protocol = line_client()
    reply = run(client.ask(Clock(), protocol, b"3 4", HOST, PORT, 5))
    protocol.dataReceived(b"7\n")
    assert result_of(reply) == b"7"


def test_ask_timeout():
    """No reply within the timeout is the README's line, with the timeout as given."""
    clock = Clock()
    protocol = line_client(clock)
    reply = run(client.ask(clock, protocol, b"3 4", HOST, PORT, 0.5))
    clock.advance(0.49)
    assert not reply.called
    clock.advance(0.01)
    assert error_line(reply) == "no reply from 127.0.0.1 port 8091 within 0.5 seconds"
    protocol.dataReceived(b"7\n")  # too late: kept, harmless


def test_ask_timeout_while_bytes_trickle():
    """Bytes without "\n" and no pause until the timeout: what came by then is the reply."""
    clock = Clock()
    protocol = line_client(clock)
    reply = run(client.ask(clock, protocol, b"3 4", HOST, PORT, 1))
    for _ in range(7):  # 0.125 s apart: well inside the pause
        protocol.dataReceived(b"7")
        clock.advance(0.125)
    assert not reply.called
    clock.advance(0.125)
    assert result_of(reply) == b"7" * 7
    assert not clock.getDelayedCalls()  # the pause timer went with it
    assert not protocol.ask(b"1 2").called  # those bytes were that reply, not the next


def test_ask_closed():
    """A close before the reply is the README's line."""
    protocol = line_client()
    reply = run(client.ask(Clock(), protocol, b"3 4", HOST, PORT, 5))
    protocol.connectionLost(Failure(error.ConnectionLost()))
    assert error_line(reply) == "127.0.0.1 port 8091 closed the connection without replying"


@pytest.mark.parametrize("failure, line", [
    (error.ConnectionRefusedError(),
     "cannot connect to 127.0.0.1 port 8091: connection refused (is the server running?)"),
    (error.TimeoutError(), "cannot connect to 127.0.0.1 port 8091: timed out after 2.5 seconds"),
    (error.getConnectError((113, "No route to host")),
     "cannot connect to 127.0.0.1 port 8091: No route to host"),
    (error.ConnectError(),
     "cannot connect to 127.0.0.1 port 8091: An error occurred while connecting"),
])
def test_connect_failures(failure, line):
    """Each way a connection fails has its one line, REASON in the system's words."""
    assert client.connect_failure(failure, HOST, PORT, 2.5) == line


class ConnectingReactor(Clock):
    """A fake reactor whose connectTCP connects at once, or fails with a given error."""

    def __init__(self, failure=None):
        super().__init__()
        self.failure = failure
        self.connected = []
        self.protocols = []

    def connectTCP(self, host, port, factory, timeout=30, bindAddress=None):
        self.connected.append((host, port, timeout))
        if self.failure is not None:
            factory.clientConnectionFailed(None, Failure(self.failure))
        else:
            protocol = factory.buildProtocol(None)
            protocol.makeConnection(StringTransport())
            self.protocols.append(protocol)

    @property
    def transport(self):
        """The transport of the last connection: what the client sent on it."""
        return self.protocols[-1].transport


@pytest.fixture
def no_lookup(monkeypatch):
    """Host names stand for themselves: no name lookup in a thread."""

    async def resolve(reactor, host, port, socktype):
        return host, port

    monkeypatch.setattr(client, "resolve", resolve)


def test_connect(no_lookup):
    """connect() gives the protocol connected, the endpoint bounded by the timeout."""
    reactor = ConnectingReactor()
    protocol = client.LineClient(reactor)
    connected = run(client.connect(reactor, HOST, PORT, 2.5, protocol))
    assert result_of(connected) is protocol
    assert protocol.transport is not None
    assert reactor.connected == [(HOST, PORT, 2.5)]


def test_connect_refused(no_lookup):
    """A refused connection is the README's line."""
    reactor = ConnectingReactor(error.ConnectionRefusedError())
    connected = run(client.connect(reactor, HOST, PORT, 5, client.Greeting()))
    assert error_line(connected) == ("cannot connect to 127.0.0.1 port 8091: "
                                     "connection refused (is the server running?)")


def server_sends(reactor, data):
    """The server of the last connection sends data."""
    reactor.protocols[-1].dataReceived(data)


def server_closes(reactor):
    reactor.protocols[-1].connectionLost(Failure(error.ConnectionDone()))


def test_tcp_session_lock_step(no_lookup, capsys):
    """Requests go one at a time: the next only once the reply to the last is printed."""
    reactor = ConnectingReactor()
    status = run(client.tcp_session(reactor, args(), client.given([b"1 2", b"x", b"3 4"])))
    assert reactor.transport.value() == b"1 2\n"
    server_sends(reactor, b"3\n")
    assert reactor.transport.value() == b"1 2\nx\n"
    server_sends(reactor, b'ERROR expected two integers like "3 4"\n7\n')
    assert reactor.transport.value() == b"1 2\nx\n3 4\n"
    assert result_of(status) == 1  # an ERROR reply makes the status 1, after the rest
    assert capsys.readouterr() == ("3\n7\n", 'ERROR expected two integers like "3 4"\n')
    assert reactor.transport.disconnecting


def test_tcp_session_slides_server(no_lookup, capsys):
    """The slides' server: one recv, one bare send, close; the reply is printed, status 0."""
    reactor = ConnectingReactor()
    status = run(client.tcp_session(reactor, args(), client.given([b"From CLIENT TCP"])))
    server_sends(reactor, b"From SERVER TCP")
    server_closes(reactor)
    assert result_of(status) == 0
    assert capsys.readouterr() == ("From SERVER TCP\n", "")
    assert reactor.transport.value() == b"From CLIENT TCP\n"


def test_tcp_session_bare_replies(no_lookup, capsys):
    """A server that keeps the connection and answers bare: each request, one reply."""
    reactor = ConnectingReactor()
    status = run(client.tcp_session(reactor, args(),
                                        client.given([b"1 2", b"3 4", b"10 20"])))
    for answer in (b"3", b"7", b"30"):
        server_sends(reactor, answer)
        reactor.advance(PAUSE)
    assert result_of(status) == 0
    assert capsys.readouterr() == ("3\n7\n30\n", "")
    assert reactor.transport.value() == b"1 2\n3 4\n10 20\n"


def test_tcp_session_closed_after_one_bare_reply(no_lookup, capsys):
    """A server that closes after its one bare reply has not answered the second request."""
    reactor = ConnectingReactor()
    status = run(client.tcp_session(reactor, args(), client.given([b"1 2", b"3 4"])))
    server_sends(reactor, b"3")
    server_closes(reactor)
    assert error_line(status) == "127.0.0.1 port 8091 closed the connection without replying"
    assert capsys.readouterr().out == "3\n"


def test_tcp_session_escapes_replies(no_lookup, capsys):
    """A server's control characters are printed escaped, an ERROR line's too."""
    reactor = ConnectingReactor()
    status = run(client.tcp_session(reactor, args(), client.given([b"x", b"y"])))
    server_sends(reactor, b"\x1b[2Jhi\r\xe2\x80\xae!\n")
    server_sends(reactor, b"ERROR \x1b[31mred\n")
    assert result_of(status) == 1
    assert capsys.readouterr() == ("\\x1b[2Jhi\\r\\u202e!\n", "ERROR \\x1b[31mred\n")


def test_tcp_greeting(no_lookup, capsys):
    """ex0 over TCP prints what came once the server closes."""
    reactor = ConnectingReactor()
    status = run(client.tcp_greeting(reactor, args(port=12345)))
    server_sends(reactor, b"Thank you for connecting\n")
    server_closes(reactor)
    assert result_of(status) == 0
    assert capsys.readouterr().out == "Thank you for connecting\n"
    assert reactor.transport.value() == b""  # connecting is the request: nothing is sent


def test_tcp_greeting_bare(no_lookup, capsys):
    """ex0: the slides' server sends its greeting bare, then closes."""
    reactor = ConnectingReactor()
    status = run(client.tcp_greeting(reactor, args(port=12345)))
    server_sends(reactor, b"Thank you for connecting")
    server_closes(reactor)
    assert result_of(status) == 0
    assert capsys.readouterr().out == "Thank you for connecting\n"


def test_tcp_greeting_closed_empty(no_lookup):
    """ex0: a close with nothing received is the README's line."""
    reactor = ConnectingReactor()
    status = run(client.tcp_greeting(reactor, args(port=12345)))
    server_closes(reactor)
    assert error_line(status) == "127.0.0.1 port 12345 closed the connection without replying"


def test_tcp_greeting_silent(no_lookup):
    """ex0: a server that says nothing and never closes is a timeout."""
    reactor = ConnectingReactor()
    status = run(client.tcp_greeting(reactor, args(port=12345, timeout=5)))
    reactor.advance(5)
    assert error_line(status) == "no reply from 127.0.0.1 port 12345 within 5 seconds"


def test_tcp_greeting_never_closed(no_lookup, capsys):
    """ex0: a greeting that never closes is shown at the timeout, the connection aborted."""
    reactor = ConnectingReactor()
    status = run(client.tcp_greeting(reactor, args(port=12345, timeout=5)))
    server_sends(reactor, b"Thank you for connecting\n")
    reactor.advance(5)
    assert result_of(status) == 0
    assert capsys.readouterr().out == "Thank you for connecting\n"
    assert reactor.transport.disconnecting


# UDP: datagrams, retries, timeouts.


class FakeUDPPort:
    """A listening UDP port that records what is sent, and can refuse to send."""

    def __init__(self, protocol, interface, raises=None):
        self.protocol = protocol
        self.interface = interface
        self.raises = list(raises or [])
        self.sent = []
        self.listening = True

    def write(self, datagram, address):
        self.sent.append((datagram, address))
        if self.raises:
            raise self.raises.pop(0)

    def stopListening(self):
        self.listening = False


class UDPReactor(Clock):
    """A fake reactor: a clock, and listenUDP handing out FakeUDPPorts."""

    def __init__(self, raises=None):
        super().__init__()
        self.ports = []
        self.raises = raises

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):
        assert port == 0 and maxPacketSize >= 65507  # any free port; whole datagrams
        self.ports.append(FakeUDPPort(protocol, interface, self.raises))
        protocol.makeConnection(self.ports[-1])
        return self.ports[-1]

    def reply(self, datagram, sender=SERVER):
        """The server (or sender) answers on the newest port."""
        self.ports[-1].protocol.datagramReceived(datagram, sender)


def udp_ask(reactor, request=b"3 4", timeout=0.3, server=SERVER):
    return run(client.udp_ask(reactor, server, request, server[0], server[1], timeout))


def test_udp_reply():
    """One datagram out, without a line ending; the reply datagram back."""
    reactor = UDPReactor()
    reply = udp_ask(reactor)
    assert reactor.ports[0].sent == [(b"3 4", SERVER)]
    reactor.reply(b"7\n")
    assert result_of(reply) == b"7\n"
    assert not reactor.ports[0].listening


def test_udp_gives_up_after_three_tries():
    """No reply: 3 tries, each waiting a third of the timeout, then the README's line."""
    reactor = UDPReactor()
    reply = udp_ask(reactor, timeout=0.3)
    for tries in (1, 2, 3):
        assert len(reactor.ports[0].sent) == tries
        assert not reply.called
        reactor.advance(0.1)
    assert len(reactor.ports[0].sent) == 3
    assert error_line(reply) == ("no reply from 127.0.0.1 port 8091 after 3 tries in 0.3 seconds"
                                 " (is the server running?)")
    assert not reactor.ports[0].listening


def test_udp_lost_first_datagram():
    """A lost try is sent again, from the same port; its reply counts."""
    reactor = UDPReactor()
    reply = udp_ask(reactor, timeout=3)
    reactor.advance(1)
    assert reactor.ports[0].sent == [(b"3 4", SERVER)] * 2
    reactor.reply(b"7\n")
    assert result_of(reply) == b"7\n"
    assert len(reactor.ports) == 1


def test_udp_late_reply_between_tries():
    """A reply that comes late, for an earlier try of the same request, still counts."""
    reactor = UDPReactor()
    reply = udp_ask(reactor, timeout=3)
    reactor.advance(0.5)
    reactor.reply(b"7\n")
    assert result_of(reply) == b"7\n"
    assert len(reactor.ports[0].sent) == 1


def test_udp_ignores_strangers():
    """A datagram from another address is not the reply."""
    reactor = UDPReactor()
    reply = udp_ask(reactor)
    reactor.reply(b"666\n", ("127.0.0.1", 9999))
    reactor.reply(b"666\n", ("127.0.0.2", PORT))
    assert not reply.called
    reactor.reply(b"7\n")
    assert result_of(reply) == b"7\n"


def test_udp_refused_is_a_lost_try():
    """A refusal reported when sending is a lost try, not the end."""
    reactor = UDPReactor(raises=[ConnectionRefusedError(111, "Connection refused")])
    reply = udp_ask(reactor, timeout=3)
    reactor.advance(1)
    reactor.reply(b"7\n")
    assert result_of(reply) == b"7\n"


def test_udp_too_long():
    """A request no datagram can hold is a failure to send, in the system's words."""
    reactor = UDPReactor(raises=[error.MessageLengthError("message too long")])
    reply = udp_ask(reactor, request=b"1" * 70000)
    reason = os.strerror(errno.EMSGSIZE)  # "Message too long" on Linux
    assert error_line(reply) == f"cannot connect to 127.0.0.1 port 8091: {reason}"


def test_udp_no_route():
    """Another failure to send is told in the system's words."""
    reactor = UDPReactor(raises=[OSError(101, "Network is unreachable")])
    reply = udp_ask(reactor)
    assert error_line(reply) == "cannot connect to 127.0.0.1 port 8091: Network is unreachable"


def test_udp_ipv6():
    """An IPv6 server is asked from an IPv6 port."""
    reactor = UDPReactor()
    reply = udp_ask(reactor, server=("::1", PORT))
    assert reactor.ports[0].interface == "::"
    reactor.reply(b"7\n", ("::1", PORT))
    assert result_of(reply) == b"7\n"


def test_udp_cannot_listen():
    """A port that cannot be opened is told in the system's words, not a traceback."""
    class NoIPv6Reactor(UDPReactor):
        def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):
            refused = OSError(97, "Address family not supported by protocol")
            raise error.CannotListenError(interface, port, refused)

    reply = udp_ask(NoIPv6Reactor(), server=("::1", PORT))
    assert error_line(reply) == ("cannot connect to ::1 port 8091: "
                                 "Address family not supported by protocol")


def test_udp_session_new_port_per_request(no_lookup, capsys):
    """Each request has a port of its own, so a late reply never answers the next one."""
    reactor = UDPReactor()
    status = run(client.udp_session(reactor, args(), client.given([b"1 2", b"3 4"])))
    assert len(reactor.ports) == 1
    reactor.reply(b"3\n")
    assert len(reactor.ports) == 2 and not reactor.ports[0].listening
    reactor.ports[0].protocol.datagramReceived(b"3\n", SERVER)  # a late duplicate: unheard
    assert not status.called
    reactor.reply(b"7\n")
    assert result_of(status) == 0
    assert capsys.readouterr().out == "3\n7\n"


# Standard input.


class ThreadedReactor:
    """Just enough reactor for reading standard input: calls from threads, run when pumped."""

    def __init__(self):
        self.calls = queue.Queue()

    def callFromThread(self, function, *arguments):
        self.calls.put((function, arguments))

    def pump_until(self, deferred):
        while not deferred.called:
            function, arguments = self.calls.get(timeout=5)
            function(*arguments)


def read_lines(raw):
    """The requests stdin_lines makes of the raw binary file raw."""
    reactor = ThreadedReactor()

    async def collect():
        return [line async for line in client.stdin_lines(reactor, "prompt: ", raw)]

    lines = run(collect())
    reactor.pump_until(lines)
    return result_of(lines)


def lines_of(data):
    """The requests stdin_lines makes of standard input holding data (a pipe)."""
    read_end, write_end = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write_end, data), os.close(write_end)))
    writer.start()  # a thread: a pipe holds only so much before a write waits for reads
    with open(read_end, "rb", buffering=0) as raw:
        lines = read_lines(raw)
    writer.join()
    return lines


def test_stdin_from_a_file(tmp_path):
    """Standard input may be a regular file (< requests.txt), which Twisted's StandardIO
    cannot poll."""
    requests = tmp_path / "requests.txt"
    requests.write_bytes(b"1 2\n3 4")
    with open(requests, "rb", buffering=0) as raw:
        assert read_lines(raw) == [b"1 2", b"3 4"]


def test_stdin_lines():
    """Each line is one request, without "\\n" or the one "\\r" before it."""
    assert lines_of(b"1 2\n3 4\r\n\n5 6\r\r\n") == [b"1 2", b"3 4", b"", b"5 6\r"]


def test_stdin_last_line_without_newline():
    """A last line without "\\n" counts; an empty input has no request."""
    assert lines_of(b"1 2\n3 4") == [b"1 2", b"3 4"]
    assert lines_of(b"") == []


def test_stdin_long_lines():
    """Lines longer than one read come whole."""
    assert lines_of(b"1" * 100000 + b"\n2\n") == [b"1" * 100000, b"2"]


class Pieces:
    """A raw file that gives its data in pieces of a given size, as a slow pipe does."""

    def __init__(self, data, size):
        self.data = memoryview(data)
        self.size = size
        self.reads = 0

    def isatty(self):
        return False

    def read(self, size):
        self.reads += 1
        piece, self.data = self.data[:min(size, self.size)], self.data[min(size, self.size):]
        return bytes(piece)


def test_stdin_lines_in_pieces():
    """Lines cut anywhere by the reads come whole, and nothing is read twice."""
    data = b"1 2\n\n3 4\r\n" * 100 + b"5 6"
    for size in (1, 2, 3, 7):
        raw = Pieces(data, size)
        assert read_lines(raw) == [b"1 2", b"", b"3 4"] * 100 + [b"5 6"]
        assert raw.reads == -(-len(data) // size) + 1  # and one more read finds the end


def test_stdin_read_in_linear_time():
    """A 32 MB line read 4 KB at a time comes whole, in seconds, not minutes (was quadratic).

    A generous bound, not a speed test: the quadratic reader needed minutes for this.
    """
    data = b"a" * (32 << 20) + b"\n"
    started = time.monotonic()
    lines = read_lines(Pieces(data, 4096))
    assert time.monotonic() - started < 30
    assert len(lines) == 1 and len(lines[0]) == 32 << 20 and lines[0] == data[:-1]


def test_stdin_closed(monkeypatch):
    """A closed standard input (<&-, so sys.stdin is None) is an empty one: no request."""
    monkeypatch.setattr(sys, "stdin", None)

    async def collect():
        return [line async for line in client.stdin_lines(Clock(), "prompt: ")]

    assert result_of(run(collect())) == []


def test_no_prompt_for_a_pipe(capsys):
    """The prompt is for a person at a keyboard only: none when reading a pipe."""
    lines_of(b"1 2\n")
    assert capsys.readouterr().out == ""


def test_prompt_for_a_terminal(capsys):
    """A person at a keyboard gets the prompt before each line, and once more at the end."""
    class Keyboard(Pieces):
        def isatty(self):
            return True

    assert read_lines(Keyboard(b"1 2\n3 4\n", 4)) == [b"1 2", b"3 4"]
    assert capsys.readouterr().out == "prompt: " * 3


def test_in_thread_failure():
    """A blocking call's exception comes back as the Deferred's failure, on the reactor."""
    reactor = ThreadedReactor()
    failed = client.in_thread(reactor, os.read, -1, 1)
    reactor.pump_until(failed)
    with pytest.raises(OSError):
        result_of(failed)


def test_in_thread_cancelled():
    """A cancelled wait (Ctrl+C) ignores the late result of the thread."""
    reactor = ThreadedReactor()
    release = threading.Event()
    waiting = client.in_thread(reactor, release.wait, 5)
    waiting.cancel()
    release.set()
    function, arguments = reactor.calls.get(timeout=5)
    function(*arguments)  # no AlreadyCalledError


# Printing and exit statuses.


def test_show(capsys):
    """A reply goes to stdout, an ERROR reply to stderr, as text, one line each."""
    assert common.show(b"7") is False
    assert common.show(b"From SERVER UDP\n") is False
    assert common.show(b"") is False
    assert common.show(b'ERROR expected two integers like "3 4"') is True
    assert common.show(b"caf\xc3\xa9 \xff") is False
    assert capsys.readouterr() == ("7\nFrom SERVER UDP\n\ncafé \ufffd\n",
                                   'ERROR expected two integers like "3 4"\n')


@pytest.mark.parametrize("reply, printed", [
    (b"\x1b[2J", "\\x1b[2J"),
    (b"7\r", "7\\r"),
    (b"a\nb\n", "a\\nb"),  # one line: only the last "\n" ends it
    ("\u202eabc".encode(), "\\u202eabc"),
    (b"\x7f\x00", "\\x7f\\x00"),
    ("tab\tViệt Nam".encode(), "tab\tViệt Nam"),
])
def test_show_escapes(reply, printed, capsys):
    """Control characters and bidirectional overrides are printed escaped, never raw."""
    common.show(reply)
    assert capsys.readouterr().out == printed + "\n"


def test_show_escapes_errors(capsys):
    """An ERROR reply is escaped too, on standard error."""
    assert common.show(b"ERROR \x1b[31m\r") is True
    assert capsys.readouterr() == ("", "ERROR \\x1b[31m\\r\n")


class SignalReactor(Clock):
    """A clock whose callFromThread runs the call at once."""

    def callFromThread(self, function, *arguments):
        function(*arguments)


@pytest.fixture
def ctrl_c(monkeypatch):
    """Catch the SIGINT handler client.main installs, instead of installing it."""
    handlers = []
    monkeypatch.setattr(signal, "getsignal", lambda signum: signal.default_int_handler)
    monkeypatch.setattr(signal, "signal", lambda signum, handler: handlers.append(handler))
    return handlers


def exit_status(outcome):
    """The exit status task.react makes of main's Deferred."""
    try:
        result_of(outcome)
    except SystemExit as exit:
        return exit.code
    return 0


def test_main_status(ctrl_c):
    """The session's status is the exit status: 0, or 1 after an ERROR reply."""
    async def give(reactor, status):
        return status

    assert exit_status(client.main(SignalReactor(), give, 0)) == 0
    assert exit_status(client.main(SignalReactor(), give, 1)) == 1


def test_main_failure_line(ctrl_c, capsys):
    """A ClientError is one line on stderr, exit status 1, no traceback."""
    async def fail(reactor, args):
        raise common.ClientError("no reply from 127.0.0.1 port 8091 within 5 seconds")

    assert exit_status(client.main(SignalReactor(), fail, None)) == 1
    assert capsys.readouterr() == (
        "", "error: no reply from 127.0.0.1 port 8091 within 5 seconds\n")


def test_ctrl_c(ctrl_c, capsys):
    """Ctrl+C ends the run at once, quietly, with status 130; the session is cancelled."""
    waiting = Deferred()

    async def wait(reactor, args):
        try:
            await waiting
        except error.ConnectionDone:  # must not be told, after Ctrl+C
            print("error: closed")
        return 0

    outcome = client.main(SignalReactor(), wait, None)
    assert not outcome.called
    ctrl_c[0](signal.SIGINT, None)
    assert exit_status(outcome) == 130
    assert waiting.called  # cancelled
    assert capsys.readouterr() == ("", "")


def test_ctrl_c_wins_a_race(ctrl_c):
    """Ctrl+C counts even when the session ends before its news is handled."""
    class LateReactor(Clock):
        def callFromThread(self, function, *arguments):
            self.callLater(0, function, *arguments)

    waiting = Deferred()

    async def wait(reactor, args):
        await waiting
        return 0

    reactor = LateReactor()
    outcome = client.main(reactor, wait, None)
    ctrl_c[0](signal.SIGINT, None)
    waiting.callback(None)  # standard input ended meanwhile
    reactor.advance(0)
    assert exit_status(outcome) == 130


def test_ctrl_c_ignored_stays_ignored(monkeypatch):
    """A SIGINT that is ignored (a shell's background job) is left ignored."""
    installed = []
    monkeypatch.setattr(signal, "getsignal", lambda signum: signal.SIG_IGN)
    monkeypatch.setattr(signal, "signal", lambda signum, handler: installed.append(handler))

    async def give(reactor, args):
        return 0

    assert exit_status(client.main(SignalReactor(), give, None)) == 0
    assert installed == []


def test_quiet_ctrl_c():
    """A Ctrl+C before the reactor runs (while Twisted loads, say) is exit status 130."""
    with pytest.raises(SystemExit) as caught:
        with common.quiet_ctrl_c():
            raise KeyboardInterrupt
    assert caught.value.code == 130


def test_no_import_time_side_effects():
    """Importing a client script loads no Twisted and leaves Ctrl+C's handler alone.

    (In a fresh interpreter: this one has loaded Twisted already.) The client modules
    that do load Twisted leave the handler alone too.
    """
    check = (
        "import signal, sys\n"
        "import twisted_impl.ex2_sum.tcpclient, twisted_impl.ex0_hello.udpclient\n"
        "assert not any(name.split('.')[0] == 'twisted' for name in sys.modules), 'twisted'\n"
        "import twisted_impl.client\n"
        "assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, 'SIGINT'\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", check], cwd=root, capture_output=True,
                          timeout=60)
    assert (done.returncode, done.stderr) == (0, b"")


@pytest.mark.skipif(sys.platform == "win32", reason="closes the child's fd 0 in preexec_fn")
def test_closed_stdin_end_to_end():
    """`tcpclient.py <&-`: standard input closed is an empty one: connects, sends nothing, exit 0."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with socket.create_server((HOST, 0)) as server:
        port = server.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "twisted_impl.ex2_sum.tcpclient", "--port", str(port)],
            cwd=root, capture_output=True, timeout=60,
            stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(0))
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
        server.settimeout(5)
        conn, _ = server.accept()  # it connected (from the backlog), and sent nothing
        with conn:
            conn.settimeout(5)
            assert conn.recv(1024) == b""
