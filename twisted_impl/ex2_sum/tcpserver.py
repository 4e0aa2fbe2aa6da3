"""TCP server of Bài 2 (ex2_sum): the client sends two integers, the server sends their sum.

Lecture "Python Sockets", Bài 2, on Twisted (event-driven). Run from the repository root:

    python3 -m twisted_impl.ex2_sum.tcpserver     # terminal 1: the server, port 8091
    python3 -m twisted_impl.ex2_sum.tcpclient 3 4 # terminal 2: the client, prints 7

Its blocking twin is basic/ex2_sum/tcpserver.py: the same protocol, one thread per client.
"""

from twisted_impl.ex2_sum.logic import add_line
from twisted_impl.lineserver import LineServer
from twisted_impl.serve import run_tcp

PORT = 8091  # the lecture's port for Bài 2


def main(argv=None):
    # socket(), bind(), listen() and the accept loop are the reactor's: run_tcp listens
    # on PORT, prints "Got connection from" and builds one Handle per accepted client.
    run_tcp(Handle, PORT, __doc__, argv)


class Handle(LineServer):
    """One client. basic's handle() loops on recv(); here Twisted calls us per request.

    The framing, the limits, the idle timeout and the bare messages of the slides'
    programs are LineServer's (twisted_impl/lineserver.py).
    """

    def lineReceived(self, line):
        self.send_reply(add_line(line.decode("utf-8", "replace")))


if __name__ == "__main__":
    main()
