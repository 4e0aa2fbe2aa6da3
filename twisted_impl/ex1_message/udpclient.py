"""UDP client of Bài 1 (ex1_message), on Twisted: the TCP client's options (see
tcpclient.py), MESSAGE sent as one datagram; the server answers From SERVER UDP.

    python3 -m twisted_impl.ex1_message.udpclient "Xin chào"    # beside its udpserver
"""

from twisted_impl import common
from twisted_impl.ex1_message.tcpclient import PORT, parse_args as parse_tcp_args


def main(argv=None):
    with common.quiet_ctrl_c():  # Ctrl+C while Twisted loads: exit status 130, quietly
        args = common.parsed(parse_args, argv)  # --help answers before Twisted loads
        from twisted_impl import client

        client.run_udp(args)


def parse_args(argv):
    return parse_tcp_args(argv, "UDP")


if __name__ == "__main__":
    main()
