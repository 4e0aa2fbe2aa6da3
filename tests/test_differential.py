"""Differential tests: seeded random request lines, built from the awkward characters,
sent to the basic and the Twisted servers; their replies must be byte-identical and
equal to the pure function's answer.

The seed is fixed, so a failure is reproducible; the failing lines are in its message.
"""

import functools
import random

import pytest

from tests import cases, harness
from tests.test_logic import function

SEED = 20261125
TCP_LINES = 300
UDP_LINES = 60

AWKWARD = [
    b"+", b"-", b" ", b"  ", b"\t", b"\r", b"\x00", b"\x0b", b"\x0c",
    "\u00a0".encode(), "\u3000".encode(),  # no-break space, ideographic space
    "٣".encode(), "１２".encode(), "²".encode(),  # digits that are not ASCII
    b"\xff", b"\xc3", b"\xe2\x82",  # invalid or truncated UTF-8
    b"*", b",", b",,", b"a", b"z", b"B", b"Q", "é".encode(), b"$", b"#", b"@",
    b".", b"_", b"x", b"e",
] + [str(d).encode() for d in range(10)]

DIGITS = b"0123456789"


def number(rng):
    sign = rng.choice([b"", b"", b"+", b"-"])
    return sign + bytes(rng.choice(DIGITS) for _ in range(rng.choice([1, 1, 2, 5, 20])))


def spaces(rng, least):
    return b"".join(rng.choice([b" ", b"\t"]) for _ in range(rng.randint(least, 2)))


def password(rng):
    alphabet = b"abcxyzABCXYZ0123456789$#@"
    return bytes(rng.choice(alphabet) for _ in range(rng.randint(4, 14)))


def mutate(rng, line):
    """Insert, replace or delete a piece of the line, at random."""
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        at = rng.randint(0, len(line))
        action = rng.random()
        if action < 0.5:
            line = line[:at] + rng.choice(AWKWARD) + line[at:]
        elif action < 0.8:
            line = line[:at] + rng.choice(AWKWARD) + line[at + 1:]
        else:
            line = line[:at] + line[at + 1:]
    return line


def random_content(rng, exercise):
    """One request without its line ending: mostly well-formed, often slightly broken."""
    shape = rng.random()
    if shape < 0.25:
        return b"".join(rng.choice(AWKWARD) for _ in range(rng.randint(0, 12)))
    if exercise == "ex3_password":
        items = [spaces(rng, 0) + password(rng) + spaces(rng, 0)
                 for _ in range(rng.randint(1, 5))]
        return mutate(rng, b",".join(items))
    line = spaces(rng, 0) + number(rng) + spaces(rng, 1) + number(rng) + spaces(rng, 0)
    return mutate(rng, line)


def random_requests(exercise, count, seed):
    """`count` request lines, each ending in "\\n" or "\\r\\n", with no "\\n" inside."""
    rng = random.Random(f"{seed}-{exercise}")
    requests = []
    for _ in range(count):
        content = random_content(rng, exercise).replace(b"\n", b"")
        requests.append(content + rng.choice([b"\n", b"\r\n"]))
    return requests


def predicted(exercise, request, transport="tcp"):
    """The reply the basic script's pure function gives (ex1: its fixed reply).

    It ends in "\\n" when the request did, or when the answer is empty: a request without
    "\\n" (a datagram, or the last bytes before a half-close) is answered bare.
    """
    if request.endswith(b"\r\n"):
        content = request[:-2]
    elif request.endswith(b"\n"):
        content = request[:-1]
    else:
        content = request
    if exercise == "ex1_message":
        answer = "From SERVER %s" % transport.upper()
    else:
        answer = cached_function(exercise, transport)(content.decode("utf-8", "replace"))
    if request.endswith(b"\n") or answer == "":
        answer += "\n"
    return answer.encode()


@functools.lru_cache(maxsize=None)
def cached_function(exercise, transport):
    return function("basic", exercise, f"{transport}server")


EXERCISES = ("ex1_message", "ex2_sum", "ex3_password")


@pytest.mark.parametrize("exercise", ["ex2_sum", "ex3_password"])
def test_pure_functions_agree_on_random_lines(exercise):
    """basic's TCP, basic's UDP and Twisted's pure function answer every random line alike."""
    functions = [function("basic", exercise, "tcpserver"), function("basic", exercise, "udpserver"),
                 function("twisted", exercise)]
    for request in random_requests(exercise, TCP_LINES, SEED):
        text = cases.line_text(request)
        answers = [f(text) for f in functions]
        assert answers == [answers[0]] * 3, request


@pytest.mark.parametrize("exercise", ["ex2_sum", "ex3_password"])
def test_random_lines_are_not_all_rejected(exercise):
    """The generator yields many accepted requests, not only errors: the comparison bites."""
    replies = [predicted(exercise, r) for r in random_requests(exercise, TCP_LINES, SEED)]
    accepted = [r for r in replies if not r.startswith(b"ERROR") and r != b"\n"]
    assert len(accepted) > TCP_LINES // 5
    assert len(set(replies)) > TCP_LINES // 5


@pytest.mark.parametrize("exercise", EXERCISES)
def test_tcp_random_lines_pipelined(pool, exercise):
    """Random lines pipelined in one send get byte-identical replies from every server."""
    requests = random_requests(exercise, TCP_LINES, SEED)
    expected = [(r, predicted(exercise, r)) for r in requests]
    replies = {}
    for impl in harness.SERVER_IMPLS:
        port = pool.port(impl, exercise, "tcp")
        replies[impl] = harness.tcp_exchange(port, b"".join(requests))
    assert replies["basic"] == replies["twisted"] == replies["twistd"]
    # Split the identical stream back into lines to show which request went wrong.
    got = replies["basic"].split(b"\n")
    assert got[-1] == b""
    assert list(zip(requests, [g + b"\n" for g in got[:-1]])) == expected


@pytest.mark.parametrize("exercise", EXERCISES)
def test_tcp_random_bare_requests_before_half_close(pool, exercise):
    """Random requests without their line ending, each on its own connection before a
    half-close, get byte-identical bare replies from every server."""
    requests = [r.rstrip(b"\r\n") for r in random_requests(exercise, UDP_LINES, SEED + 2)]
    requests = [r for r in requests if r]  # no byte before the half-close: no request
    expected = [(r, predicted(exercise, r)) for r in requests]
    for impl in harness.SERVER_IMPLS:
        port = pool.port(impl, exercise, "tcp")
        got = harness.parallel([lambda r=r: (r, harness.tcp_exchange(port, r)) for r in requests])
        assert got == expected, impl


@pytest.mark.parametrize("exercise", EXERCISES)
def test_udp_random_datagrams(pool, exercise):
    """Random datagrams, with or without a line ending, get byte-identical replies."""
    rng = random.Random(SEED)
    # As sent by a TCP client, or as a UDP client sends it (no line ending), or with only
    # its "\n" removed (a "\r" then ends the datagram, and is data).
    requests = [rng.choice([r, r.rstrip(b"\r\n"), r[:-1]])
                for r in random_requests(exercise, UDP_LINES, SEED + 1)]
    expected = [(r, predicted(exercise, r, "udp")) for r in requests]
    for impl in harness.SERVER_IMPLS:
        port = pool.port(impl, exercise, "udp")
        got = harness.parallel([lambda r=r: (r, harness.udp_exchange(port, r)) for r in requests])
        assert got == expected, impl
