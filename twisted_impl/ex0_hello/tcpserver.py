"""TCP server of the slides' demo (ex0_hello): greets each client, then hangs up.

On Twisted (event-driven); its blocking twin is basic/ex0_hello/tcpserver.py, with the
same names in the same order. Run from the repository root:
`python3 -m twisted_impl.ex0_hello.tcpserver` (port 12345), then in a second terminal
`python3 -m twisted_impl.ex0_hello.tcpclient`.
"""

from twisted.internet import task

from twisted_impl.common import server_args
from twisted_impl.server import (
    LineServer, LineServerFactory, exit_if_cannot_listen, print_log, serve_until_stopped,
    tcp_endpoint)

PORT = 12345  # the slides' port
TIMEOUT = 60  # seconds we wait for a client that doesn't take its greeting

GREETING = "Thank you for connecting"


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
    """One client: the lecture's send() and close(), as events, with no request to wait for."""

    def connectionMade(self):
        super().connectionMade()  # "Got connection from", the limits
        self.transport.write((GREETING + "\n").encode("ascii"))
        self.transport.loseConnection()  # after the greeting is sent, not before


# ----- Beyond the slides -----
# The framing, the limits and the idle timeout are LineServer's, in twisted_impl/server.py.

def parse_args(argv):
    return server_args("TCP", __doc__, PORT, argv, TIMEOUT)


if __name__ == "__main__":
    main()
