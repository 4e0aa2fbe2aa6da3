"""TCP server of Bài 3 (ex3_password): the client sends passwords, the server the valid ones.

Lecture "Python Sockets", Bài 3, on Twisted (event-driven). Run from the repository root:

    python3 -m twisted_impl.ex3_password.tcpserver                           # terminal 1
    python3 -m twisted_impl.ex3_password.tcpclient 'Abc123@1,aF1#2w3E*,2We3345' # terminal 2

Its blocking twin is basic/ex3_password/tcpserver.py: the same protocol, one thread per client.
"""

from twisted_impl.ex3_password.logic import valid_passwords
from twisted_impl.lineserver import LineServer
from twisted_impl.serve import run_tcp

PORT = 8092  # the lecture's port for Bài 3


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
        self.send_reply(valid_passwords(line.decode("utf-8", "replace")))


if __name__ == "__main__":
    main()
