"""Standard input for the Twisted clients: one request per line, read without blocking.

Reading the keyboard blocks, and so does reading a pipe that is still being written. The
reactor must never block, so each read runs in a thread (in_thread), and the lines are
cut from what it read here, on the reactor's side.

Why not Twisted's own StandardIO? It cannot read a regular file on Linux (python3 -m ...
< requests.txt: epoll refuses a file), it switches the terminal's file to non-blocking
mode (which the shell then shares), and it reads on without waiting for the replies.
"""

import sys
import threading
from collections import deque

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

READ_SIZE = 65536  # bytes asked for by one read; a terminal gives one typed line at most


async def stdin_lines(reactor, prompt, stdin=None):
    """Yield each line of standard input as bytes, without its line ending.

    Bytes, not text: the server decodes, so the client passes on exactly what it got.
    One line at a time, read only when the client asks for the next request, so the
    prompt shows when the previous reply is printed. The prompt is for a person at a
    keyboard only, not for a pipe or a file. stdin: a raw (unbuffered) binary file to
    read instead of standard input, for the tests.
    """
    if stdin is None:
        if sys.stdin is None:  # standard input closed (<&-): an empty input, no request
            return
        # The raw file, not sys.stdin.buffer: a buffered file holds a lock while it
        # waits for the keyboard, and Python's exit after a Ctrl+C would abort on it.
        stdin = sys.stdin.buffer.raw
    interactive = stdin.isatty()
    lines = LineReader(reactor, stdin)
    while True:
        if interactive:
            sys.stdout.write(prompt)
            sys.stdout.flush()
        line = await lines.readline()
        if not line:  # end of input; a last line without "\n" still came through above
            return
        if line.endswith(b"\n"):
            line = line[:-1]
            if line.endswith(b"\r"):
                line = line[:-1]
        yield line


async def given(requests):
    """The requests given as arguments, in the shape stdin_lines has."""
    for request in requests:
        yield request


class LineReader:
    """The lines of a raw binary file, read in threads as they are asked for.

    In linear time whatever the line length: each byte read is searched for "\\n" once,
    and a long line's pieces are joined once, when its "\\n" (or the end) comes.
    """

    def __init__(self, reactor, raw):
        self._reactor = reactor
        self._raw = raw
        self._lines = deque()  # whole lines read and not handed out yet, "\n" included
        self._pieces = []  # the start of the next line, read but without its "\n" yet
        self._ended = False

    async def readline(self):
        """The next line, "\\n" included; the last one may lack it; b"" at the end."""
        while not self._lines and not self._ended:
            chunk = await in_thread(self._reactor, self._raw.read, READ_SIZE)
            if not chunk:  # the end: what is left is the last line, without "\n"
                self._ended = True
                if self._pieces:
                    self._lines.append(b"".join(self._pieces))
                    self._pieces = []
                break
            *whole, rest = chunk.split(b"\n")
            for line in whole:
                self._pieces.append(line)
                self._lines.append(b"".join(self._pieces) + b"\n")
                self._pieces = []
            if rest:
                self._pieces.append(rest)
        return self._lines.popleft() if self._lines else b""


def in_thread(reactor, function, *args):
    """A Deferred that fires with function(*args), run in a daemon thread of its own.

    For a client's two blocking calls: reading standard input, looking up a host name.
    A daemon thread, not Twisted's deferToThread: the reactor's thread pool is joined
    when the reactor stops, and a thread still waiting for the keyboard would keep a
    Ctrl+C'd client from exiting; Python leaves a daemon thread behind at its exit.
    """
    result = Deferred()

    def settle(outcome):
        if not result.called:  # not cancelled meanwhile (Ctrl+C)
            if isinstance(outcome, Failure):
                result.errback(outcome)
            else:
                result.callback(outcome)

    def work():
        try:
            outcome = function(*args)
        except BaseException:
            outcome = Failure()
        reactor.callFromThread(settle, outcome)

    threading.Thread(target=work, daemon=True).start()
    return result
