"""TCP server of the slides' demo (ex0_hello): greets each client, then hangs up.

Lecture "Python Sockets", the first example server, on Twisted (event-driven).
Run from the repository root:

    python3 -m twisted_impl.ex0_hello.tcpserver   # terminal 1: the server, port 12345
    python3 -m twisted_impl.ex0_hello.tcpclient   # terminal 2: prints the greeting

Its blocking twin is basic/ex0_hello/tcpserver.py.
"""

from twisted_impl.lineserver import LineServer
from twisted_impl.serve import run_tcp

PORT = 12345  # the slides' port
GREETING = "Thank you for connecting"


def main(argv=None):
    # socket(), bind(), listen() and the accept loop are the reactor's: run_tcp listens
    # on PORT, prints "Got connection from" and builds one Handle per accepted client.
    run_tcp(Handle, PORT, __doc__, argv)


class Handle(LineServer):
    """One client: the lecture's send() and close(), as events, with no request to wait for."""

    def connectionMade(self):
        super().connectionMade()  # "Got connection from", the limits
        self.transport.write((GREETING + "\n").encode("ascii"))
        self.transport.loseConnection()  # after the greeting is sent, not before


if __name__ == "__main__":
    main()
