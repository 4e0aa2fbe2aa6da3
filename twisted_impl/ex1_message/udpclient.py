"""UDP client of Bài 1 (ex1_message), on Twisted: tcpclient.py's options, MESSAGE sent
as one datagram: `python3 -m twisted_impl.ex1_message.udpclient "Xin chào"`."""

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
