"""The exercises' pure functions, against every row of tests/cases.py.

basic/'s scripts are imported by file path (each is a standalone file, not a package
module), with socket creation forbidden meanwhile: importing a lecture script must not
open a socket. The Twisted logic is imported from twisted_impl.<exercise>.tcpserver.
"""

import importlib
import importlib.util
import socket

import pytest

from tests import cases, harness

FUNCTIONS = {"ex2_sum": "add_line", "ex3_password": "valid_passwords"}


def load_script(path):
    """Import one basic/ script by path, failing if the import creates a socket."""
    spec = importlib.util.spec_from_file_location(f"script_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    original = socket.socket

    class NoSocket(original):
        def __init__(self, *args, **kwargs):
            raise AssertionError(f"importing {path} opened a socket")

    socket.socket = NoSocket
    try:
        spec.loader.exec_module(module)
    finally:
        socket.socket = original
    return module


def function(impl, exercise, script=None):
    """The exercise's pure function of one implementation."""
    name = FUNCTIONS[exercise]
    if impl == "basic":
        module = load_script(harness.ROOT / "basic" / exercise / f"{script}.py")
    else:
        module = importlib.import_module(f"twisted_impl.{exercise}.tcpserver")
    return getattr(module, name)


SOURCES = [
    pytest.param("basic", "tcpserver", id="basic-tcpserver"),
    pytest.param("basic", "udpserver", id="basic-udpserver"),
    pytest.param("twisted", None, id="twisted-tcpserver"),
]


@pytest.mark.parametrize("impl, script", SOURCES)
@pytest.mark.parametrize("exercise", sorted(FUNCTIONS))
def test_pure_function_answers_every_row(impl, script, exercise):
    """The exercise function maps each row's line text to the row's reply, without its "\\n"."""
    answer = function(impl, exercise, script)
    rows = cases.rows(exercise, "tcp")
    got = [(request, answer(cases.line_text(request)) + "\n") for request, _ in rows]
    expected = [(request, reply.decode("utf-8")) for request, reply in rows]
    assert got == expected


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("exercise", cases.EXERCISES)
def test_importing_a_basic_server_opens_no_socket(exercise, transport):
    """Importing a basic server script runs no server: it only defines things."""
    module = load_script(harness.ROOT / "basic" / exercise / f"{transport}server.py")
    assert callable(module.main)


def test_rows_table_is_consistent():
    """Every row is one line ending in "\\n" and its reply is one line ending in "\\n"."""
    for exercise in cases.EXERCISES[1:]:
        for transport in ("tcp", "udp"):
            for request, reply in cases.rows(exercise, transport):
                assert request.endswith(b"\n") and request.count(b"\n") == 1, request
                assert reply.endswith(b"\n") and reply.count(b"\n") == 1, reply
