"""UDP for the Twisted clients: each request one datagram, each reply one datagram.

udp_session sends each request and prints its reply, one at a time; udp_ask sends one
request, from a port of its own, and tries again when no reply comes. ReplyCatcher is
the protocol that listens on that port.
"""

import errno
import os
import socket

from twisted.internet import error
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import DatagramProtocol

from twisted_impl import session
from twisted_impl.client import ClientError, show

TRIES = 3  # a UDP request is sent this many times before the client gives up
MAX_DATAGRAM = 65535  # the largest UDP payload: a reply datagram is read whole


async def udp_session(reactor, args, requests):
    """Send each request as a datagram, print each reply; the exit status."""
    server = await session.resolve(reactor, args.host, args.port, socket.SOCK_DGRAM)
    status = 0
    async for request in requests:
        reply = await udp_ask(reactor, server, request, args.host, args.port, args.timeout)
        if show(reply):
            status = 1  # an ERROR reply: say so at the end, but go on with the next
    return status


async def udp_ask(reactor, server, request, host, port, timeout):
    """Send one request datagram, up to TRIES times; return the reply datagram.

    Each request has a socket (a listening port) of its own: a late reply to a lost
    request then reaches a closed port, and can never be taken for the next reply.
    """
    catcher = ReplyCatcher(reactor, server)
    interface = "::" if ":" in server[0] else "0.0.0.0"
    try:
        listening = reactor.listenUDP(0, catcher, interface=interface, maxPacketSize=MAX_DATAGRAM)
    except error.CannotListenError as failure:  # no IPv6 on this computer, say
        reason = failure.socketError.strerror or failure.socketError
        raise ClientError(f"cannot connect to {host} port {port}: {reason}") from None
    try:
        for _ in range(TRIES):
            try:
                listening.write(request, server)
            except (ConnectionRefusedError, ConnectionResetError):
                pass  # an earlier try was refused (Windows says so here): a lost try
            except error.MessageLengthError:  # more than one datagram can hold
                reason = os.strerror(errno.EMSGSIZE)
                raise ClientError(f"cannot connect to {host} port {port}: {reason}") from None
            except OSError as failure:  # no route to the server, say
                reason = failure.strerror or failure
                raise ClientError(f"cannot connect to {host} port {port}: {reason}") from None
            reply = await catcher.wait(timeout / TRIES)
            if reply is not None:
                return reply
    finally:
        listening.stopListening()
    raise ClientError(f"no reply from {host} port {port} after {TRIES} tries in "
                      f"{timeout:g} seconds (is the server running?)")


class ReplyCatcher(DatagramProtocol):
    """Keeps the first datagram that comes from the server; others are not replies."""

    def __init__(self, reactor, server):
        self.reactor = reactor
        self.server = server
        self.reply = None
        self._waiting = None

    def datagramReceived(self, data, addr):
        if addr[:2] != self.server or self.reply is not None:
            return
        self.reply = data
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            waiting.callback(data)

    def wait(self, seconds):
        """A Deferred that fires with the reply, or with None when seconds have passed."""
        if self.reply is not None:
            return succeed(self.reply)
        self._waiting = Deferred(canceller=self._forget)
        return self._waiting.addTimeout(seconds, self.reactor, onTimeoutCancel=lambda *_: None)

    def _forget(self, waiting):
        self._waiting = None
