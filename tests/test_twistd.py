"""The twistd services: found by twistd from anywhere, with their options.

The services' rows, clients, peers, robustness and Ctrl+C are tested with the other
implementations ("twistd" in the test names); this module holds what only twistd has.
"""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from tests import harness

SERVICES = harness.SERVICES


def service_lines(help_text):
    """The service names listed under `Commands:` in `twistd --help`."""
    commands = help_text.split("Commands:", 1)[1]
    return re.findall(r"^    (\S+)", commands, re.M)


def _twistd_help_lists_the_four_services(fresh, where):
    tmp_path = fresh.directory
    cwd = harness.ROOT if where == "repo_root" else tmp_path
    result = harness.run(["twistd", "--help"], cwd=cwd)
    assert result.returncode == 0, result
    names = service_lines(result.stdout.decode())
    assert [n for n in names if n in SERVICES.values()] == sorted(SERVICES.values())
    assert list(tmp_path.iterdir()) == []  # no twistd.pid or twistd.log left in the folder


@pytest.mark.parametrize("where", ["repo_root", "temp_dir"])
def test_twistd_help_lists_the_four_services(together, where):
    """`twistd --help` lists ex0-hello, ex1-message, ex2-sum, ex3-password, from any folder.
    (Both at once: `together`.)"""
    together(_twistd_help_lists_the_four_services, ["repo_root", "temp_dir"], where)


def _service_help_shows_its_options(fresh, service):
    result = harness.run(["twistd", service, "--help"])
    assert result.returncode == 0, result
    for option in ("--host", "--port", "--timeout", "--max-clients", "--listen"):
        assert option in result.stdout.decode(), option


@pytest.mark.parametrize("service", sorted(SERVICES.values()))
def test_service_help_shows_its_options(together, service):
    """`twistd <service> --help` shows --host, --port, --timeout, --max-clients and --listen.
    (The four at once: `together`.)"""
    together(_service_help_shows_its_options, sorted(SERVICES.values()), service)


def test_listen_endpoints(fresh, tmp_path):
    """--listen unix:PATH and --listen tcp:0:interface=127.0.0.1 both serve, UDP too."""
    path = tmp_path / "ex2.sock"
    server = fresh("twistd", "ex2_sum", options=[
        "--listen", f"unix:{path}", "--listen", "tcp:0:interface=127.0.0.1"])
    ports = server.ports
    assert harness.tcp_exchange(ports["TCP"], b"3 4\n-5 12\n") == b"7\n7\n"
    assert harness.udp_exchange(ports["UDP"], b"3 4") == b"7"  # bare in, bare out
    assert harness.unix_exchange(path, b"3 4\n1 2\n") == b"7\n3\n"


def test_listen_replaces_host_and_port_for_tcp(fresh):
    """With --listen, TCP listens only where --listen says: one TCP listening line."""
    server = fresh("twistd", "ex2_sum", options=["--listen", "tcp:0:interface=127.0.0.1"])
    server.ports
    tcp_lines = [x for x in server.output() if x.startswith("TCP server listening")]
    assert tcp_lines == [f"TCP server listening on 127.0.0.1 port {server.ports['TCP']}, "
                         "Ctrl+C to stop"]


def test_timeout_applies_to_listen_endpoints(fresh):
    """--timeout closes silent connections on --listen endpoints too."""
    server = fresh("twistd", "ex2_sum",
                   options=["--timeout", "1", "--listen", "tcp:0:interface=127.0.0.1"])
    with harness.connect(server.ports["TCP"]) as sock:
        start = time.monotonic()
        assert harness.read_until_eof(sock) == b""
        elapsed = time.monotonic() - start
    assert 0.8 < elapsed < 5, elapsed


def test_python_m_twisted_works_from_the_repo_root(tmp_path):
    """`python3 -m twisted ex2-sum` (Twisted's `twist` runner, always in the foreground) serves."""
    # No -n: `twist` has no such option, it always runs in the foreground.
    server = harness.start_server(
        ["python3", "-m", "twisted", "--log-format=text", "ex2-sum", "--port", "0"], tmp_path)
    try:
        assert harness.tcp_exchange(server.ports["TCP"], b"3 4\n") == b"7\n"
        assert harness.udp_exchange(server.ports["UDP"], b"3 4\n") == b"7\n"
    finally:
        server.stop()


def pid_alive(pid):
    """True while the process `pid` of this test run lives: a process that has ended (a
    zombie too) is not, nor another program's that was given its number again."""
    return pid in harness.ours()


def test_background_service_and_kill(tmp_path):
    """Without -n, as the README says: twistd goes to the background, writes twistd.pid and
    twistd.log in the current folder, serves, and `kill $(cat twistd.pid)` stops it."""
    started = subprocess.run(["twistd", "ex2-sum", "--port", "0"], cwd=tmp_path,
                             env=harness.ENV, stdin=subprocess.DEVNULL,
                             capture_output=True, timeout=30)
    assert (started.returncode, started.stderr) == (0, b"")
    pid_file, log_file = tmp_path / "twistd.pid", tmp_path / "twistd.log"
    deadline = time.monotonic() + 15
    ports = {}
    while len(ports) < 2 and time.monotonic() < deadline:
        if log_file.exists():
            for line in log_file.read_text().splitlines():
                match = harness.LISTENING.search(line)
                if match:
                    ports[match.group(1)] = int(match.group(3))
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    try:
        assert sorted(ports) == ["TCP", "UDP"], log_file.read_text()
        assert harness.tcp_exchange(ports["TCP"], b"3 4\n") == b"7\n"
        assert harness.udp_exchange(ports["UDP"], b"3 4") == b"7"
    finally:
        os.kill(pid, signal.SIGTERM)  # what `kill $(cat twistd.pid)` does
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not pid_alive(pid)
    assert not pid_file.exists()  # twistd removes it on a clean stop
    assert "Server stopped" in log_file.read_text()


def test_background_service_with_port_in_use(tmp_path):
    """Without -n and with the port taken: twistd says so and exits 1 (it does not hang
    waiting for its child), leaves no twistd.pid, and twistd.log has the scripts' line."""
    with socket.socket() as holder:
        holder.bind((harness.HOST, 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = subprocess.run(["twistd", "ex2-sum", "--port", str(port)], cwd=tmp_path,
                                env=harness.ENV, stdin=subprocess.DEVNULL,
                                capture_output=True, timeout=30)
    line = (f"error: cannot listen on 127.0.0.1 port {port}: address already in use "
            "(is another server running? try --port 0)")
    # twistd's parent exits as soon as its daemon reports the failure; the daemon removes
    # its pid file after that, then ends: the checks wait for its end.
    deadline = time.monotonic() + 10
    while any(argv[-2:] == ["--port", str(port)] for argv in harness.ours().values()):
        assert time.monotonic() < deadline, "twistd's daemon still runs 10 s after failing"
        time.sleep(0.01)
    assert result.returncode == 1
    assert result.stderr.startswith(b"An error has occurred: "), result.stderr
    assert not (tmp_path / "twistd.pid").exists()
    assert (tmp_path / "twistd.log").read_text().splitlines()[-1].endswith("] " + line)
