"""The README cannot drift from the code: every example in it is run as shown.

An example is the text between ``<!-- example -->`` and ``<!-- /example -->``: its first
``console`` block starts a server and shows the first lines it prints, the next blocks
run clients (``$ command`` then its exact output, standard error included). The only
change made to a command is the port: servers get ``--port 0`` and the clients the port
the server printed, so that the examples never collide with a server already running.
"""

import os
import re
import shlex
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests import harness

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

EXAMPLE = re.compile(r"<!-- example -->\n(.*?)<!-- /example -->", re.S)
CONSOLE = re.compile(r"```console\n(.*?)```", re.S)
CONSOLE_OR_PLAIN = re.compile(r"```\w*\n(.*?)```", re.S)
SCRIPT = re.compile(r"(basic/\w+/\w+\.py|-m twisted_impl\.\w+\.\w+)")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\S+ \[[^\]]*\] ", re.M)
SETUP_COMMAND = re.compile(r"^\$ (python3 -m venv \.venv && .*)$", re.M)


def parse_block(block):
    """Split a console block into [(command, expected output lines)]."""
    runs = []
    for line in block.split("\n")[:-1]:
        if line.startswith("$ "):
            runs.append((line[2:], []))
        else:
            runs[-1][1].append(line)
    return runs


def examples():
    """Every example of the README as (server command, server lines, client runs)."""
    found = []
    for text in EXAMPLE.findall(README):
        blocks = CONSOLE.findall(text)
        [(server, server_lines)] = parse_block(blocks[0])
        clients = [run for block in blocks[1:] for run in parse_block(block)]
        found.append(pytest.param(server, server_lines, clients, id=f"{server.split()[-1]}"))
    return found


def normalize(lines):
    """Ports differ from run to run: replace them, and drop twistd's timestamps and tags."""
    text = TIMESTAMP.sub("", "\n".join(lines))
    text = re.sub(r"port \d+", "port N", text)
    text = re.sub(r"\('([^']*)', \d+\)", r"('\1', P)", text)
    return text.split("\n")


def with_port(command, ports, default_port):
    """The command as the test runs it: the example's port swapped for the real one.

    ``ports`` maps "TCP" and "UDP" to the ports the server printed (a twistd service
    started on port 0 gets one of each).
    """
    udp = re.search(r"udpclient|nc -u|UDP:", command)
    port = ports["UDP" if udp else "TCP"] if len(ports) > 1 else next(iter(ports.values()))
    command = SCRIPT.sub(lambda m: f"{m.group(1)} --port {port}", command)
    return re.sub(rf"\b{default_port}\b", str(port), command)


def test_readme_has_examples_for_every_exercise():
    """Every exercise has at least one example that the suite runs."""
    servers = " ".join(param.values[0] for param in examples())
    for exercise in ("ex0_hello", "ex1_message", "ex2_sum", "ex3_password"):
        assert exercise in servers


def _readme_example(fresh, server, server_lines, clients):
    tmp_path = fresh.directory
    default_port = re.search(r"port (\d+)", server_lines[0]).group(1)
    proc = harness.start_server(shlex.split(server) + ["--port", "0"], tmp_path)
    try:
        ports = proc.ports
        for command, expected in clients:
            result = subprocess.run(
                ["bash", "-c", with_port(command, ports, default_port)],
                cwd=ROOT, env=harness.ENV, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30,
            )
            output = result.stdout.decode("utf-8", "replace").split("\n")[:-1]
            assert output == expected, command
            failed = any(line.startswith(("ERROR", "error:")) for line in expected)
            assert result.returncode == (1 if failed else 0), command
        if proc.twistd:  # the README leaves out twistd's own lines
            proc.wait_for(lambda _: len(proc.program_lines()) >= len(server_lines))
            lines = proc.program_lines()
        else:
            lines = proc.wait_for_lines(len(server_lines))
        assert normalize(lines[: len(server_lines)]) == normalize(server_lines)
    finally:
        proc.stop()


@pytest.mark.parametrize("server, server_lines, clients", examples())
def test_readme_example(together, server, server_lines, clients):
    """Each README example prints exactly what the README shows, on both sides. (Every
    example at once: `together`.)"""
    together(_readme_example, [tuple(p.values) for p in examples()],
             (server, server_lines, clients))


def test_readme_test_command_is_what_ci_runs():
    """The quick start's set-up-and-test command is the one .ci/run runs, word for word, and
    the Vietnamese quick start gives the very same command."""
    [command] = SETUP_COMMAND.findall(README)
    assert command in (ROOT / ".ci" / "run").read_text().split("\n")
    assert re.findall(r"^`(python3 -m venv .*)`$", README, re.M) == [command]


def test_readme_windows_setup_is_the_same_command():
    """The Windows set-up is the quick start's command without its test step, in Windows
    spelling: `py` for `python3`, `.venv\\Scripts\\python` for `.venv/bin/python`."""
    [command] = SETUP_COMMAND.findall(README)
    steps = command.split(" && ")
    assert steps[-1] == ".venv/bin/python -m pytest"
    windows = [step.replace(".venv/bin/python", ".venv\\Scripts\\python").replace("python3", "py")
               for step in steps[:-1]]
    block = README[README.index("On Windows, in `cmd`"):]
    assert CONSOLE_OR_PLAIN.search(block).group(1).strip().split("\n") == windows


def test_readme_commands_use_this_python(tmp_path):
    """The README's commands run by the suite find `python3` and `twistd` in the folder of
    the Python running the tests (a venv's bin/), activated or not."""
    result = subprocess.run(
        ["bash", "-c", "python3 -c 'import sys; print(sys.prefix)' && command -v twistd"],
        cwd=tmp_path, env=harness.ENV, stdout=subprocess.PIPE, timeout=30, check=True)
    scripts = Path(sysconfig.get_path("scripts"))
    assert result.stdout.decode().split("\n") == [sys.prefix, str(scripts / "twistd"), ""]


def test_readme_test_slices_select_tests(background):
    """Each `-k` (or file) example of "Running the tests" selects at least one test.
    (Each is a pytest of its own, seconds of collecting: run beside the suite, see
    `start_in_background`.)"""
    background(_readme_test_slices_select_tests, [()], ())


def _readme_test_slices_select_tests(start):
    section = README[README.index("## Running the tests"):]
    block = CONSOLE_OR_PLAIN.search(section).group(1).strip().split("\n")
    commands = [shlex.split(line.split("  #")[0]) for line in block]
    assert len(commands) >= 4 and all(c[:3] == [".venv/bin/python", "-m", "pytest"] for c in commands)
    for files in [c[3:] for c in commands if "-k" not in c]:  # a file: it is there
        assert files and all((ROOT / name).is_file() for name in files), files
    commands = [c for c in commands if "-k" in c]
    results = harness.parallel([
        lambda c=c: harness.run([sys.executable] + c[1:] + ["--collect-only", "-q", "-p", "no:cacheprovider"],
                                timeout=60)
        for c in commands])
    for command, result in zip(commands, results):
        last = result.stdout.decode().strip().split("\n")[-1]
        assert result.returncode == 0 and re.match(r"[1-9]\d*(/\d+)? tests? collected", last), (
            command, last)


def start_in_background(background, names):
    """Start the `-k` examples' collections when the collection ends (conftest.py calls
    this): they need nothing from the other tests."""
    if "test_readme_test_slices_select_tests" in names:
        background.start(_readme_test_slices_select_tests, [()])


def test_lecture_map_quotes_real_lines():
    """Every line the lecture-to-code map quotes is in the file it names, and every row
    of the map names a file on both sides."""
    section = README[README.index("## From the slides to the code"):]
    section = section[:section.index("\n## ")]
    rows = [line for line in section.split("\n") if line.startswith("| `")]
    assert len(rows) >= 12  # socket, bind, listen, accept, connect, recv, send, close...
    quoted = re.findall(r"`([^`]+)` in \[[^\]]*\]\(([^)]+)\)", section)
    for code, path in quoted:
        assert code in (ROOT / path).read_text(encoding="utf-8"), (path, code)
    for row in rows:
        basic, twisted = row.split(" | ")[1:3]
        assert "](basic/" in basic and "](twisted_impl/" in twisted, row


def listen_examples():
    """The command lines of the code block after `<!-- listen-examples -->`."""
    block = README[README.index("<!-- listen-examples -->"):]
    return CONSOLE_OR_PLAIN.search(block).group(1).strip().split("\n")


def _readme_listen_example(fresh, command):
    tmp_path = fresh.directory
    if "tcp6:" in command and not harness.ipv6_available():
        return  # skipped by the test
    sock_path = tmp_path / "ex2.sock"
    argv = shlex.split(command.replace("8091", "0").replace("/tmp/ex2.sock", str(sock_path)))
    proc = harness.start_server(argv + ["--port", "0"], tmp_path)
    try:
        expected = command.count("--listen") + 1  # one line per endpoint, and UDP's
        proc.wait_for(lambda _: len([x for x in proc.program_lines() if "listening on" in x])
                      >= expected)
        lines = [x for x in proc.program_lines() if "listening on" in x]
        assert len(lines) == expected, lines
        for line in lines:
            match = harness.LISTENING.search(line)
            if match:  # a TCP or UDP port: it answers
                host, port = match.group(2), int(match.group(3))
                if match.group(1) == "TCP":
                    assert harness.tcp_exchange(port, b"3 4\n", host=host) == b"7\n"
                else:
                    assert harness.udp_exchange(port, b"3 4\n", host=host) == b"7\n"
            else:
                assert line == f"Stream server listening on unix socket {sock_path}"
                assert harness.unix_exchange(sock_path, b"3 4\n") == b"7\n"
    finally:
        proc.stop()


@pytest.mark.parametrize("command", listen_examples())
def test_readme_listen_example(together, command):
    """Each `--listen` example of the twistd section serves where it says (port 0 instead
    of 8091, a socket file in a test folder instead of /tmp). (Every example at once:
    `together`.)"""
    if "tcp6:" in command and not harness.ipv6_available():
        pytest.skip("no IPv6 on this machine")
    together(_readme_listen_example, listen_examples(), command)
