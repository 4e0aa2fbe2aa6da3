"""UDP client of Bài 3 (ex3_password), on Twisted: send passwords, print the valid ones.

Run it from the repository root, beside a server:

    python3 -m twisted_impl.ex3_password.udpserver                  # terminal 1
    python3 -m twisted_impl.ex3_password.udpclient 'Abc123@1,aF1#2w3E*,2We3345'
    printf 'Abc123@1\\nabc\\n' | python3 -m twisted_impl.ex3_password.udpclient

Without PASSWORDS it reads one request per line from standard input until its end
(Ctrl+D, or Ctrl+Z then Enter on Windows): each line is one datagram. The server checks the
passwords and judges the input: this client sends what it is given, as is.
"""

from twisted_impl import common
from twisted_impl.ex3_password.tcpclient import PORT, PROMPT, parse_args as parse_tcp_args


def main(argv=None):
    with common.quiet_ctrl_c():  # Ctrl+C while Twisted loads: exit status 130, quietly
        args = common.parsed(parse_args, argv)  # --help answers before Twisted loads
        from twisted_impl import client

        client.run_udp(args, PROMPT)


def parse_args(argv):
    """The same options and arguments as the TCP client's."""
    return parse_tcp_args(argv, "UDP")


if __name__ == "__main__":
    main()
