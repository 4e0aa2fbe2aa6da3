"""TCP server of Bài 1 (ex1_message): prints each message, answers "From SERVER TCP".

On Twisted (event-driven); its blocking twin is basic/ex1_message/tcpserver.py, with the
same names in the same order. Run from the repository root:
`python3 -m twisted_impl.ex1_message.tcpserver` (port 8090), then in a second terminal
`python3 -m twisted_impl.ex1_message.tcpclient`.
"""

from twisted.internet import task
from twisted.logger import Logger

from twisted_impl.common import printable, server_args
from twisted_impl.server import (
    LineServer, LineServerFactory, exit_if_cannot_listen, print_log, serve_until_stopped,
    tcp_endpoint)

PORT = 8090  # the lecture's port for Bài 1
TIMEOUT = 60  # seconds a client may take to finish a request before we close it

log = Logger()


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
        text = line.decode("utf-8", "replace")
        # The exercise asks each side to print what it got; printable() keeps a
        # client's control characters from clearing or forging the teacher's screen.
        log.info("Received from {peer!r}: {text}", peer=self.peer, text=printable(text))
        self.send_reply(answer(text))


def answer(text: str) -> str:
    """Bài 1's logic: whatever the client says, the server's message."""
    return "From SERVER TCP"


# ----- Beyond the slides -----
# The framing, the limits and the idle timeout are LineServer's, in twisted_impl/server.py.

def parse_args(argv):
    return server_args("TCP", __doc__, PORT, argv, TIMEOUT)


if __name__ == "__main__":
    main()
