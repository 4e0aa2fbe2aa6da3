"""UDP client of Bài 3 (ex3_password), on Twisted: send passwords, print the valid ones.

Run it from the repository root, beside a server:

    python3 -m twisted_impl.ex3_password.udpserver                  # terminal 1
    python3 -m twisted_impl.ex3_password.udpclient 'Abc123@1,aF1#2w3E*,2We3345'
    printf 'Abc123@1\\nabc\\n' | python3 -m twisted_impl.ex3_password.udpclient

Without PASSWORDS it reads one request per line from standard input until its end
(Ctrl+D, or Ctrl+Z then Enter on Windows): each line is one datagram. The server checks the
passwords and judges the input: this client sends what it is given, as is. Sending,
retrying, the replies and the failures are the business of
twisted_impl/client.py and the modules it names.
"""

from twisted_impl import client
from twisted_impl.ex3_password.tcpclient import PORT, PROMPT, parse_args as parse_tcp_args


def main(argv=None):
    client.run_udp(parse_args, argv, PROMPT)


def parse_args(argv):
    """The same options and arguments as the TCP client's."""
    return parse_tcp_args(argv, "UDP")


if __name__ == "__main__":
    main()
