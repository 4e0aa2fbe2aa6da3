"""UDP client of Bài 3 (ex3_password), on Twisted: the TCP client's options (see
tcpclient.py), each request one datagram.

    python3 -m twisted_impl.ex3_password.udpclient 'Abc123@1,aF1#2w3E*,2We3345'
"""

from twisted_impl import common
from twisted_impl.ex3_password.tcpclient import PORT, PROMPT, parse_args as parse_tcp_args


def main(argv=None):
    with common.quiet_ctrl_c():  # Ctrl+C while Twisted loads: exit status 130, quietly
        args = common.parsed(parse_args, argv)  # --help answers before Twisted loads
        from twisted_impl import client

        client.run_udp(args, PROMPT)


def parse_args(argv):
    return parse_tcp_args(argv, "UDP")


if __name__ == "__main__":
    main()
