"""Bài 3 (ex3_password), UDP server on Twisted: answer each datagram with its valid passwords.

Run from the repository root:  python3 -m twisted_impl.ex3_password.udpserver [--port 0]
Its blocking twin is basic/ex3_password/udpserver.py; the rule, valid_passwords, is tcpserver.py's.
"""

from twisted_impl.ex3_password.tcpserver import PORT, valid_passwords
from twisted_impl.server import DatagramServer, run_udp


def make_protocol():
    return DatagramServer(valid_passwords)


def main(argv=None):
    run_udp(make_protocol, PORT, __doc__, argv)


if __name__ == "__main__":
    main()
