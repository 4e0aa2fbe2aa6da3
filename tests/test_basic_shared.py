"""The copies in basic/ stay copies (issue 12): one text per shared name, one wording.

Each basic/ script stands alone (copy one file and run it), so the code that several
scripts need ("beyond the slides": option checks, printable(), limits, linger...) is
duplicated, word for word. This module is what keeps the copies in line: a top-level
function, class or constant defined in more than one script has exactly the same source
text in each (the `if __name__ == "__main__":` block counts as the name `__main__`),
except the few names listed below that differ by nature. The shared checks
are also the same text as twisted_impl's single copy, and a wrong --port or --timeout gets
the same line from every program of both implementations.
"""

import ast
import re

import pytest

from tests import cases, harness

BASIC = sorted((harness.ROOT / "basic").glob("*/*.py"))
SCRIPT_IDS = [f"{p.parent.name}/{p.name}" for p in BASIC]

# Names that differ from script to script by nature: each program's own story.
PER_SCRIPT = {
    "main", "run",  # the slides' calls of this very program, and its conversation
    "handle",  # the per-client function of a TCP server (a UDP server answers in main)
    "parse_args", "options",  # each program's description, arguments and help
    "answer",  # the reply to one request: a TCP line and a UDP datagram end differently
    "DESCRIPTION", "EPILOG", "USAGE",  # help texts
    "MESSAGE",  # ex1's message says TCP or UDP
    "REPLY",  # ex1's reply says TCP or UDP
    "GREETING",  # ex0's: a line over TCP, bare over UDP (its "\n" only when the request had one)
}
# Names that are the same in the four scripts of one exercise, different across exercises.
PER_EXERCISE = {
    "PORT",  # the lecture's port of the exercise
    "PROMPT",  # what the client asks for on a terminal
}
# Names that are the same in the four scripts of one kind (all tcpserver.py, all
# udpclient.py...), different across kinds.
PER_KIND = {
    "TIMEOUT",  # a server's idle seconds (60), a client's patience (5)
    "__main__",  # a server's main() answers Ctrl+C itself; a client's is run inside a try
    "open_server",  # socket, bind, listen: SOCK_STREAM and listen() or SOCK_DGRAM
    "set_options",  # a TCP server's SO_REUSEADDR would let a second UDP server share the port
}

# The shared checks whose one Twisted copy is in twisted_impl/common.py.
TWISTED_SHARED = {
    "port_number": "common", "seconds": "common", "positive_integer": "common",
    "default_max_clients": "common", "RESERVED_FILES": "common",
    "printable": "common", "UNSAFE": "common", "MAX_LINE": "common", "MAX_BARE": "common",
    "PAUSE": "common", "MAX_UNSENT": "common",
    # Classroom mode (issue 18): the same addresses, and the same default cap.
    "network_addresses": "common", "default_per_address": "common", "PER_ADDRESS": "common",
    "default_rate": "common", "RATE": "common",  # --max-rate's default (UDP servers)
}


LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def source_segment(lines, node):
    """ast.get_source_segment(source, node), from the source's lines split once.

    ast.get_source_segment splits the whole source again for every node it is asked
    about: for every definition of sixteen scripts, a second of the suite's collection
    (paid again by every `pytest --collect-only` that test_readme runs). The lines are
    split as ast splits them ("\r\n", "\r" or "\n", never a form feed), the columns are
    UTF-8 byte offsets as ast's.
    """
    first, last = node.lineno - 1, node.end_lineno - 1
    if first == last:
        return lines[first].encode()[node.col_offset:node.end_col_offset].decode()
    head = lines[first].encode()[node.col_offset:].decode()
    tail = lines[last].encode()[:node.end_col_offset].decode()
    return "".join([head] + lines[first + 1:last] + [tail])


def top_level(path):
    """{name: source text} of the top-level functions, classes and assignments of a file."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = LINE.findall(source)
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        elif (isinstance(node, ast.If)
              and source_segment(lines, node.test) == '__name__ == "__main__"'):
            names = ["__main__"]  # what running the script does
        else:
            continue
        text = source_segment(lines, node)
        if hasattr(node, "decorator_list") and node.decorator_list:
            first = min(d.lineno for d in node.decorator_list)
            text = "\n".join(source.splitlines()[first - 1:node.lineno - 1]) + "\n" + text
        for name in names:
            found[name] = text
    return found


DEFINITIONS = {path: top_level(path) for path in BASIC}


def copies(name):
    """{script id: source text} of every basic script that defines `name`."""
    return {f"{p.parent.name}/{p.name}": d[name] for p, d in DEFINITIONS.items() if name in d}


def shared_names():
    counts = {}
    for definitions in DEFINITIONS.values():
        for name in definitions:
            counts[name] = counts.get(name, 0) + 1
    return sorted(n for n, c in counts.items() if c > 1 and n not in PER_SCRIPT | PER_EXERCISE | PER_KIND)


def test_there_are_sixteen_scripts():
    """basic/ holds the four scripts of each of the four exercises."""
    assert SCRIPT_IDS == sorted(f"{ex}/{kind}{role}.py" for ex in cases.EXERCISES
                                for kind in ("tcp", "udp") for role in ("client", "server"))


@pytest.mark.parametrize("name", shared_names())
def test_shared_name_has_one_text(name):
    """A name defined in several basic scripts has exactly the same source in each."""
    found = copies(name)
    texts = sorted(set(found.values()))
    if len(texts) > 1:
        by_text = {t: [s for s, x in found.items() if x == t] for t in texts}
        detail = "\n\n".join(f"{scripts}:\n{text}" for text, scripts in by_text.items())
        pytest.fail(f"{name} has {len(texts)} different texts:\n{detail}")


@pytest.mark.parametrize("name", sorted(PER_EXERCISE))
def test_per_exercise_name_is_the_same_within_an_exercise(name):
    """PORT (and the like) is the same text in every script of one exercise."""
    for exercise in cases.EXERCISES:
        found = {s: t for s, t in copies(name).items() if s.startswith(exercise + "/")}
        assert len(set(found.values())) <= 1, (exercise, found)


@pytest.mark.parametrize("name", sorted(PER_KIND))
def test_per_kind_name_is_the_same_within_a_kind(name):
    """TIMEOUT (and the like) is the same text in every script of one kind."""
    for kind in ("tcpserver.py", "udpserver.py", "tcpclient.py", "udpclient.py"):
        found = {s: t for s, t in copies(name).items() if s.endswith("/" + kind)}
        assert len(set(found.values())) <= 1, (kind, found)


@pytest.mark.parametrize("name", sorted(TWISTED_SHARED))
def test_basic_copies_match_twisted_impl(name):
    """The option checks, printable() and the wire constants read the same in basic/ as in
    twisted_impl/common.py."""
    module = harness.ROOT / "twisted_impl" / f"{TWISTED_SHARED[name]}.py"
    twisted_text = top_level(module).get(name)
    assert twisted_text is not None, f"{name} not in {module.name}"
    found = copies(name)
    different = sorted(s for s, t in found.items() if t != twisted_text)
    assert different == [], f"{name} differs from {module.name}'s in {different}"


REQUIRED = {
    "port_number": lambda script: True,
    "seconds": lambda script: script != "udpserver.py",  # UDP servers take no --timeout
    "positive_integer": lambda script: script.endswith("server.py"),
    "default_max_clients": lambda script: script == "tcpserver.py",
    "printable": lambda script: script.endswith("client.py"),
    "network_addresses": lambda script: script.endswith("server.py"),  # the classroom's
    "default_per_address": lambda script: script == "tcpserver.py",  # --max-per-address
    "default_rate": lambda script: script == "udpserver.py",  # --max-rate
}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_shared_checks_are_where_they_are_needed(name):
    """Every script has the option checks for the options it takes, every client (the ex1
    servers too) printable(), every server network_addresses()."""
    need = sorted(s for s in SCRIPT_IDS if REQUIRED[name](s.split("/")[1])
                  or (name == "printable" and s.startswith("ex1_message/")))
    have = sorted(s for s in copies(name) if s in need)
    assert have == need


def test_no_leftovers_for_symmetry():
    """Nothing kept only "for symmetry": no TRIES in TCP clients, no --timeout in UDP
    servers. (ex0's clients do tell an ERROR apart now: a busy server sends one.)"""
    leftovers = []
    for path, definitions in DEFINITIONS.items():
        script = f"{path.parent.name}/{path.name}"
        text = path.read_text(encoding="utf-8")
        if path.name == "tcpclient.py" and "TRIES" in definitions:
            leftovers.append((script, "TRIES"))
        if path.name == "udpserver.py" and "--timeout" in text:
            leftovers.append((script, "--timeout"))
    assert leftovers == []


# ---------------------------------------------------------------- one wording per mistake

def every_program():
    """Every server and client of both implementations, as command lines."""
    programs = []
    for impl in ("basic", "twisted"):
        for exercise in cases.EXERCISES:
            for transport in harness.TRANSPORTS:
                programs.append(harness.server_argv(impl, exercise, transport))
                programs.append(harness.client_argv(impl, exercise, transport))
    return programs


def last_error(argv, option, value):
    result = harness.run(argv + [option, value], timeout=30)
    lines = result.stderr.decode("utf-8", "replace").splitlines()
    return result.returncode, result.stdout, (lines[-1].split(": ", 1)[1] if lines else "")


def test_port_abc_worded_the_same_everywhere():
    """`--port abc` gets `error: argument --port: not a port number (0 to 65535): 'abc'` and
    exit 2 from every server and client of both implementations."""
    programs = every_program()
    got = harness.parallel([lambda p=p: last_error(p, "--port", "abc") for p in programs])
    expected = (2, b"", "error: argument --port: not a port number (0 to 65535): 'abc'")
    assert dict(zip(map(" ".join, programs), got)) == {" ".join(p): expected for p in programs}


def takes_timeout(argv):
    """UDP servers take no --timeout any more; every other program does."""
    return not argv[-1].endswith("udpserver.py") and not argv[-1].endswith(".udpserver")


def test_timeout_inf_worded_the_same_everywhere():
    """`--timeout inf` gets `error: argument --timeout: not a positive number of seconds:
    'inf'` and exit 2 from every program that takes --timeout, in both implementations
    (issue 10's item 2 for every server and client; tests/test_hostile.py tries the other
    bad values)."""
    programs = [p for p in every_program() if takes_timeout(p)]
    got = harness.parallel([lambda p=p: last_error(p, "--timeout", "inf") for p in programs])
    expected = (2, b"", "error: argument --timeout: not a positive number of seconds: 'inf'")
    assert dict(zip(map(" ".join, programs), got)) == {" ".join(p): expected for p in programs}
