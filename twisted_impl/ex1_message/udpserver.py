"""Bài 1 (ex1_message), UDP server on Twisted: print each message, answer "From SERVER UDP".

Run from the repository root:  python3 -m twisted_impl.ex1_message.udpserver [--port 0]
Its blocking twin is basic/ex1_message/udpserver.py.
"""

from twisted_impl.ex1_message.tcpserver import PORT
from twisted_impl.server import DatagramServer, run_udp

REPLY = "From SERVER UDP"


def make_protocol():
    # Every datagram, empty or not, gets the same reply; the exercise asks each side
    # to print what it got.
    return DatagramServer(lambda text: REPLY, print_received=True)


def main(argv=None):
    run_udp(make_protocol, PORT, __doc__, argv)


if __name__ == "__main__":
    main()
