"""The TCP side of every Twisted server: one line in, one line out, written once.

`LineServer` frames the byte stream into lines and enforces the wire contract's limits;
what to answer is not its business: it is given a plain function `answer(text) -> str`
(Twisted's own advice: keep application logic out of protocol classes). The exercises
only choose that function, in twisted_impl/<exercise>/tcpserver.py.
"""

from twisted.internet.interfaces import IHalfCloseableProtocol, IPushProducer
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from twisted.protocols.policies import TimeoutMixin
from zope.interface import implementer

MAX_LINE = 65536  # bytes in one request line, not counting its "\n" or "\r\n"
TOO_LONG = "ERROR line too long (max {} bytes)".format(MAX_LINE)
LINGER = 2  # seconds a client we hang up on has to read our last replies

log = Logger()


def peer_of(address):
    """The peer as the lecture prints it: (host, port), for IPv4 and IPv6 alike."""
    if hasattr(address, "port"):
        return (address.host, address.port)
    return "unix socket"  # twistd --listen unix:...: no host, no port, often no name


@implementer(IHalfCloseableProtocol, IPushProducer)
class LineServer(LineOnlyReceiver, TimeoutMixin):
    """Answer each line received with one line, in order, within the contract's limits."""

    # LineOnlyReceiver, not LineReceiver: it splits a whole chunk once, where
    # LineReceiver takes one line per pass (quadratic for many lines in one chunk,
    # Twisted #6357). Both default to b"\r\n", which would miss lines that end in a
    # bare "\n" (nc, printf, our clients): only "\n" frames, "\r" is stripped below.
    delimiter = b"\n"
    # One "\r" before the "\n" is not counted in MAX_LINE, so up to MAX_LINE + 1 bytes
    # without a "\n" may still be a legal line; one more and the line is too long.
    MAX_LENGTH = MAX_LINE + 1

    # Class-level defaults, so that an idle connection carries no more than it needs:
    # ten thousand of them are the point of an event-driven server.
    closing = False  # set once we decided to close: nothing more is read or answered
    # Pieces of a line that has no "\n" yet. LineOnlyReceiver joins its buffer with
    # every chunk and splits it again, which costs O(n^2) for a long line arriving a
    # byte at a time; we join the pieces once, when a "\n" (or too much) arrives.
    _pieces = ()  # a list while a line is arriving in pieces
    _pieces_size = 0

    def __init__(self, answer, timeout=60, print_received=False):
        self.answer = answer
        self.timeout = timeout
        self.print_received = print_received

    @property
    def peer(self):
        """The client as the lecture prints it, asked of the transport when needed."""
        return peer_of(self.transport.getPeer())

    def connectionMade(self):
        log.info("Got connection from {peer!r}", peer=self.peer)
        # TCP back-pressure: the transport pauses us when its write buffer fills up
        # (the client does not read its replies) and resumes us when it drains.
        self.transport.registerProducer(self, True)
        self.setTimeout(self.timeout)

    def connectionLost(self, reason):
        self.setTimeout(None)

    def dataReceived(self, data):
        if self.closing:
            return  # the connection is going away: ignore whatever still arrives
        self.resetTimeout()
        size = self._pieces_size + len(data)
        if b"\n" not in data and len(self._buffer) + size <= self.MAX_LENGTH:
            # Still inside one line: keep the piece, split nothing yet.
            if not self._pieces:
                self._pieces = []
            self._pieces.append(data)
            self._pieces_size = size
            return
        if self._pieces:
            self._pieces.append(data)
            data = b"".join(self._pieces)
            self._pieces = ()
            self._pieces_size = 0
        LineOnlyReceiver.dataReceived(self, data)

    def lineReceived(self, line):
        if self.closing:
            return  # the rest of a chunk after a line we hung up on
        if line.endswith(b"\r"):
            line = line[:-1]  # telnet's "\r\n"; a "\r" anywhere else is data
        if len(line) > MAX_LINE:
            self.lineLengthExceeded(line)
            return
        text = line.decode("utf-8", "replace")
        if self.print_received:
            log.info("Received from {peer!r}: {text}", peer=self.peer, text=text)
        try:
            reply = self.answer(text)
        except Exception:
            # A bug in answer() must not cost the replies already written for the
            # earlier lines: report it, then hang up once they are sent.
            log.failure("Cannot answer {peer!r}: {text!r}", peer=self.peer, text=text)
            self.hang_up()
            return
        self.sendLine(reply.encode("utf-8"))

    def lineLengthExceeded(self, line):
        # LineOnlyReceiver would drop the connection without a word: say why first.
        self.sendLine(TOO_LONG.encode("ascii"))
        self.hang_up()

    def close(self):
        """Close once every reply already written has been sent."""
        self._stop_reading_requests()
        self.transport.loseConnection()

    def hang_up(self):
        """Close in the middle of a request without losing the replies, ERROR included.

        The client may still be sending. Closing a socket with unread bytes makes the
        OS send a reset, which can destroy our last replies before the client reads
        them. So: send our FIN once the replies are out (a half-close), read and drop
        what still comes, and close for good when the client does, or LINGER seconds
        later.
        """
        if self.closing:
            return
        self._stop_reading_requests()
        lose_write_connection = getattr(self.transport, "loseWriteConnection", None)
        if lose_write_connection is None:  # e.g. TLS, which has no half-close
            self.transport.loseConnection()
            return
        self.transport.resumeProducing()  # in case we were paused: drain, do not stall
        lose_write_connection()

    def _stop_reading_requests(self):
        if self.closing:
            return
        self.closing = True
        self._pieces = ()
        self._pieces_size = 0
        self._buffer = b""
        # A registered streaming producer keeps the transport from closing if it is
        # paused when the write buffer drains: unregister first, then let it drain.
        self.transport.unregisterProducer()

    # TimeoutMixin

    def timeoutConnection(self):
        if self.closing:
            # Still here one timeout after we decided to close: the client does not
            # read its last replies, or does not stop sending. Stop waiting for it.
            self.transport.abortConnection()
        else:
            self.close()  # quietly: an idle client gets no message, just the end
            self.setTimeout(self.timeout)

    # IHalfCloseableProtocol: a client may shut down its sending side after its last
    # request and still read every reply; the end of its requests is our cue to close.

    def readConnectionLost(self):
        self.close()  # an unfinished last line (no "\n") is discarded

    def writeConnectionLost(self):
        # hang_up()'s FIN is sent, so every reply is out: give the client LINGER
        # seconds to read them and close; timeoutConnection() then aborts.
        self.setTimeout(LINGER)

    # IPushProducer: called by the transport, about its write buffer.

    def pauseProducing(self):
        self.transport.pauseProducing()  # stop reading requests until replies drain

    def resumeProducing(self):
        self.transport.resumeProducing()

    def stopProducing(self):
        pass  # the connection is being lost; connectionLost() follows


class LineServerFactory(ServerFactory):
    """Build one LineServer per connection, all answering with the same function."""

    noisy = False  # no "Starting factory" lines among the lecture's output under twistd

    def __init__(self, answer, timeout=60, print_received=False):
        self.answer = answer
        self.timeout = timeout
        self.print_received = print_received

    def buildProtocol(self, addr):
        protocol = LineServer(self.answer, self.timeout, self.print_received)
        protocol.factory = self
        return protocol
