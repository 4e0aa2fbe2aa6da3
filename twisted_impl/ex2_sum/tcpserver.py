"""TCP server of Bài 2 (ex2_sum): the client sends two integers, the server their sum.

On Twisted (event-driven); its blocking twin is basic/ex2_sum/tcpserver.py, with the
same names in the same order. Run from the repository root:
`python3 -m twisted_impl.ex2_sum.tcpserver` (port 8091), then in a second terminal
`python3 -m twisted_impl.ex2_sum.tcpclient 3 4`.
"""

import re

from twisted.internet import task

from twisted_impl.common import server_args
from twisted_impl.server import (
    LineServer, LineServerFactory, exit_if_cannot_listen, print_log, serve_until_stopped,
    tcp_endpoint)

PORT = 8091  # the lecture's port for Bài 2
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
        self.send_reply(add_line(line.decode("utf-8", "replace")))


# Only ASCII digits, spaces and tabs: r"\d" and r"\s" would also match "٣" or "\u3000".
# Students' programs send "3 4" and "3,4": one comma between the integers is fine too.
TWO_INTEGERS = re.compile(r"[ \t]*([+-]?[0-9]+)(?:[ \t]*,[ \t]*|[ \t]+)([+-]?[0-9]+)[ \t]*")
MAX_DIGITS = 4000  # digits in one integer: int() of huge strings is slow, and so is str()
ERROR_SHAPE = 'ERROR expected two integers like "3 4"'
ERROR_DIGITS = "ERROR integer too long (max %d digits)" % MAX_DIGITS


def add_line(text: str) -> str:
    """Bài 2's logic: the sum of the two integers in `text`, or an ERROR text.

    Never eval(): that would run whatever a student on the network types.
    """
    match = TWO_INTEGERS.fullmatch(text)
    if match is None:
        return ERROR_SHAPE
    a, b = match.groups()
    if len(a.lstrip("+-")) > MAX_DIGITS or len(b.lstrip("+-")) > MAX_DIGITS:
        return ERROR_DIGITS
    return str(int(a) + int(b))


# ----- Beyond the slides -----
# The framing, the limits and the idle timeout are LineServer's, in twisted_impl/server.py.

def parse_args(argv):
    return server_args("TCP", __doc__, PORT, argv, TIMEOUT)


if __name__ == "__main__":
    main()
