"""TCP client of Bài 1 (ex1_message), on Twisted: send a message, print the server's answer.

Run it from the repository root, beside a server:

    python3 -m twisted_impl.ex1_message.tcpserver              # terminal 1
    python3 -m twisted_impl.ex1_message.tcpclient              # terminal 2: From SERVER TCP
    python3 -m twisted_impl.ex1_message.tcpclient "Xin chào"   # the same answer

Without MESSAGE it sends the lecture's "From CLIENT TCP". The connection, the reply and
the failures are twisted_impl/client.py's business.
"""

from twisted_impl import client

PORT = 8090  # Bài 1's port
MESSAGE = "From CLIENT TCP"  # what the lecture's client sends


def parse_args(argv):
    parser = client.make_parser(
        description="Bài 1 TCP client: sends MESSAGE to the server, prints its answer "
        "(From SERVER TCP).",
        epilog="Exit status: 0 on a reply, 1 on an ERROR reply or when the server cannot "
        "be reached, 2 on wrong arguments.",
        port=PORT,
    )
    parser.add_argument("message", nargs="?", default=MESSAGE, metavar="MESSAGE",
                        help=f"one line of text to send (default: {MESSAGE})")
    args = parser.parse_args(argv)
    args.requests = [client.single_line(parser, "MESSAGE", args.message)]
    return args


def main(argv=None):
    client.run_tcp(parse_args, argv)


if __name__ == "__main__":
    main()
