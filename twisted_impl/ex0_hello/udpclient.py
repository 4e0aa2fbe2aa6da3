"""UDP client of the slides' demo (ex0_hello), on Twisted: UDP has no connection to
open, so it sends one empty datagram to be heard; the server answers with its greeting.

    python3 -m twisted_impl.ex0_hello.udpclient    # beside its udpserver
"""

from twisted_impl import common

PORT = 12345  # the slides' port


def main(argv=None):
    with common.quiet_ctrl_c():  # Ctrl+C while Twisted loads: exit status 130, quietly
        args = common.parsed(parse_args, argv)  # --help answers before Twisted loads
        from twisted_impl import client

        client.run_udp(args)


def parse_args(argv):
    parser = common.make_parser(
        description="The slides' demo, UDP client: "
        "sends an empty datagram to the server, prints its greeting.",
        epilog="Exit status: 0 on a greeting, 1 when the server cannot be reached, "
        "2 on wrong arguments.",
        port=PORT,
    )
    args = parser.parse_args(argv)
    args.requests = [b""]  # any datagram, even an empty one, gets the greeting
    return args


if __name__ == "__main__":
    main()
