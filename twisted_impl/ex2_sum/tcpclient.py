"""TCP client of Bài 2 (ex2_sum), on Twisted: send two integers, print their sum.

    python3 -m twisted_impl.ex2_sum.tcpclient 3 4        # beside its tcpserver: prints 7
    printf '1 2\\n10 20\\n' | python3 -m twisted_impl.ex2_sum.tcpclient

Without A B, each line of standard input is one request, all over one connection. The
server does the arithmetic and judges the input: this client sends it as is.
"""

from twisted_impl import common

PORT = 8091  # Bài 2's port
PROMPT = "Two integers, like 3 4: "


def main(argv=None):
    with common.quiet_ctrl_c():  # Ctrl+C while Twisted loads: exit status 130, quietly
        args = common.parsed(parse_args, argv)  # --help answers before Twisted loads
        from twisted_impl import client

        client.run_tcp(args, PROMPT)


def parse_args(argv, transport="TCP"):
    """The options and the requests; udpclient.py's too, with transport="UDP"."""
    parser = common.make_parser(
        description=f"Bài 2 {transport} client: sends two integers A B to the server, "
        "prints their sum.",
        epilog="Without A B, every line of standard input is one request (end it with "
        "Ctrl+D, or Ctrl+Z then Enter on Windows). Negative numbers work as they are: "
        f"{transport.lower()}client.py -5 12. Exit status: 0 if every reply was a sum, 1 on an ERROR "
        "reply or when the server cannot be reached, 2 on wrong arguments.",
        port=PORT,
    )
    parser.add_argument("a", nargs="?", metavar="A", help="first integer, like 3")
    parser.add_argument("b", nargs="?", metavar="B", help="second integer, like 4")
    args = parser.parse_args(argv)
    if (args.a is None) != (args.b is None):
        parser.error("give both A and B, or neither (to read lines from standard input)")
    args.requests = None  # None: every line of standard input is one request
    if args.a is not None:
        a = common.single_line(parser, "A", args.a)
        b = common.single_line(parser, "B", args.b)
        args.requests = [a + b" " + b]
    return args


if __name__ == "__main__":
    main()
