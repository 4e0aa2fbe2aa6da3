"""TCP server of Bài 3 (ex3_password): the client sends passwords, the server the valid ones.

On Twisted (event-driven); its blocking twin is basic/ex3_password/tcpserver.py, with the
same names in the same order. Run from the repository root:
`python3 -m twisted_impl.ex3_password.tcpserver` (port 8092), then in a second terminal
`python3 -m twisted_impl.ex3_password.tcpclient 'Abc123@1,aF1#2w3E*'`.
"""

import re

from twisted.internet import task

from twisted_impl.common import server_args
from twisted_impl.server import (
    LineServer, LineServerFactory, exit_if_cannot_listen, print_log, serve_until_stopped,
    tcp_endpoint)

PORT = 8092  # the lecture's port for Bài 3
TIMEOUT = 60  # seconds a client may take to finish a request before we close it


def main(argv=None):
    args = parse_args(argv)
    print_log()  # what basic/ prints, as plain lines
    task.react(serve, (args,))  # run the reactor until serve() ends, or Ctrl+C


async def serve(reactor, args):
    factory = LineServerFactory(Handle, args.timeout, args.max_clients, args.max_per_address)
    endpoint = tcp_endpoint(reactor, args.host, args.port)
    # The slides' socket(), bind() and listen() are this one call; their accept() loop
    # is the reactor's, which asks the factory for one Handle per client it accepts.
    with exit_if_cannot_listen(args.host, args.port):
        listening = await endpoint.listen(factory)
    await serve_until_stopped(reactor, "TCP", args.host, listening)


class Handle(LineServer):
    """One client: basic's handle(), as events: Twisted calls lineReceived per request."""

    def lineReceived(self, line):
        self.send_reply(valid_passwords(line.decode("utf-8", "replace")))


MIN_LENGTH, MAX_LENGTH = 6, 12  # the lecture's limits on a password's length
# A password is made of these characters only, and needs one of each class below.
# Spelled out ASCII ranges: str.isalnum() or r"\w" would also accept "é" or "１".
ALLOWED = re.compile(r"[a-zA-Z0-9$#@]{%d,%d}" % (MIN_LENGTH, MAX_LENGTH))
REQUIRED = [re.compile(r"[a-z]"), re.compile(r"[0-9]"), re.compile(r"[A-Z]"),
            re.compile(r"[$#@]")]


def valid_passwords(text: str) -> str:
    """Bài 3's logic: the valid passwords of a comma-separated `text`, joined by ",".

    Spaces and tabs around each item are ignored, and so are empty items. A password is
    valid with 6 to 12 characters, all of [a-zA-Z0-9$#@], and at least one of [a-z],
    [0-9], [A-Z] and [$#@]. Order and duplicates are kept; no valid one gives "".
    """
    valid = []
    for item in text.split(","):
        password = item.strip(" \t")  # only these: a "\u00a0" stays and spoils it
        if ALLOWED.fullmatch(password) and all(c.search(password) for c in REQUIRED):
            valid.append(password)
    return ",".join(valid)


# ----- Beyond the slides -----
# The framing, the limits and the idle timeout are LineServer's, in twisted_impl/server.py.

def parse_args(argv):
    return server_args("TCP", __doc__, PORT, argv, TIMEOUT)


if __name__ == "__main__":
    main()
