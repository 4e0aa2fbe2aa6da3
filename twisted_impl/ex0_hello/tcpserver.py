"""The slides' demo (ex0_hello), TCP server on Twisted: greet each client, then close.

Run from the repository root:  python3 -m twisted_impl.ex0_hello.tcpserver [--port 0]
Its blocking twin is basic/ex0_hello/tcpserver.py.
"""

from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from twisted_impl.lineserver import peer_of
from twisted_impl.serve import run_tcp

PORT = 12345
GREETING = "Thank you for connecting"

log = Logger()


class Greeter(Protocol):
    """The lecture's accept(), send() and close(), as events: no request to wait for."""

    def connectionMade(self):
        log.info("Got connection from {peer!r}", peer=peer_of(self.transport.getPeer()))
        self.transport.write((GREETING + "\n").encode("ascii"))
        self.transport.loseConnection()  # after the greeting is sent, not before


def make_factory(timeout):
    """What serves each connection (the greeting needs no idle timeout)."""
    return Factory.forProtocol(Greeter)


def main(argv=None):
    run_tcp(make_factory, PORT, __doc__, argv)


if __name__ == "__main__":
    main()
