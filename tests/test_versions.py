"""The programs run on every Python the README names, not only on the one running pytest.

basic/ claims Python 3.9 and newer: under every CPython from 3.9 to 3.13 found on this
machine (pyenv's versions, /usr/bin/python3.X, python3.X on the PATH), each exercise's
server and client make one exchange, over TCP and over UDP, and both print exactly what
they should.

The Twisted programs run on the Pythons that the installed Twisted supports: the same
exchanges with twisted_impl/, and a twistd service found through the editable install,
under the newest of those found, besides the one running pytest. It runs from its own
virtual environment, set up as the README says (`python -m venv`, then `pip install -r
requirements.txt`), made on the first run (about 10 s) and kept in .venvs/ (git-ignored)
for the next ones; it is made again when requirements.txt or pyproject.toml change.
"""

import fcntl
import glob
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from tests import harness

ROOT = harness.ROOT
HOST = harness.HOST
MINORS = range(9, 14)  # the README's claim for basic/: Python 3.9 to 3.13
VENVS = ROOT / ".venvs"
IN_CI = bool(os.environ.get("CI"))

# One exchange per exercise and transport: the client's arguments, what it prints, and
# the server's lines after its first ({peer} is the client's address, any port).
EXCHANGES = {
    ("ex0_hello", "tcp"): ([], "Thank you for connecting\n", ["Got connection from {peer}"]),
    ("ex0_hello", "udp"): ([], "Thank you for connecting\n", ["Got datagram from {peer}"]),
    ("ex1_message", "tcp"): (["Xin chào"], "From SERVER TCP\n",
                             ["Got connection from {peer}", "Received from {peer}: Xin chào"]),
    ("ex1_message", "udp"): (["Xin chào"], "From SERVER UDP\n",
                             ["Got datagram from {peer}", "Received from {peer}: Xin chào"]),
    ("ex2_sum", "tcp"): (["3", "4"], "7\n", ["Got connection from {peer}"]),
    ("ex2_sum", "udp"): (["-5", "12"], "7\n", ["Got datagram from {peer}"]),
    ("ex3_password", "tcp"): (["Abc123@1,aF1#2w3E*"], "Abc123@1\n", ["Got connection from {peer}"]),
    ("ex3_password", "udp"): (["Abc123@1,aF1#2w3E*"], "Abc123@1\n", ["Got datagram from {peer}"]),
}
PEER = re.compile(r"\('127\.0\.0\.1', \d+\)")
LISTENING = "{} server listening on 127.0.0.1 port {{port}}, Ctrl+C to stop"


# ----------------------------------------------------------------------- the Pythons

def find_pythons():
    """[(version, path)] of the CPython 3.9 to 3.13 interpreters on this machine (pyenv's,
    /usr/bin/python3.X, python3.X on the PATH), each once however many names it has,
    oldest first."""
    paths = []
    for x in MINORS:
        pattern = str(Path.home() / ".pyenv" / "versions" / f"3.{x}[.-]*" / "bin" / "python")
        paths += sorted(glob.glob(pattern)) + [f"/usr/bin/python3.{x}"]
        paths.append(shutil.which(f"python3.{x}", path=harness.ENV["PATH"]))
    found, seen, probed = [], set(), set()
    for path in filter(None, paths):
        real = os.path.realpath(path)
        if real in probed or "/.pyenv/shims/" in path or not os.access(real, os.X_OK):
            continue  # pyenv's shims lead to the versions globbed above
        probed.add(real)
        try:
            out = subprocess.run(
                [path, "-c", "import os, platform, sys; print(platform.python_implementation(), "
                             "platform.python_version(), os.path.realpath(sys.executable))"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30, check=True,
            ).stdout.decode().split(maxsplit=2)
        except (OSError, subprocess.SubprocessError):
            continue
        if len(out) != 3 or out[0] != "CPython" or minor(out[1])[1] not in MINORS:
            continue
        if out[2].strip() not in seen:  # a venv's python, a pyenv shim: the same interpreter
            seen.add(out[2].strip())
            found.append((out[1], path))
    return sorted(found, key=lambda item: [int(x) for x in re.findall(r"\d+", item[0])[:3]])


def python_id(version, path):
    """`3.9.18-pyenv`, `3.11.2-usr`: the version and where the interpreter lives."""
    return f"{version}-{'pyenv' if '/.pyenv/' in path else path.split('/')[1]}"


def minor(version):
    return tuple(int(x) for x in version.split(".")[:2])


def twisted_pythons(pythons):
    """The newest of `pythons` that the installed Twisted supports, on another minor
    version than the Python running pytest (the one most likely to differ from it).

    One only: making its venv is this file's one slow step (about 10 s, once).
    """
    supported = SpecifierSet(importlib.metadata.metadata("twisted")["Requires-Python"] or "")
    others = [(v, p) for v, p in pythons
              if supported.contains(v) and minor(v) != sys.version_info[:2]]
    return others[-1:]


PYTHONS = find_pythons()
TWISTED_PYTHONS = twisted_pythons(PYTHONS)
# The background checks' parameters: one list each, for the start and for the tests.
BASIC_RUNS = [path for _, path in PYTHONS]
TWISTED_RUNS = [path for _, path in TWISTED_PYTHONS]


def pythons_params(pythons):
    return [pytest.param(path, id=python_id(version, path)) for version, path in pythons]


def test_enough_pythons_found():
    """At least two Pythons of 3.9 to 3.13 are there to run basic/ with, and one for the
    Twisted programs besides the Python running pytest (required in CI, else a skip)."""
    found = [python_id(v, p) for v, p in PYTHONS]
    problems = []
    if len(PYTHONS) < 2:
        problems.append(f"fewer than two CPython 3.9 to 3.13 found: {found}")
    if not TWISTED_PYTHONS:
        problems.append(f"no Python that Twisted supports besides this one among {found}")
    if problems and not IN_CI:
        pytest.skip("; ".join(problems))
    assert problems == []


# ------------------------------------------------------------------------ the checks

def exchange(program, exercise, transport, directory):
    """Start the server, run its client once, stop the server: what both sides printed.

    `program(exercise, transport, role)` is the command line of a script, without options.
    """
    args = EXCHANGES[exercise, transport][0]
    server = harness.start_server(
        program(exercise, transport, "server") + ["--host", HOST, "--port", "0"], directory)
    try:
        port = server.port
        client = harness.run(program(exercise, transport, "client")
                             + ["--host", HOST, "--port", str(port)] + args)
        expected_lines = 1 + len(EXCHANGES[exercise, transport][2])
        lines = server.wait_for_lines(expected_lines)
    finally:
        server.stop()
    lines = [PEER.sub("{peer}", line).replace(f" port {port},", " port {port},")
             for line in lines]
    return (client.returncode, client.stdout.decode("utf-8", "replace"),
            client.stderr.decode("utf-8", "replace"), lines)


def check_every_exchange(program, directory):
    """Every exercise, TCP and UDP, prints exactly the expected lines on both sides."""
    keys = list(EXCHANGES)
    got = harness.parallel([lambda key=key: exchange(program, *key, directory) for key in keys])
    expected = [(0, EXCHANGES[key][1], "", [LISTENING.format(key[1].upper())] + EXCHANGES[key][2])
                for key in keys]
    assert dict(zip(keys, got)) == dict(zip(keys, expected))


@pytest.mark.parametrize("python", pythons_params(PYTHONS))
def test_basic_on_python(background, python):
    """Every basic/ server and client, TCP and UDP, makes one exact exchange under this
    Python. (Run beside the rest of the suite: `start_in_background`.)"""
    background(_basic_on_python, BASIC_RUNS, python)


def _basic_on_python(start, python):
    check_every_exchange(lambda ex, tr, role: [python, f"basic/{ex}/{tr}{role}.py"],
                         start.directory)


@pytest.mark.parametrize("python", pythons_params(TWISTED_PYTHONS))
def test_twisted_on_python(background, python):
    """Every twisted_impl/ server and client, TCP and UDP, makes one exact exchange under
    this Python, and its venv's twistd finds the project's services and serves. (Run
    beside the rest of the suite, its venv made first if needed: `start_in_background`.)"""
    background(_twisted_on_python, TWISTED_RUNS, python)


def _twisted_on_python(start, python):
    bin_dir = venv_for(python)
    venv_python = str(bin_dir / "python")
    check_every_exchange(
        lambda ex, tr, role: [venv_python, "-m", f"twisted_impl.{ex}.{tr}{role}"],
        start.directory)
    service = harness.start_server(
        [str(bin_dir / "twistd"), "-n", "ex2-sum", "--host", HOST, "--port", "0"], start.directory)
    try:
        ports = service.ports
        assert harness.tcp_exchange(ports["TCP"], b"3 4\n") == b"7\n"
        assert harness.udp_exchange(ports["UDP"], b"3 4\n") == b"7\n"
    finally:
        service.stop()


def start_in_background(background, names):
    """Start the checks of the tests to run at once (conftest.py calls this when the
    collection ends): other Pythons' process start-ups, and the first time the making of a
    venv (about 10 s of pip), then overlap the rest of the suite instead of adding to it."""
    if "test_basic_on_python" in names:
        background.start(_basic_on_python, BASIC_RUNS)
    if "test_twisted_on_python" in names:
        background.start(_twisted_on_python, TWISTED_RUNS)


# ---------------------------------------------------------- the venvs for Twisted

def venv_for(python):
    """The bin folder of a venv made with `python` as the README says, made once and kept.

    A file in the venv records what it was made from (the interpreter, requirements.txt,
    pyproject.toml, the folder itself); when any of it changes, the venv is made again.
    A lock keeps two test runs from making the same venv at once.
    """
    version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                             stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    folder = VENVS / f"python{version}"
    bin_dir = folder / "bin"
    recipe = "\n".join([os.path.realpath(python), str(folder)] + [
        hashlib.sha256((ROOT / name).read_bytes()).hexdigest()
        for name in ("requirements.txt", "pyproject.toml")])
    made = folder / "made-from.txt"
    VENVS.mkdir(exist_ok=True)
    with open(VENVS / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if made.exists() and made.read_text() == recipe and (bin_dir / "twistd").exists():
            return bin_dir
        shutil.rmtree(folder, ignore_errors=True)
        # --no-compile: byte-compiling all of Twisted is 40% of the install, and only the
        # modules that the programs import are ever needed (Python compiles them then).
        for argv in ([python, "-m", "venv", str(folder)],
                     [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-compile",
                      "-r", "requirements.txt"]):
            result = harness.run(argv, timeout=300)
            if result.returncode != 0:
                shutil.rmtree(folder, ignore_errors=True)
                message = (f"cannot make the venv for {python}: {argv} exited with "
                           f"{result.returncode}: {result.stderr.decode(errors='replace')[-2000:]}")
                if IN_CI:
                    pytest.fail(message)
                pytest.skip(message)
        made.write_text(recipe)
    return bin_dir
