"""TCP client of the slides' demo (ex0_hello), on Twisted: connect, print the greeting.

    python3 -m twisted_impl.ex0_hello.tcpclient    # beside its tcpserver

It sends nothing: connecting is enough, and the server's close ends the greeting.
"""

from twisted_impl import common

PORT = 12345  # the slides' port


def main(argv=None):
    with common.quiet_ctrl_c():  # Ctrl+C while Twisted loads: exit status 130, quietly
        args = common.parsed(parse_args, argv)  # --help answers before Twisted loads
        from twisted_impl import client

        client.run_tcp_until_closed(args)


def parse_args(argv):
    parser = common.make_parser(
        description="The slides' demo, TCP client: "
        "connects to the server and prints its greeting.",
        epilog="Exit status: 0 on a greeting, 1 when the server cannot be reached, "
        "2 on wrong arguments.",
        port=PORT,
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
