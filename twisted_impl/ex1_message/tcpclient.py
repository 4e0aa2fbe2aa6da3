"""TCP client of Bài 1 (ex1_message), on Twisted: send a message, print the server's answer.

    python3 -m twisted_impl.ex1_message.tcpclient              # beside its tcpserver
    python3 -m twisted_impl.ex1_message.tcpclient "Xin chào"   # From SERVER TCP
"""

from twisted_impl import common

PORT = 8090  # Bài 1's port
MESSAGE = "From CLIENT {}"  # what the lecture's client sends, over TCP or UDP


def main(argv=None):
    with common.quiet_ctrl_c():  # Ctrl+C while Twisted loads: exit status 130, quietly
        args = common.parsed(parse_args, argv)  # --help answers before Twisted loads
        from twisted_impl import client

        client.run_tcp(args)


def parse_args(argv, transport="TCP"):
    """The options and the request; udpclient.py's too, with transport="UDP"."""
    parser = common.make_parser(
        description=f"Bài 1 {transport} client: sends MESSAGE to the server, prints its "
        f"answer (From SERVER {transport}).",
        epilog="Exit status: 0 on a reply, 1 on an ERROR reply or when the server cannot "
        "be reached, 2 on wrong arguments.",
        port=PORT,
    )
    message = MESSAGE.format(transport)
    parser.add_argument("message", nargs="?", default=message, metavar="MESSAGE",
                        help=f"one line of text to send (default: {message})")
    args = parser.parse_args(argv)
    args.requests = [common.single_line(parser, "MESSAGE", args.message)]
    return args


if __name__ == "__main__":
    main()
