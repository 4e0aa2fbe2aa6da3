"""One run of a Twisted client, from its command line to its exit status.

A session is a coroutine, session(reactor, args), that does the client's work and returns
its exit status (0, or 1 after an ERROR reply); lineclient.py and datagramclient.py hold
the sessions. run() parses the command line and runs one with task.react: the reactor
runs until the session's Deferred fires, and nothing blocks the reactor (standard input
is read, and host names are looked up, in threads: see stdin.in_thread).
"""

import os
import signal
import socket
import sys

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from twisted_impl.client import ClientError
from twisted_impl.stdin import given, in_thread, stdin_lines


def run(args, session):
    """Run session(reactor, args) with task.react, and exit with its status."""
    task.react(main, (session, args))


def main(reactor, session, args):
    """task.react's main: run session(reactor, args), a coroutine giving the exit status.

    Ctrl+C ends the client at once, quietly, with status 130, whatever it waits for.
    """
    outcome = Deferred()
    interrupted = False

    def settle(result):
        """End the run with the session's exit status; 130 once Ctrl+C was pressed."""
        if outcome.called:
            return
        if interrupted:  # even when the session ended before its news got here
            result = 130
        if isinstance(result, Failure):
            outcome.errback(result)
        elif result:
            outcome.errback(SystemExit(result))  # how task.react is told a status
        else:
            outcome.callback(None)

    def interrupt():
        settle(130)
        running.cancel()  # and nothing more from it: no line about a lost connection

    def on_ctrl_c(signum, frame):
        nonlocal interrupted
        interrupted = True
        reactor.callFromThread(interrupt)  # the safe way out of a signal handler

    # Installed before the reactor runs, so that Twisted keeps this one; and only where
    # Python would raise KeyboardInterrupt: a SIGINT ignored (as for a shell's
    # background job) stays ignored, as in basic/.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_ctrl_c)
    running = Deferred.fromCoroutine(reported(session(reactor, args)))
    running.addBoth(settle)
    return outcome


async def reported(session):
    """Await the session; turn a ClientError into its line on standard error."""
    try:
        return await session
    except ClientError as failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # stdout closed early, as by "| head -1": stop quietly
        # Point stdout at devnull so that Python's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def requests(reactor, args, prompt):
    """The requests: the ones given as arguments, or the lines of standard input."""
    if args.requests is None:
        return stdin_lines(reactor, prompt)
    return given(args.requests)


async def resolve(reactor, host, port, socktype):
    """The server's (address, port), found as basic's clients find it.

    IPv6 when the host holds ":" (an IPv6 address), IPv4 otherwise. The lookup blocks,
    so it runs in a thread; it also spells the address the way replies will show it
    (Twisted's UDP needs an address, not a name, and compares with what comes back).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        found = await in_thread(reactor, socket.getaddrinfo, host, port, family, socktype)
    except OSError as failure:
        raise ClientError(f"cannot connect to {host} port {port}: {failure.strerror or failure}")
    return found[0][4][:2]
