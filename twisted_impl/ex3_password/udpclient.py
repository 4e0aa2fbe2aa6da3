"""UDP client of Bài 3 (ex3_password), on Twisted: tcpclient.py's options, each request
one datagram: `python3 -m twisted_impl.ex3_password.udpclient 'Abc123@1,aF1#2w3E*'`."""

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
