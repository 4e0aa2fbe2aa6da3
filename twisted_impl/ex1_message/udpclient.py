"""UDP client of Bài 1 (ex1_message), on Twisted: send a message, print the server's answer.

Run it from the repository root, beside a server:

    python3 -m twisted_impl.ex1_message.udpserver              # terminal 1
    python3 -m twisted_impl.ex1_message.udpclient              # terminal 2: From SERVER UDP
    python3 -m twisted_impl.ex1_message.udpclient "Xin chào"   # the same answer

Without MESSAGE it sends the lecture's "From CLIENT UDP". Sending, retrying, the reply and
the failures are the business of
twisted_impl/client.py and the modules it names.
"""

from twisted_impl import client
from twisted_impl.ex1_message.tcpclient import PORT, parse_args as parse_tcp_args


def main(argv=None):
    client.run_udp(parse_args, argv)


def parse_args(argv):
    """The same options and arguments as the TCP client's."""
    return parse_tcp_args(argv, "UDP")


if __name__ == "__main__":
    main()
