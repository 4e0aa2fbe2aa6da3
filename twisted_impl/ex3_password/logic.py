"""Bài 3 (ex3_password): the server's password rules, apart from any socket.

Both Twisted servers of the exercise (tcpserver.py, udpserver.py) answer with
`valid_passwords`; basic/ex3_password/ holds the same function, one copy per script.
"""

import re

# 6 to 12 characters, each a letter, a digit or one of $ # @ (ASCII only, spelled out);
# the lecture's "aF1#2w3E*" is rejected for its "*".
ALLOWED = re.compile(r"[a-zA-Z0-9$#@]{6,12}")
REQUIRED = [re.compile(r"[a-z]"), re.compile(r"[0-9]"), re.compile(r"[A-Z]"), re.compile(r"[$#@]")]


def is_valid(password):
    """True for a password of allowed characters with one of each required class."""
    return ALLOWED.fullmatch(password) is not None and all(
        rule.search(password) for rule in REQUIRED)


def valid_passwords(text):
    """The reply to one request: its valid passwords, in order, joined by ","."""
    items = (item.strip(" \t") for item in text.split(","))
    return ",".join(item for item in items if item and is_valid(item))
