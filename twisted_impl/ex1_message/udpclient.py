"""UDP client of Bài 1 (ex1_message), on Twisted: send a message, print the server's answer.

Run it from the repository root, beside a server:

    python3 -m twisted_impl.ex1_message.udpserver              # terminal 1
    python3 -m twisted_impl.ex1_message.udpclient              # terminal 2: From SERVER UDP
    python3 -m twisted_impl.ex1_message.udpclient "Xin chào"   # the same answer

Without MESSAGE it sends the lecture's "From CLIENT UDP".
"""

from twisted_impl import common
from twisted_impl.ex1_message.tcpclient import PORT, parse_args as parse_tcp_args


def main(argv=None):
    with common.quiet_ctrl_c():  # Ctrl+C while Twisted loads: exit status 130, quietly
        args = common.parsed(parse_args, argv)  # --help answers before Twisted loads
        from twisted_impl import client

        client.run_udp(args)


def parse_args(argv):
    """The same options and arguments as the TCP client's."""
    return parse_tcp_args(argv, "UDP")


if __name__ == "__main__":
    main()
