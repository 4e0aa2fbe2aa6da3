"""Bài 2 (ex2_sum): the server's arithmetic, apart from any socket.

Both Twisted servers of the exercise (tcpserver.py, udpserver.py) answer with
`add_line`; basic/ex2_sum/ holds the same function, one copy per script.
"""

import re

MAX_DIGITS = 4000  # digits per operand: int() of a huge string is slow, so cap it

# Two integers apart by spaces or tabs, or by one comma with optional spaces or tabs
# around it ("3 4", "3,4", "3, 4": students' programs send both). Spelled out: "\d"
# would also accept non-ASCII digits such as "٣" or "１２", and "\s" other whitespace
# than spaces and tabs.
REQUEST = re.compile(r"[ \t]*([+-]?[0-9]+)(?:[ \t]*,[ \t]*|[ \t]+)([+-]?[0-9]+)[ \t]*")


def add_line(text):
    """The reply to one request: the sum of its two integers, or an ERROR text."""
    match = REQUEST.fullmatch(text)
    if match is None:
        return 'ERROR expected two integers like "3 4"'
    a, b = match.groups()
    if max(len(a.lstrip("+-")), len(b.lstrip("+-"))) > MAX_DIGITS:
        return "ERROR integer too long (max {} digits)".format(MAX_DIGITS)
    return str(int(a) + int(b))  # int(), never eval(): the request is data, not code
