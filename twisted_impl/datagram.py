"""The UDP side of every Twisted server: one datagram in, one datagram back.

Like twisted_impl/lineserver.py for TCP, `DatagramServer` only does the wire work; the
answer comes from a plain function `answer(text) -> str` chosen by each exercise.
"""

from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from twisted_impl.wire import printable

# UDP has no stream to frame: a datagram arrives whole or not at all, up to 65507 bytes
# over IPv4. Twisted reads 8192 bytes by default and silently drops the rest, so listen
# with reactor.listenUDP(..., maxPacketSize=MAX_DATAGRAM).
MAX_DATAGRAM = 65536

log = Logger()


class DatagramServer(DatagramProtocol):
    """Answer each datagram with one datagram to its sender."""

    noisy = False

    def __init__(self, answer, print_received=False):
        self.answer = answer
        self.print_received = print_received

    def datagramReceived(self, data, address):
        peer = tuple(address[:2])  # IPv6 adds flow info and scope id: show (host, port)
        log.info("Got datagram from {peer!r}", peer=peer)
        # A trailing "\n" or "\r\n" is removed, as from a TCP line; a "\r" alone at the
        # end is data, as it is inside a TCP line ("3 4\r" is not two integers).
        line = data.endswith(b"\n")
        if line:
            data = data[:-1]
            if data.endswith(b"\r"):
                data = data[:-1]
        text = data.decode("utf-8", "replace")
        if self.print_received:
            log.info("Received from {peer!r}: {text}", peer=peer, text=printable(text))
        try:
            reply = self.answer(text).encode("utf-8")
        except Exception:
            log.failure("Cannot answer {peer!r}: {text!r}", peer=peer, text=text)
            return
        # The reply ends in "\n" when the request did, as a TCP line's reply does; a
        # bare request (the slides' sendto() of a string) gets a bare reply, except an
        # empty one: the "\n" keeps it from looking like no reply at all.
        if line or not reply:
            reply += b"\n"
        try:
            self.transport.write(reply, address)
        except Exception as error:
            # A full socket buffer or an unreachable sender loses this one reply (UDP
            # may lose datagrams anyway); the server goes on serving the others.
            log.warn("Cannot reply to {peer!r}: {error}", peer=peer, error=error)
