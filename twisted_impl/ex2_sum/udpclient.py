"""UDP client of Bài 2 (ex2_sum), on Twisted: send two integers, print their sum.

Run it from the repository root, beside a server:

    python3 -m twisted_impl.ex2_sum.udpserver            # terminal 1
    python3 -m twisted_impl.ex2_sum.udpclient 3 4        # terminal 2: prints 7
    printf '1 2\\n10 20\\n' | python3 -m twisted_impl.ex2_sum.udpclient

Without A B it reads one request per line from standard input until its end (Ctrl+D,
or Ctrl+Z then Enter on Windows): each line is one datagram. The server does the
arithmetic and judges the input: this client sends what it is given, as is. Sending,
retrying, the replies and the failures are the business of
twisted_impl/client.py and the modules it names.
"""

from twisted_impl import client
from twisted_impl.ex2_sum.tcpclient import PORT, PROMPT, parse_args as parse_tcp_args


def main(argv=None):
    client.run_udp(parse_args, argv, PROMPT)


def parse_args(argv):
    """The same options and arguments as the TCP client's."""
    return parse_tcp_args(argv, "UDP")


if __name__ == "__main__":
    main()
