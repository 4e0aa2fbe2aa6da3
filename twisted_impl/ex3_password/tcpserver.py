"""Bài 3 (ex3_password), TCP server on Twisted: answer each line with its valid passwords.

Run from the repository root:  python3 -m twisted_impl.ex3_password.tcpserver [--port 0]
Its blocking twin is basic/ex3_password/tcpserver.py; the rule itself is in logic.py.
"""

from twisted_impl.ex3_password.logic import valid_passwords
from twisted_impl.lineserver import LineServerFactory
from twisted_impl.serve import run_tcp

PORT = 8092


def make_factory(timeout):
    return LineServerFactory(valid_passwords, timeout)


def main(argv=None):
    run_tcp(make_factory, PORT, __doc__, argv)


if __name__ == "__main__":
    main()
