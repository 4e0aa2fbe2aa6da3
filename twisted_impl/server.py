"""The Twisted pieces every server shares: the TCP line protocol with the wire contract's
limits, the UDP protocol, and running a script. An exercise's tcpserver.py subclasses
LineServer with a `lineReceived(line)` that answers with send_reply(text).
"""

import contextlib
import socket
import sys
import time

from twisted.internet import defer, tcp, udp
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import (
    IHalfCloseableProtocol, IPushProducer, IStreamServerEndpoint)
from twisted.internet.protocol import DatagramProtocol, Protocol, ServerFactory
from twisted.logger import Logger, LogLevel, eventAsText, formatEvent, globalLogBeginner
from twisted.protocols.policies import TimeoutMixin
from zope.interface import implementer

from twisted_impl.common import (
    MAX_BARE, MAX_LINE, MAX_UNSENT, PAUSE, address_lines, cannot_listen, printable,
    server_args)

TOO_MANY = "ERROR too many connections from your address (max {})\n"
TOO_LONG = "ERROR line too long (max {} bytes)\n".format(MAX_LINE).encode("ascii")
BUSY = "ERROR server busy (max {} clients)\n"
LINGER = 2  # seconds a client we hang up on has to read our last replies
# Requests answered for one client before the others get their turn: one 64 kB chunk
# may hold 65536 requests, and 300 such clients must not keep a newcomer waiting.
TURN = 64
MAX_LINGERING = 8  # turned-away clients that may linger at once: each holds an open file

log = Logger()


@implementer(IHalfCloseableProtocol, IPushProducer)
class LineServer(Protocol, TimeoutMixin):
    """One client: each request it sends is given to lineReceived(line), in order.

    Why not Twisted's LineReceiver or LineOnlyReceiver: both split on b"\\r\\n" by
    default, where only "\\n" frames here; LineReceiver copies the rest of the buffer for
    every line (quadratic for the thousands of lines of one 64 kB chunk, Twisted #6357);
    LineOnlyReceiver answers every line of a chunk at once, with no way to stop in the
    middle when the client does not read its replies; and neither knows a request without
    "\\n" (a bare message). The framing below is basic's loop: find "\\n" in the new
    bytes only, keep the unfinished line.
    """

    # Class-level defaults: a connection stores only what differs from them, so that ten
    # thousand idle connections stay small (the point of an event-driven server).
    closing = False  # we decided to close: nothing more is read or answered
    paused = False  # the client does not read its replies: parse nothing until it does
    _unfinished = b""  # the line begun and not ended yet (a bytearray once it grows)
    _rest = None  # (chunk, offset): what is not parsed yet of a chunk, if we stopped
    _bare_call = None  # the PAUSE timer, armed only for a read that may be a bare message
    _bare = False  # True while answering a bare message: its reply has no "\n"
    _unsent = 0  # bytes of replies written since the current chunk's parsing began
    _read_closed = False  # the client half-closed while unparsed bytes were kept
    address = None  # the client's host, when the factory counts connections per address

    def send_reply(self, text):
        """Send the reply to the current request (its "\\n" only if the request had one,
        or if the reply is empty: zero bytes are no reply)."""
        data = text.encode("utf-8")
        if not self._bare or not data:
            data += b"\n"
        self._unsent += len(data)
        self.transport.write(data)

    @property
    def timeout(self):
        return self.factory.timeout  # --timeout

    @property
    def peer(self):
        """The client as the lecture prints it: (host, port), for IPv4 and IPv6 alike."""
        address = self.transport.getPeer()
        return (address.host, address.port) if hasattr(address, "port") else "unix socket"

    def connectionMade(self):
        log.info("Got connection from {peer!r}", peer=self.peer)
        # TCP back-pressure: the transport pauses us when its write buffer fills up
        # (the client does not read its replies) and resumes us when it drains.
        self.transport.registerProducer(self, True)
        self.setTimeout(self.timeout)

    def connectionLost(self, reason):
        self.closing = True  # a turn still scheduled (see _parse) answers nothing more
        self._rest = None
        self.setTimeout(None)
        self._cancel_bare_call()
        self.factory.client_left(self.address)

    # Framing.

    def dataReceived(self, data):
        if self.closing:
            return  # the connection is going away: ignore whatever still arrives
        if self._rest is not None:  # parsed in order once it is our turn again
            chunk, start = self._rest
            self._rest = (chunk[start:] + data, 0)
        elif self._bare_call is not None:  # more bytes within PAUSE: the start of a line
            self._cancel_bare_call()
            self._parse(data)
        elif not self._unfinished and MAX_BARE >= len(data) >= 2 and b"\n" not in data:
            # Maybe a whole bare message (the slides' one send() of a string): it is, if
            # nothing more comes for PAUSE seconds. Lines ending in "\n" arm no timer.
            self._unfinished = bytearray(data)
            self._bare_call = self.callLater(PAUSE, self._bare_message)
        else:
            self._parse(data)

    def _parse(self, data, start=0):
        """Answer the complete lines in `data`, keep its unfinished last line. Stop between
        two lines when the transport pauses us (the client does not read), when this
        chunk's replies pass MAX_UNSENT, or after TURN requests: resumeProducing() goes on."""
        self._unsent = 0
        answered = 0
        end = data.find(b"\n", start)
        while end >= 0:
            if self.paused or self._unsent > MAX_UNSENT or answered == TURN:
                self._rest = (data, start)  # no copy: the offset is kept
                if not self.paused:
                    # Let the other connections have their turn: go on at the reactor's
                    # next one, reading nothing more from this client meanwhile.
                    self.pauseProducing()
                    self.callLater(0, self.resumeProducing)
                break
            line = data[start:end]
            if self._unfinished:
                line, self._unfinished = b"".join((self._unfinished, line)), b""
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]  # telnet's "\r\n"; a "\r" anywhere else is data
            if len(line) > MAX_LINE:
                return self._too_long()
            self._answer(line)
            answered += 1
            if self.closing:
                return
            end = data.find(b"\n", start)
        else:
            if start < len(data):
                self._keep(data[start:])
        if answered:
            self.resetTimeout()  # the idle timeout counts from the last complete request

    def _keep(self, piece):
        # One "\r" before the "\n" is not counted in MAX_LINE: MAX_LINE + 1 bytes
        # without "\n" may still be a legal line; one more and the line is too long.
        if len(self._unfinished) + len(piece) > MAX_LINE + 1:
            self._too_long()
        elif self._unfinished:
            self._unfinished += piece
        else:
            self._unfinished = bytearray(piece)

    def _bare_message(self):
        """PAUSE seconds of silence after a short read: it was a whole bare message."""
        self._bare_call = None
        self._answer_bare()
        self.resetTimeout()

    def _answer_bare(self):  # a trailing "\r" is data, as any "\r" not before a "\n"
        message, self._unfinished = bytes(self._unfinished), b""
        if len(message) > MAX_LINE:
            return self._too_long()
        self._bare = True
        self._answer(message)
        self._bare = False

    def _answer(self, line):
        try:
            self.lineReceived(line)
        except Exception:
            # A bug in the exercise's code: its traceback, and a hang-up on this client
            # once the replies to its earlier requests are sent. The others are served on.
            log.failure("Cannot answer {peer!r}: {line!r}", peer=self.peer, line=line)
            self.hang_up()

    def _too_long(self):
        self.transport.write(TOO_LONG)
        self.hang_up()

    def _cancel_bare_call(self):
        if self._bare_call is not None:
            self._bare_call.cancel()
            self._bare_call = None

    # Closing.

    def close(self):  # once every reply already written has been sent
        self._stop_reading_requests()
        self.transport.loseConnection()

    def hang_up(self):
        """Close in the middle of a request without losing the replies, ERROR included.
        Closing a socket with unread bytes makes the OS send a reset, which can destroy
        our last replies before the client reads them. So: our FIN once the replies are
        out (a half-close), drop what still comes, close when the client does, or LINGER
        seconds later."""
        if self.closing:
            return
        self._stop_reading_requests()
        if not hasattr(self.transport, "loseWriteConnection"):  # TLS has no half-close
            return self.transport.loseConnection()
        self.transport.resumeProducing()  # in case we were paused: drain, do not stall
        self.transport.loseWriteConnection()

    def _stop_reading_requests(self):
        if self.closing:
            return
        self.closing = True
        self._unfinished, self._rest = b"", None
        self._cancel_bare_call()
        # A registered streaming producer keeps the transport from closing if it is
        # paused when the write buffer drains: unregister first, then let it drain.
        self.transport.unregisterProducer()

    def timeoutConnection(self):  # TimeoutMixin's
        if self.closing:
            # Still here one timeout after we decided to close: the client does not read
            # its last replies, or does not stop sending.
            self.transport.abortConnection()
        else:
            self.close()  # quietly: an idle client gets no message, just the end
            self.setTimeout(self.timeout)

    # IHalfCloseableProtocol: a client may shut down its sending side after its last
    # request and still read every reply; the end of its requests is our cue to close.

    def readConnectionLost(self):
        if self.closing:
            self.transport.loseConnection()
        elif self._rest is not None:
            self._read_closed = True  # first the lines kept, then the end
        else:
            self._end_of_requests()

    def _end_of_requests(self):
        """The client sent its last byte: what follows the last "\\n" is its last
        request, a bare one (the slides' client may shut down after its send())."""
        self._cancel_bare_call()
        if self._unfinished:
            self._answer_bare()
        self.close()

    def writeConnectionLost(self):
        # hang_up()'s FIN is sent, so every reply is out: give the client LINGER
        # seconds to read them and close; timeoutConnection() then aborts.
        self.setTimeout(LINGER)

    # IPushProducer: called by the transport, about its write buffer.

    def pauseProducing(self):
        self.paused = True
        self.transport.pauseProducing()  # stop reading requests until replies drain

    def resumeProducing(self):
        if self.closing or not self.paused:
            return
        self.paused = False
        rest, self._rest = self._rest, None
        if rest is not None:
            self._parse(*rest)
        if self.closing or self.paused:
            return
        if self._read_closed:
            self._end_of_requests()
        else:
            self.transport.resumeProducing()

    def stopProducing(self):
        pass  # the connection is being lost; connectionLost() follows


@implementer(IHalfCloseableProtocol)
class Busy(Protocol, TimeoutMixin):
    """A newcomer turned away: one ERROR line (`words`), then the end, without a reset
    (as LineServer.hang_up: our FIN, and the close when the client closes too, or LINGER
    seconds later)."""

    lingers = False

    def __init__(self, factory, words):
        self.factory, self.words = factory, words

    def connectionMade(self):
        self.transport.write(self.words.encode("ascii"))
        if (not hasattr(self.transport, "loseWriteConnection")
                or self.factory.lingering >= MAX_LINGERING):
            # A crowd of newcomers: each lingering one holds an open file, and the server
            # has only a few to spare. Close at once (a client that sent nothing yet
            # still gets the line; one that did may get a reset instead).
            return self.transport.loseConnection()
        self.lingers = True
        self.factory.lingering += 1
        self.transport.loseWriteConnection()
        self.setTimeout(LINGER)

    def timeoutConnection(self):
        self.transport.abortConnection()

    def readConnectionLost(self):
        self.transport.loseConnection()

    def writeConnectionLost(self):
        pass

    def connectionLost(self, reason):
        self.setTimeout(None)
        if self.lingers:
            self.lingers = False
            self.factory.lingering -= 1


class LineServerFactory(ServerFactory):
    """One `protocol` per client, up to `max_clients` at a time and `max_per_address`
    from one address (None: no such cap)."""

    noisy = False  # no "Starting factory" lines among the lecture's output under twistd
    clients = 0  # connected now
    busy = False  # in a busy spell: newcomers are turned away, and that was said once
    lingering = 0  # turned-away clients given LINGER seconds to read why

    def __init__(self, protocol, timeout=60, max_clients=1000, max_per_address=None):
        self.protocol, self.timeout = protocol, timeout
        self.max_clients, self.max_per_address = max_clients, max_per_address
        self.per_address = {}  # host: its connections now, for the hosts that have some
        self.crowding = set()  # hosts in a spell of being turned away (said once)

    def buildProtocol(self, addr):
        host = getattr(addr, "host", None)  # None for a UNIX socket: no address to cap
        cap = None if host is None else self.max_per_address
        if cap is not None and self.per_address.get(host, 0) >= cap:
            if host not in self.crowding:
                self.crowding.add(host)
                log.info("Too many connections from {host} (max {n}), new ones from it "
                         "are turned away", host=host, n=cap)
            return Busy(self, TOO_MANY.format(cap))
        if self.clients >= self.max_clients:
            if not self.busy:
                self.busy = True
                log.info("Server busy: {n} clients connected, new clients are turned away",
                         n=self.clients)
            return Busy(self, BUSY.format(self.max_clients))
        self.busy = False
        self.clients += 1
        protocol = super().buildProtocol(addr)
        if cap is not None:
            self.crowding.discard(host)
            self.per_address[host] = self.per_address.get(host, 0) + 1
            protocol.address = host
        return protocol

    def client_left(self, host=None):
        self.clients -= 1
        if host is not None:
            self.per_address[host] -= 1
            if not self.per_address[host]:
                del self.per_address[host]


# UDP has no stream to frame: a datagram arrives whole or not at all, up to 65507 bytes
# over IPv4. Twisted reads 8192 bytes by default and silently drops the rest, so listen
# with maxPacketSize=MAX_DATAGRAM (see listen_udp).
MAX_DATAGRAM = 65536


class DatagramServer(DatagramProtocol):
    """Answer each datagram with one datagram to its sender: answer(text) -> str. Past
    `max_rate` datagrams a second from one address (None: no limit), the rest of that
    second's are dropped unanswered."""

    noisy = False

    def __init__(self, answer, print_received=False, max_rate=None):
        self.answer = answer
        self.print_received = print_received
        self.max_rate = max_rate
        # Each address's datagrams in this second of time.monotonic(), forgotten when
        # the next second begins: memory bounded by the addresses of one second.
        self.second, self.counts = None, {}

    def too_many(self, host):  # one more datagram from `host`: past max_rate?
        if self.max_rate is None:
            return False
        second = int(time.monotonic())
        if second != self.second:
            self.second, self.counts = second, {}
        count = self.counts[host] = self.counts.get(host, 0) + 1
        if count == self.max_rate + 1:  # the first one dropped: one line a second, not one each
            log.info("Too many datagrams from {host} (max {n} a second), the rest are dropped",
                     host=host, n=self.max_rate)
        return count > self.max_rate

    def datagramReceived(self, data, address):
        if self.too_many(address[0]):
            return  # a flood must cost as little as possible: no line, no reply
        peer = tuple(address[:2])  # IPv6 adds flow info and scope id: show (host, port)
        log.info("Got datagram from {peer!r}", peer=peer)
        # A trailing "\n" or "\r\n" is removed, as from a TCP line; a "\r" alone at the
        # end is data, as it is inside a TCP line ("3 4\r" is not two integers).
        line = data.endswith(b"\n")
        if line:
            data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
        text = data.decode("utf-8", "replace")
        if self.print_received:
            log.info("Received from {peer!r}: {text}", peer=peer, text=printable(text))
        try:
            reply = self.answer(text).encode("utf-8")
        except Exception:
            return log.failure("Cannot answer {peer!r}: {text!r}", peer=peer, text=text)
        # The reply ends in "\n" when the request did, as a TCP line's reply does; a
        # bare request gets a bare reply, but never 0 bytes: "" goes as "\n".
        if line or not reply:
            reply += b"\n"
        try:
            self.transport.write(reply, address)
        except Exception as error:
            # A full socket buffer or an unreachable sender loses this one reply (UDP
            # may lose datagrams anyway); the server goes on serving the others.
            log.warn("Cannot reply to {peer!r}: {error}", peer=peer, error=error)


# Running a server as a script, printing what basic/'s twin prints.

def print_event(event):
    """A twisted.logger observer printing our log lines as print() would, exactly what
    basic/ prints (under twistd they go to its log instead); Twisted's own chatter is
    left out; warnings and errors go to standard error."""
    namespace = event.get("log_namespace", "")
    if event.get("log_level") in (LogLevel.warn, LogLevel.error, LogLevel.critical):
        stream = sys.stderr
        text = eventAsText(event, includeTimestamp=False, includeSystem=False)
    elif namespace == "__main__" or namespace.startswith("twisted_impl"):
        stream = sys.stdout
        text = formatEvent(event)
    else:
        return
    # Standard output may be gone (a closed pipe, `| head -1`, a closed SSH session:
    # OSError, or ValueError once closed): the line is lost, the server serves on.
    with contextlib.suppress(OSError, ValueError):
        try:
            stream.write(text + "\n")
        except UnicodeEncodeError:  # a console that cannot show every character
            encoding = stream.encoding
            stream.write((text + "\n").encode(encoding, "backslashreplace").decode(encoding))
        stream.flush()


def print_log():
    globalLogBeginner.beginLoggingTo([print_event], redirectStandardIO=False)


def tcp_endpoint(reactor, host, port):
    """The server endpoint for `host` and `port`, IPv6 when the host has a colon. The
    backlog is the system's maximum, as basic/'s `listen()` asks, not Twisted's 50: a
    classroom connecting at once must not wait for SYN retries."""
    if ":" in host:
        return DualStackEndpoint(reactor, port, socket.SOMAXCONN, host)
    return TCP4ServerEndpoint(reactor, port, backlog=socket.SOMAXCONN, interface=host)


class DualStack:
    """A port whose IPv6 socket serves IPv4 clients too (on "::"), where the system
    allows it, as basic/'s set_options() asks: Linux does by default, Windows and BSDs
    do not, and the address lines printed for "::" promise IPv4 addresses."""

    def createInternetSocket(self):
        sock = super().createInternetSocket()
        if sock.family == socket.AF_INET6:
            with contextlib.suppress(AttributeError, OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        return sock


class DualStackPort(DualStack, tcp.Port):
    pass


class DualStackUDPPort(DualStack, udp.Port):
    pass


@implementer(IStreamServerEndpoint)
class DualStackEndpoint:
    """TCP6ServerEndpoint, with a DualStackPort."""

    def __init__(self, reactor, port, backlog, interface):
        self.reactor, self.port, self.backlog, self.interface = reactor, port, backlog, interface

    def listen(self, factory):
        port = DualStackPort(self.port, factory, self.backlog, self.interface, self.reactor)
        return defer.execute(port.startListening).addCallback(lambda _: port)


def listen_udp(port, protocol, interface, reactor):
    """reactor.listenUDP(port, protocol, interface, MAX_DATAGRAM), "::" serving IPv4 too."""
    listening = DualStackUDPPort(port, protocol, interface, MAX_DATAGRAM, reactor)
    listening.startListening()
    return listening


def ip_address(host):
    """The address to bind for `host`: Twisted's UDP port takes IP addresses only."""
    for family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            socket.inet_pton(family, host)
            return host
    return socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)[0][4][0]  # "localhost"


@contextlib.contextmanager
def exit_if_cannot_listen(host, port):
    """A port in use, say, ends the script with one line and status 1, as in basic/."""
    try:
        yield
    except (CannotListenError, OSError) as error:  # OSError: a name that does not resolve
        error = getattr(error, "socketError", error)
        print(cannot_listen(host, port, error), file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def announce(reactor, kind, host, port, tls=False):
    """Log the listening line, and the addresses students use on a wildcard host, once the
    reactor runs: only then is the line's "Ctrl+C to stop" true (Twisted's handlers)."""
    def lines():
        log.info("{kind} server listening on {host} port {port}, Ctrl+C to stop",
                 kind="TLS" if tls else kind, host=host, port=port)
        for line in address_lines(host, port):
            log.info("{line}", line=line)
    reactor.callWhenRunning(lines)


async def serve_until_stopped(reactor, kind, host, listening):
    announce(reactor, kind, host, listening.getHost().port)
    # Ctrl+C stops the reactor (Twisted handles SIGINT); task.react then exits with 0.
    reactor.addSystemEventTrigger("after", "shutdown", log.info, "Server stopped")
    await Deferred()  # never fires: a server serves until it is stopped


def run_udp(make_protocol, port, description, argv=None):
    """Serve UDP with the protocol `make_protocol()` until Ctrl+C (see a tcpserver.py)."""
    from twisted.internet import task

    args = server_args("UDP", description, port, argv)
    print_log()

    async def serve(reactor):
        with exit_if_cannot_listen(args.host, args.port):
            protocol = make_protocol()
            protocol.max_rate = args.max_rate  # --max-rate, or its default by the host
            listening = listen_udp(args.port, protocol, ip_address(args.host), reactor)
        await serve_until_stopped(reactor, "UDP", args.host, listening)

    task.react(serve)
