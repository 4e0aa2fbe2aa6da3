"""The slides' demo (ex0_hello), UDP server on Twisted: any datagram gets the greeting.

Run from the repository root:  python3 -m twisted_impl.ex0_hello.udpserver [--port 0]
Its blocking twin is basic/ex0_hello/udpserver.py.
"""

from twisted_impl.ex0_hello.tcpserver import GREETING, PORT
from twisted_impl.server import DatagramServer, run_udp


def make_protocol():
    # UDP has no connection to greet: any datagram, even an empty one, stands for it.
    return DatagramServer(lambda text: GREETING)


def main(argv=None):
    run_udp(make_protocol, PORT, __doc__, argv)


if __name__ == "__main__":
    main()
