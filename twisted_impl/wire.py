"""What every Twisted server and client agrees on about the bytes on the wire.

The same constants, with the same names, stand at the top of each basic/ script.
"""

import re

MAX_LINE = 65536  # bytes in one request line, not counting its "\n" or "\r\n"
# Lecture-style peers frame nothing: one send() of a bare string, one recv(1024). A read
# of 2 to MAX_BARE bytes without "\n", with nothing pending before it, followed by PAUSE
# seconds of silence, is such a whole message. One byte never is (telnet sends a key per
# packet), a longer read never is (the first segment of a long line).
MAX_BARE = 1024
# Long enough that the pieces of one line arriving up to 150 ms apart stay one line;
# short enough that the slides' client gets its answer well inside a second.
PAUSE = 0.3
MAX_UNSENT = 65536  # bytes of replies waiting for a client, past which we stop reading it

# Control characters (C0 but tab, DEL, C1) and bidirectional overrides.
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text):
    """`text` with control characters and bidirectional overrides shown escaped.

    Printed raw, a peer's "\\x1b[2J" would clear the screen, and "\\r" or U+202E forge a
    line; tabs and ordinary letters (Vietnamese included) stay as they are.
    """
    return UNSAFE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)
