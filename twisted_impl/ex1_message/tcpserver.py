"""TCP server of Bài 1 (ex1_message): prints each message, answers "From SERVER TCP".

Lecture "Python Sockets", Bài 1, on Twisted (event-driven). Run from the repository root:

    python3 -m twisted_impl.ex1_message.tcpserver   # terminal 1: the server, port 8090
    python3 -m twisted_impl.ex1_message.tcpclient   # terminal 2: prints From SERVER TCP

Its blocking twin is basic/ex1_message/tcpserver.py: the same protocol, one thread per client.
"""

from twisted.logger import Logger

from twisted_impl.lineserver import LineServer
from twisted_impl.serve import run_tcp
from twisted_impl.wire import printable

PORT = 8090  # the lecture's port for Bài 1

log = Logger()


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
        text = line.decode("utf-8", "replace")
        # The exercise asks each side to print what it got; printable() keeps a
        # client's control characters from clearing or forging the teacher's screen.
        log.info("Received from {peer!r}: {text}", peer=self.peer, text=printable(text))
        self.send_reply(answer(text))


def answer(text):
    """Bài 1's rule: every message, empty or not, gets the same reply."""
    return "From SERVER TCP"


if __name__ == "__main__":
    main()
