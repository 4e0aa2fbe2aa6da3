"""Bài 1 (ex1_message), TCP server on Twisted: print each message, answer "From SERVER TCP".

Run from the repository root:  python3 -m twisted_impl.ex1_message.tcpserver [--port 0]
Its blocking twin is basic/ex1_message/tcpserver.py.
"""

from twisted_impl.lineserver import LineServerFactory
from twisted_impl.serve import run_tcp

PORT = 8090
REPLY = "From SERVER TCP"


def answer(text):
    """Every line, empty or not, gets the same reply."""
    return REPLY


def make_factory(timeout):
    # print_received: the exercise asks each side to print what it got.
    return LineServerFactory(answer, timeout, print_received=True)


def main(argv=None):
    run_tcp(make_factory, PORT, __doc__, argv)


if __name__ == "__main__":
    main()
