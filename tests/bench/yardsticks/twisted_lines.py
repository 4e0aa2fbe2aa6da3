"""Yardstick: the smallest Twisted ex2 server, a LineOnlyReceiver (no limits, no timeout).

The floor of the event-driven style on Twisted, for tests/bench/run.py. LineOnlyReceiver
rather than LineReceiver: it splits each chunk once (Twisted issue 6357).
"""
import argparse
from twisted.internet import protocol, reactor
from twisted.protocols.basic import LineOnlyReceiver

class Sum(LineOnlyReceiver):
    delimiter = b"\n"

    def connectionMade(self):
        peer = self.transport.getPeer()
        print("Got connection from", (peer.host, peer.port), flush=True)

    def lineReceived(self, line):
        a, b = line.split()
        self.sendLine(b"%d" % (int(a) + int(b)))

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8091)
parser.add_argument("--timeout", type=float)
args = parser.parse_args()
port = reactor.listenTCP(args.port, protocol.Factory.forProtocol(Sum), backlog=1024, interface=args.host)
print(f"TCP server listening on {args.host} port {port.getHost().port}, Ctrl+C to stop", flush=True)
reactor.run()
