"""Bài 1 (ex1_message), UDP server on Twisted: print each message, answer "From SERVER UDP".

Run from the repository root:  python3 -m twisted_impl.ex1_message.udpserver [--port 0]
Its blocking twin is basic/ex1_message/udpserver.py.
"""

from twisted_impl.ex1_message.tcpserver import PORT
from twisted_impl.server import DatagramServer, run_udp

REPLY = "From SERVER UDP"


def answer(text):
    """Every datagram, empty or not, gets the same reply."""
    return REPLY


def make_protocol():
    return DatagramServer(answer, print_received=True)  # the exercise: print what came


def main(argv=None):
    run_udp(make_protocol, PORT, __doc__, argv)


if __name__ == "__main__":
    main()
