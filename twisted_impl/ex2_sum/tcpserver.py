"""Bài 2 (ex2_sum), TCP server on Twisted: answer each line "A B" with the sum A+B.

Run from the repository root:  python3 -m twisted_impl.ex2_sum.tcpserver [--port 0]
Its blocking twin is basic/ex2_sum/tcpserver.py; the rule itself is in logic.py.
"""

from twisted_impl.ex2_sum.logic import add_line
from twisted_impl.lineserver import LineServerFactory
from twisted_impl.serve import run_tcp

PORT = 8091


def make_factory(timeout):
    return LineServerFactory(add_line, timeout)


def main(argv=None):
    run_tcp(make_factory, PORT, __doc__, argv)


if __name__ == "__main__":
    main()
