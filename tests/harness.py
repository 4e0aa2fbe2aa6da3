"""Process and socket helpers for the conformance suite.

Every server the suite starts goes through `start_server`: it listens on port 0, its
output goes to a temporary file (a pipe that nobody drains would block a server that
prints a line per connection), its first lines are polled with a deadline (never a
sleep), and it runs in its own process group so that `stop` can end it and every child
it has. Every process started here carries the run's mark in its environment, so that
the session can check at its end that none is left behind (by the mark: a pid may have
been given to another program since), and an `atexit` hook kills what an interrupted run
left.
"""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _path_with_our_scripts():
    """PATH with this interpreter's scripts folder first (a venv's bin/ or Scripts\\).

    The suite runs `twistd`, and the README's examples `python3` and `twistd`, by name:
    run as `.venv/bin/python -m pytest`, without an activated venv, they must still be
    the venv's (and so see the editable install of this project), not whatever comes
    first on the PATH, or nothing at all. sys.executable is not resolved: a venv's python
    is a symlink to the base interpreter, whose folder has no twistd.
    """
    folders = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    path = os.environ.get("PATH", os.defpath).split(os.pathsep)
    first = [f for i, f in enumerate(folders) if f and f not in folders[:i]]
    return os.pathsep.join(first + [p for p in path if p not in first])


# Every process the suite starts carries this run's mark in its environment: a process
# group's number (its leader's pid) is only ours while the leader is not reaped, since the
# system gives freed pids again (they wrap around: at 32768 here, within minutes on a busy
# machine). What is left of a group after that is found by the mark.
RUN_MARK = f"{os.getpid()}-{time.time_ns()}"
ENV = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONUNBUFFERED="1",
           PATH=_path_with_our_scripts(), SOCKETS_TEST_RUN=RUN_MARK)
ENV.pop("PYTHONSTARTUP", None)
HOST = "127.0.0.1"

SERVER_IMPLS = ("basic", "twisted", "twistd")
CLIENT_IMPLS = ("basic", "twisted")
TRANSPORTS = ("tcp", "udp")
SERVICES = {"ex0_hello": "ex0-hello", "ex1_message": "ex1-message",
            "ex2_sum": "ex2-sum", "ex3_password": "ex3-password"}

LISTENING = re.compile(r"(TCP|UDP) server listening on (\S+) port (\d+), Ctrl\+C to stop$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\S+ \[[^\]]*\] ")
SYSTEM = re.compile(r"^\d{4}-\d\d-\d\dT\S+ \[([^\]]*)\] ")
FRAMEWORK = re.compile(r"(\w+ starting on |Starting factory |Stopping factory |\(\w+ Port \d+ Closed\))")
START_TIMEOUT = 15.0  # seconds a server may take to print its first lines (slow CI)

_started = []  # every process started here (Popen; its pid is its process group's)
_lock = threading.Lock()


# --------------------------------------------------------------------------- processes

def _register(proc):
    with _lock:
        _started.append(proc)


def _kill_group(proc, sig=signal.SIGKILL):
    """Signal the process group of a process started with start_new_session=True.

    Once its leader is reaped (returncode set) and the group has emptied, the group's
    number may be another program's: then only the group's processes that carry this
    run's mark are signalled.
    """
    try:
        if proc.returncode is None:  # not reaped: the number is still this group's
            os.killpg(proc.pid, sig)
            return
        os.killpg(proc.pid, 0)  # the usual case: the group is gone
    except (ProcessLookupError, PermissionError):
        return
    for pid in ours(proc.pid):
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def ours(pgid=None):
    """{pid: command line} of the live processes (zombies aside) that this run started,
    known by the mark in their environment; of the process group `pgid` only, if given."""
    mark = f"SOCKETS_TEST_RUN={RUN_MARK}".encode()
    found = {}
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return found
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z" or (pgid is not None and int(fields[2]) != pgid):
                continue
            if mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:-1]
        except OSError:
            continue  # gone meanwhile, or another user's
        found[int(entry.name)] = [a.decode("utf-8", "replace") for a in argv]
    return found


def leftovers(timeout=2.0):
    """The processes started by the suite that still run: [(pid, argv)]. A process that
    was just killed, or that is ending on its own, gets up to `timeout` seconds to go."""
    deadline = time.monotonic() + timeout
    while True:
        left = sorted(ours().items())
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def kill_all():
    """Kill every process the suite started (the session's last resort): the groups
    whose leader is not reaped yet, and every other process with this run's mark."""
    with _lock:
        procs = list(_started)
    for proc in procs:
        if proc.returncode is None:
            _kill_group(proc)
    for pid in ours():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for proc in procs:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


atexit.register(kill_all)


def kill_on_termination():
    """Make SIGTERM and SIGHUP (`timeout`, a closed terminal) end the run like Ctrl+C.

    Without this, the default action kills the test process at once: no finalizer and no
    atexit hook runs, and every server it started would be left running.
    """
    def handler(signum, frame):
        kill_all()
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, handler)


def command(argv):
    """The argv as run: `python3` is this interpreter; twistd gets no pidfile, log to stdout."""
    argv = list(argv)
    if argv[0] in ("python3", "python"):
        argv[0] = PYTHON
    if os.path.basename(argv[0]) == "twistd":  # by name, or a venv's bin/twistd
        if not any(a.startswith("--pidfile") for a in argv):
            argv[1:1] = ["--pidfile="]
        if not any(a.startswith("--logfile") or a == "-l" for a in argv):
            argv[1:1] = ["--logfile=-"]
    return argv


def server_argv(impl, exercise, transport="tcp"):
    """The command line of one server implementation, without options."""
    if impl == "basic":
        return [PYTHON, f"basic/{exercise}/{transport}server.py"]
    if impl == "twisted":
        return [PYTHON, "-m", f"twisted_impl.{exercise}.{transport}server"]
    if impl == "twistd":
        return ["twistd", "-n", "--pidfile=", "--logfile=-", SERVICES[exercise]]
    raise ValueError(impl)


def client_argv(impl, exercise, transport):
    """The command line of one client implementation, without options."""
    if impl == "basic":
        return [PYTHON, f"basic/{exercise}/{transport}client.py"]
    if impl == "twisted":
        return [PYTHON, "-m", f"twisted_impl.{exercise}.{transport}client"]
    raise ValueError(impl)


class Server:
    """A server process started by `start_server`; read its output, signal it, stop it."""

    def __init__(self, argv, directory):
        self.argv = command(argv)
        directory = Path(directory or tempfile.mkdtemp(prefix="sockets-test-"))
        fd, out = tempfile.mkstemp(prefix="server-", suffix=".out", dir=directory)
        os.close(fd)
        self.out_path = Path(out)
        self.err_path = self.out_path.with_suffix(".err")
        # twistd and `python3 -m twisted` (twist) run TCP and UDP in one process.
        self.twistd = (os.path.basename(self.argv[0]) == "twistd"
                       or self.argv[1:3] == ["-m", "twisted"])
        with open(self.out_path, "wb") as stdout, open(self.err_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL, stdout=stdout,
                stderr=stderr, start_new_session=True)
        _register(self.proc)
        self.pid = self.proc.pid
        self._ports = None

    # Output ----------------------------------------------------------------------

    def output(self):
        """Everything the server printed so far, as text lines (twistd's timestamp removed)."""
        text = self.out_path.read_bytes().decode("utf-8", "replace")
        lines = text.split("\n")[:-1]  # only complete lines
        return [TIMESTAMP.sub("", line) for line in lines]

    def program_lines(self):
        """The lines the program itself printed: for twistd, without twistd's own lines
        (start-up, reactor, factories starting and stopping, shutdown)."""
        text = self.out_path.read_bytes().decode("utf-8", "replace")
        lines = []
        for line in text.split("\n")[:-1]:
            match = SYSTEM.match(line)
            if match:
                system, line = match.group(1), line[match.end():]
                if system.startswith("twisted.") or FRAMEWORK.match(line):
                    continue
            lines.append(line)
        return lines

    def raw_output(self):
        """Standard output as bytes."""
        return self.out_path.read_bytes()

    def stderr(self):
        """Standard error as bytes."""
        return self.err_path.read_bytes()

    def wait_for(self, predicate, timeout=START_TIMEOUT, what="output"):
        """Poll the output until predicate(lines) is true; return the lines."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.output()
            if predicate(lines):
                return lines
            if self.proc.poll() is not None:
                lines = self.output()
                if predicate(lines):
                    return lines
                raise AssertionError(
                    f"{self.argv} exited with {self.proc.returncode} before {what}; "
                    f"stdout {lines!r}, stderr {self.stderr()!r}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.argv}: no {what} within {timeout} s; stdout {lines!r}, "
                    f"stderr {self.stderr()!r}")
            time.sleep(0.01)

    def wait_for_lines(self, count, timeout=START_TIMEOUT):
        """The output once it has at least `count` lines."""
        return self.wait_for(lambda lines: len(lines) >= count, timeout, f"{count} lines")

    def wait_for_line(self, line, timeout=START_TIMEOUT, since=0):
        """The output once it holds exactly `line` (twistd's timestamp removed) after its
        first `since` lines (a pooled server printed the same line for an earlier client
        that had the same port: the system reuses ports)."""
        return self.wait_for(lambda lines: line in lines[since:], timeout, repr(line))

    # Ports -----------------------------------------------------------------------

    @property
    def ports(self):
        """{"TCP": port, "UDP": port} as the listening lines say (one key for a script)."""
        if self._ports is None:
            def ready(lines):
                found = [LISTENING.search(line) for line in lines]
                kinds = {m.group(1) for m in found if m}
                return kinds >= {"TCP", "UDP"} if self.twistd else bool(kinds)
            lines = self.wait_for(ready, what="a listening line")
            ports = {}
            for line in lines:
                match = LISTENING.search(line)
                if match:
                    ports.setdefault(match.group(1), int(match.group(3)))
            self._ports = ports
        return self._ports

    @property
    def port(self):
        """The one port of a script server (the TCP one of a twistd service)."""
        ports = self.ports
        return ports.get("TCP", ports.get("UDP"))

    def first_line(self):
        """The first line of output."""
        return self.wait_for_lines(1)[0]

    # Memory ----------------------------------------------------------------------

    def rss_kb(self):
        """The server's resident memory in kB (VmRSS of /proc/<pid>/status)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    # Ending ----------------------------------------------------------------------

    def interrupt(self, timeout=5.0):
        """Send SIGINT (Ctrl+C) to the server alone; return its exit status and seconds taken."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.argv} still running {timeout} s after SIGINT")
        elapsed = time.monotonic() - start
        _kill_group(self.proc)  # anything it may have left in its group
        return status, elapsed

    def wait(self, timeout=START_TIMEOUT):
        """Wait for the server to exit on its own; return its exit status."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.argv} still running after {timeout} s")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """Kill the server's whole process group and reap it."""
        _kill_group(self.proc)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass


def start_server(argv, directory=None):
    """Start a server command line (as a list) from the repository root."""
    return Server(argv, directory)


def start(impl, exercise, transport="tcp", options=(), directory=None, host=HOST):
    """Start one implementation's server on port 0 (and 127.0.0.1 unless host is None)."""
    argv = server_argv(impl, exercise, transport)
    opts = ["--port", "0"]
    if host is not None:
        opts += ["--host", host]
    return Server(argv + opts + list(options), directory)


class Result:
    """What a finished client process did."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def __eq__(self, other):
        return (self.returncode, self.stdout, self.stderr) == (
            other.returncode, other.stdout, other.stderr)

    def __repr__(self):
        return f"Result({self.returncode}, {self.stdout!r}, {self.stderr!r})"


def run(argv, stdin=b"", timeout=30.0, cwd=ROOT):
    """Run a program to its end in its own process group; return a Result.

    The group is killed on a timeout and on any exception (Ctrl+C included).
    """
    proc = subprocess.Popen(
        command(argv), cwd=cwd, env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True)
    _register(proc)
    try:
        stdout, stderr = proc.communicate(stdin, timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        raise AssertionError(f"{argv} did not finish within {timeout} s")
    finally:
        _kill_group(proc)
        proc.wait()
    return Result(proc.returncode, stdout, stderr)


def run_client(impl, exercise, transport, args=(), stdin=b"", port=None, host=HOST,
               options=()):
    """Run one client implementation against host:port; return a Result."""
    argv = client_argv(impl, exercise, transport)
    if host is not None:
        argv += ["--host", host]
    if port is not None:
        argv += ["--port", str(port)]
    return run(argv + list(options) + list(args), stdin)


def parallel(functions):
    """Call each function in its own thread; return their results in order.

    Process start-ups dominate the client tests, and they overlap well on two cores.
    """
    results = [None] * len(functions)
    errors = []

    def call(i, f):
        try:
            results[i] = f()
        except BaseException as e:  # noqa: B036 (re-raised below)
            errors.append(e)

    threads = [threading.Thread(target=call, args=(i, f)) for i, f in enumerate(functions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def tool(name):
    """The path of a third-party program, or None."""
    return shutil.which(name)


# ----------------------------------------------------------------------------- sockets

def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def connect(port, host=HOST, timeout=10.0, nodelay=False):
    """A TCP connection to host:port with a timeout on every operation."""
    sock = socket.create_connection((host, port), timeout=timeout)
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_eof(sock, limit=100 * 1024 * 1024):
    """Every byte until the peer closes (a reset after data counts as the end)."""
    chunks = []
    size = 0
    while size < limit:
        try:
            data = sock.recv(1 << 16)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
        size += len(data)
    return b"".join(chunks)


def read_exactly(sock, count):
    """Exactly `count` bytes, or fewer if the peer closes first."""
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def tcp_exchange(port, data, host=HOST, timeout=10.0):
    """Send data, half-close, and return everything the server sends until it closes."""
    with connect(port, host, timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return read_until_eof(sock)


def unix_exchange(path, data, timeout=10.0):
    """tcp_exchange over a UNIX socket (a twistd service's `--listen unix:PATH`)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return read_until_eof(sock)


def tcp_request(sock, line, reply_size):
    """Send one request on an open connection and read a reply of known size."""
    sock.sendall(line)
    return read_exactly(sock, reply_size)


def tcp_bytewise(port, data, host=HOST, timeout=20.0):
    """Send data one byte per send() with TCP_NODELAY, half-close, read until EOF.

    The replies are read by a second thread meanwhile, so that neither side blocks.
    """
    deadline = time.monotonic() + timeout
    with connect(port, host, timeout, nodelay=True) as sock:
        received = []
        reader = threading.Thread(target=lambda: received.append(read_until_eof(sock)))
        reader.start()
        try:
            for i in range(len(data)):
                if received or time.monotonic() > deadline:
                    break  # the server closed early, or stopped reading: stop sending
                sock.send(data[i:i + 1])
            sock.shutdown(socket.SHUT_WR)
        finally:
            reader.join(max(0.0, deadline - time.monotonic()))
        return received[0] if received else None


def udp_exchange(port, data, host=HOST, timeout=2.0, tries=3):
    """Send one datagram from a new socket and return the reply datagram (or None).

    Loopback does not lose datagrams unless a buffer overflows; a few tries make the
    suite immune to that, while a server that never answers still shows as None.
    """
    for _ in range(tries):
        with socket.socket(family(host), socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout / tries)
            sock.sendto(data, (host, port))
            try:
                reply, address = sock.recvfrom(1 << 17)
            except (socket.timeout, ConnectionRefusedError):
                continue
            return reply
    return None


def free_port(kind=socket.SOCK_STREAM, host=HOST):
    """A port nothing listens on right now (bound, then released)."""
    with socket.socket(family(host), kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def ipv6_available():
    """True when this machine can listen on ::1."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def proc_net_listeners(table, port):
    """The local addresses (hex, as in /proc/net/<table>) bound to `port`."""
    found = []
    for name in (table, table + "6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hexport = fields[1].split(":")
            state = fields[3]
            if int(hexport, 16) == port and (state == "0A" or table == "udp"):
                found.append((name, address))
    return found

