"""twistd services: one exercise's TCP and UDP servers together, in one process.

    twistd -n ex2-sum                       # TCP and UDP on 127.0.0.1 port 8091
    twistd -n ex2-sum --port 0              # two free ports, both logged
    twistd -n ex2-sum --listen tcp:8091 --listen unix:/tmp/ex2.sock

As in the finger tutorial, the plugin (twisted/plugins/lecture_sockets.py) points at one
object of this module per exercise, with the `Options` and `makeService` twistd asks
for. The servers are the scripts' own: each tcpserver.py's `Handle` and each
udpserver.py's `make_protocol()`.
"""

import argparse
import os
import sys

from twisted.application import service
from twisted.internet import reactor
from twisted.internet.defer import maybeDeferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure

from twisted_impl.common import (
    HOST, PER_ADDRESS, PER_ADDRESS_HELP, RATE, RATE_HELP, cannot_listen, default_max_clients,
    default_per_address, default_rate, port_number, positive_integer, seconds)
from twisted_impl.ex0_hello import tcpserver as ex0_tcp, udpserver as ex0_udp
from twisted_impl.ex1_message import tcpserver as ex1_tcp, udpserver as ex1_udp
from twisted_impl.ex2_sum import tcpserver as ex2_tcp, udpserver as ex2_udp
from twisted_impl.ex3_password import tcpserver as ex3_tcp, udpserver as ex3_udp
from twisted_impl.server import (
    LineServerFactory, announce, ip_address, listen_udp, tcp_endpoint)

TIMEOUT = 60  # seconds a TCP connection may go without a complete request

log = Logger()


def checked(option, validator):
    """A usage.Options coerce function from one of the scripts' argparse validators."""
    def coerce(text):
        try:
            return validator(text)
        except argparse.ArgumentTypeError as error:
            raise usage.UsageError("{}: {}".format(option, error)) from None
    return coerce


def options_for(default_port):
    """The twistd options of one exercise: the scripts' options, plus --listen."""

    class Options(usage.Options):
        optParameters = [
            ["host", None, HOST, "address to listen on (0.0.0.0 or :: opens the server "
             "to the classroom network, ::1 is IPv6 loopback)"],
            ["port", "p", default_port, "port for TCP and UDP (0 lets the system pick)",
             checked("--port", port_number)],
            ["timeout", "t", TIMEOUT, "seconds a TCP connection may go without a complete "
             "request before the server closes it", checked("--timeout", seconds)],
            ["max-clients", None, default_max_clients(), "TCP clients served at once; a "
             "newcomer beyond is told the server is busy",
             checked("--max-clients", positive_integer)],
            ["max-per-address", None, None, PER_ADDRESS_HELP,
             checked("--max-per-address", positive_integer)],
            ["max-rate", None, None, RATE_HELP, checked("--max-rate", positive_integer)],
        ]

        def __init__(self):
            super().__init__()
            self["listen"] = []

        def opt_listen(self, description):
            """TCP endpoint instead of --host/--port, repeatable: tcp:8091, unix:/tmp/ex2.sock"""
            try:
                serverFromString(reactor, description)  # refuse a typo now, not later
            except (ValueError, KeyError, TypeError) as error:
                raise usage.UsageError("bad --listen {!r}: {}".format(description, error))
            self["listen"].append(description)

    return Options


class Announced(service.Service):
    """Listen at start-up, and log where (port 0 included). Unlike Twisted's
    StreamServerEndpointService, which would only log a port that cannot be opened and
    run on without it, a failure is raised, for ExerciseService to report."""

    port = None

    def privilegedStartService(self):
        super().privilegedStartService()
        self._listen()

    def startService(self):
        super().startService()
        if self.port is None:  # `python3 -m twisted` (twist) has no privileged start
            self._listen()
        self.log_where(self.port.getHost())

    def stopService(self):
        super().stopService()
        port, self.port = self.port, None
        if port is not None:
            return maybeDeferred(port.stopListening)


class AnnouncedTCPServer(Announced):
    def __init__(self, endpoint, factory, host=None, tls=False, description=None,
                 cap_by_host=False):
        self.endpoint, self.factory = endpoint, factory
        self.host = host  # as the user gave it, like the scripts print it
        self.tls = tls
        self.description = description  # the --listen string, if any
        self.cap_by_host = cap_by_host  # no --max-per-address: the default by where it listens

    def _listen(self):
        outcome = []
        self.endpoint.listen(self.factory).addBoth(outcome.append)
        if not outcome:  # no endpoint used here listens later than at once
            raise CannotListenError(None, self.description, "it did not listen at once")
        if isinstance(outcome[0], Failure):
            if outcome[0].check(OverflowError, ValueError):  # --listen tcp:99999
                raise CannotListenError(None, self.description, outcome[0].value)
            outcome[0].raiseException()
        self.port = outcome[0]

    def log_where(self, address):
        if not hasattr(address, "port"):  # a UNIX socket: a path, no host or port
            reactor.callWhenRunning(log.info, "Stream server listening on unix socket {path}",
                                    path=os.fsdecode(address.name))
            return
        announce(reactor, "TCP", self.host or address.host, address.port, self.tls)
        if self.cap_by_host and default_per_address(address.host) is not None:
            self.factory.max_per_address = PER_ADDRESS  # open to the network somewhere


class AnnouncedUDPServer(Announced):
    def __init__(self, host, port, protocol, rate_by_host=False):
        self.host, self.port_number, self.datagram_protocol = host, port, protocol
        self.rate_by_host = rate_by_host  # no --max-rate: the default by where it listens

    def _listen(self):
        # The host is resolved at start-up, not when the options are read: one that does
        # not resolve is a start-up failure like a port in use (one line, status 1).
        self.port = listen_udp(self.port_number, self.datagram_protocol,
                               ip_address(self.host), reactor)

    def log_where(self, address):
        announce(reactor, "UDP", self.host, address.port)
        if self.rate_by_host and default_rate(address.host) is not None:
            self.datagram_protocol.max_rate = RATE  # open to the network


class CannotServe(SystemExit, Exception):
    """Ends twistd with status 1 and no traceback, being a SystemExit; being an Exception
    too, twistd's daemon mode still passes it to the parent that waits for the start-up
    (which would otherwise wait forever) and removes its pid file."""

    def __init__(self, line):
        super().__init__(1)
        self.line = line

    def __str__(self):
        return self.line


class ExerciseService(service.MultiService):
    """The TCP and UDP servers of one exercise, started and stopped together; a port
    that cannot be opened ends twistd with the scripts' one line and status 1."""

    def privilegedStartService(self):
        self.or_exit(super().privilegedStartService)

    def startService(self):
        self.or_exit(super().startService)  # twistd listened already; `python3 -m twisted` here

    def stopService(self):
        return super().stopService().addCallback(lambda _: log.info("Server stopped"))

    def or_exit(self, start):
        try:
            start()
        except (CannotListenError, OSError, OverflowError, ValueError) as error:
            line = listen_failure(error)
            log.error("{line}", line=line)  # into twistd.log when in the background
            # twistd logs what is written to sys.stderr: say it on the terminal's own.
            print(line, file=sys.__stderr__, flush=True)
            raise CannotServe(line) from None


def listen_failure(error):
    """The line for a port or socket file that cannot be opened."""
    if not isinstance(error, CannotListenError):
        # e.g. a UNIX socket's folder is missing, or --listen tcp:99999 (OverflowError)
        return "error: cannot listen: {}".format(error)
    if error.interface is None:  # a UNIX socket: error.port is its path
        reason = getattr(error.socketError, "strerror", None) or error.socketError
        return "error: cannot listen on {}: {}".format(os.fsdecode(error.port), reason)
    return cannot_listen(error.interface or "every interface", error.port, error.socketError)


class Exercise:
    """One exercise as a twistd service: its TCP and UDP servers in a MultiService."""

    def __init__(self, tcp_script, udp_script):
        self.tcp_script, self.udp_script = tcp_script, udp_script
        self.Options = options_for(tcp_script.PORT)

    def makeService(self, options):
        top = ExerciseService()
        cap = options["max-per-address"]  # None: the default, set once listening
        factory = LineServerFactory(
            self.tcp_script.Handle, options["timeout"], options["max-clients"], cap)
        host, port = options["host"], options["port"]
        for description in options["listen"]:
            AnnouncedTCPServer(serverFromString(reactor, description), factory,
                               tls=description.startswith("ssl:"), description=description,
                               cap_by_host=cap is None).setServiceParent(top)
        if not options["listen"]:
            AnnouncedTCPServer(tcp_endpoint(reactor, host, port), factory, host,
                               cap_by_host=cap is None).setServiceParent(top)
        protocol = self.udp_script.make_protocol()
        protocol.max_rate = options["max-rate"]  # None: the default, set once listening
        AnnouncedUDPServer(host, port, protocol,
                           rate_by_host=protocol.max_rate is None).setServiceParent(top)
        return top


ex0_hello = Exercise(ex0_tcp, ex0_udp)
ex1_message = Exercise(ex1_tcp, ex1_udp)
ex2_sum = Exercise(ex2_tcp, ex2_udp)
ex3_password = Exercise(ex3_tcp, ex3_udp)
