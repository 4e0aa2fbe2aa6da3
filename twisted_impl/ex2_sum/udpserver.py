"""Bài 2 (ex2_sum), UDP server on Twisted: answer each datagram "A B" with the sum A+B.

Run from the repository root:  python3 -m twisted_impl.ex2_sum.udpserver [--port 0]
Its blocking twin is basic/ex2_sum/udpserver.py; the rule, add_line, is tcpserver.py's.
"""

from twisted_impl.ex2_sum.tcpserver import PORT, add_line
from twisted_impl.server import DatagramServer, run_udp


def make_protocol():
    return DatagramServer(add_line)


def main(argv=None):
    run_udp(make_protocol, PORT, __doc__, argv)


if __name__ == "__main__":
    main()
