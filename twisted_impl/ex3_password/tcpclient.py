"""TCP client of Bài 3 (ex3_password), on Twisted: send passwords, print the valid ones.

    python3 -m twisted_impl.ex3_password.tcpclient 'Abc123@1,aF1#2w3E*,2We3345'
    printf 'Abc123@1\\nabc\\n' | python3 -m twisted_impl.ex3_password.tcpclient

Without PASSWORDS, each line of standard input is one request, all over one connection.
The server judges the passwords: this client sends them as is.
"""

from twisted_impl import common

PORT = 8092  # Bài 3's port
PROMPT = "Passwords, comma-separated: "


def main(argv=None):
    with common.quiet_ctrl_c():  # Ctrl+C while Twisted loads: exit status 130, quietly
        args = common.parsed(parse_args, argv)  # --help answers before Twisted loads
        from twisted_impl import client

        client.run_tcp(args, PROMPT)


def parse_args(argv, transport="TCP"):
    """The options and the requests; udpclient.py's too, with transport="UDP"."""
    parser = common.make_parser(
        description=f"Bài 3 {transport} client: sends passwords, comma-separated, to the server, "
        "prints the valid ones (an empty line when none is).",
        epilog="Without PASSWORDS, every line of standard input is one request (end it "
        "with Ctrl+D, or Ctrl+Z then Enter on Windows). Quote PASSWORDS in the shell: "
        "'#', '$' and spaces mean something there. Exit status: 0 on replies, 1 on an "
        "ERROR reply or when the server cannot be reached, 2 on wrong arguments.",
        port=PORT,
    )
    parser.add_argument("passwords", nargs="?", metavar="PASSWORDS",
                        help="passwords separated by commas, like 'Abc123@1,aF1#2w3E*'")
    args = parser.parse_args(argv)
    args.requests = None  # None: every line of standard input is one request
    if args.passwords is not None:
        args.requests = [common.single_line(parser, "PASSWORDS", args.passwords)]
    return args


if __name__ == "__main__":
    main()
