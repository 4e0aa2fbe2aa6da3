"""Fixtures shared by the conformance suite: a pool of running servers, test bodies run
together in threads, and the checks that no process outlives the session.

Starting a Twisted program costs about 0.2 s of CPU, so one server per (implementation,
exercise, transport) is started when the collection ends and shared by every test that
does not need a fresh one; a twistd service serves TCP and UDP from one process, so it is
shared by both transports. Tests that change a server's state (Ctrl+C, --timeout, memory
measurements) start their own with `fresh` or `together` and stop them when they end.

The suite runs in one process on two cores: what keeps it fast is overlap. `together`
runs one test body for all its parameters at once; `background` starts a few slow,
self-contained checks (the benchmark's quick run, other Pythons) as soon as the
collection ends, and their tests run last.
"""

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests import harness


def pytest_configure(config):
    """Kill our servers on SIGTERM/SIGHUP too, not only on a normal end or Ctrl+C; and
    let them answer Ctrl+C even when the suite itself was started as a background job."""
    harness.kill_on_termination()
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # A shell starts a background job with SIGINT ignored, and an ignored signal stays
        # ignored across exec: every server would ignore the tests' Ctrl+C. A handler
        # (any but SIG_IGN) is reset to the default in the children instead.
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items):
    """The tests of modules with background checks (see `background`) run last: their
    checks then overlap the rest of the suite instead of being waited for at once."""
    items.sort(key=lambda item: hasattr(getattr(item, "module", None), "start_in_background"))


def pytest_collection_finish(session):
    """Start the shared servers if a test will use them, and let each test module that has
    a `start_in_background(background, names)` start its slow, self-contained checks
    (given the names of its test functions that will run): all of it then runs beside the
    first tests instead of being waited for. See `pool` and `background`."""
    if session.config.option.collectonly:
        return
    if any("pool" in getattr(item, "fixturenames", ()) for item in session.items):
        _pool(session.config).start_all()
    names = {}
    for item in session.items:
        module = getattr(item, "module", None)
        if hasattr(module, "start_in_background"):
            names.setdefault(module, set()).add(item.originalname)
    for module, its_names in names.items():
        module.start_in_background(_background(session.config), its_names)


class ServerPool:
    """Servers started all at once when the collection ends (again if one died), stopped
    at the end of the session."""

    def __init__(self, directory):
        self.directory = directory
        self.servers = {}
        self.lock = threading.Lock()

    def start_all(self):
        """Start every shared server at once, without waiting: their start-ups overlap
        (one after the other, each waited for, they took seconds)."""
        for impl in harness.SERVER_IMPLS:
            for exercise in harness.SERVICES:
                for transport in harness.TRANSPORTS:
                    self._server(impl, exercise, transport)

    def _server(self, impl, exercise, transport):
        key = (impl, exercise, "both" if impl == "twistd" else transport)
        with self.lock:
            server = self.servers.get(key)
            if server is None or not server.alive():
                if server is not None:
                    server.stop()
                server = harness.start(impl, exercise, transport, directory=self.directory)
                self.servers[key] = server
        return server

    def get(self, impl, exercise, transport):
        """The shared server for (impl, exercise, transport), started if needed."""
        server = self._server(impl, exercise, transport)
        server.ports  # wait until it listens (raises with its output if it cannot)
        return server

    def port(self, impl, exercise, transport):
        """The port of that server for that transport."""
        return self.get(impl, exercise, transport).ports[transport.upper()]

    def stop_all(self):
        for server in self.servers.values():
            server.stop()
        self.servers.clear()


@pytest.fixture(scope="session")
def pool(request):
    """The session's shared servers (started when the collection ends, each again on use
    if it died; stopped by `no_process_left_behind`)."""
    return _pool(request.config)


def _session_folder(config):
    """A folder for the session's shared servers and background checks, made before any
    test runs (so without tmp_path_factory), removed at the end."""
    if not hasattr(config, "sockets_folder"):
        config.sockets_folder = Path(tempfile.mkdtemp(prefix="sockets-session-"))
    return config.sockets_folder


def _pool(config):
    if not hasattr(config, "sockets_pool"):
        config.sockets_pool = ServerPool(_session_folder(config) / "servers")
        config.sockets_pool.directory.mkdir()
    return config.sockets_pool


@contextlib.contextmanager
def servers_in(directory):
    """`start(impl, exercise, transport, options, host)`, which starts a server with its
    output in `directory`; every server it started is stopped when the block ends."""
    started = []

    def start(impl, exercise, transport="tcp", options=(), host=harness.HOST):
        server = harness.start(impl, exercise, transport, options, directory, host)
        started.append(server)
        return server

    start.directory = Path(directory)
    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def fresh(tmp_path):
    """Start servers that this test owns: `fresh(impl, exercise, transport, options)`.

    They are killed when the test ends, passed, failed or interrupted.
    """
    with servers_in(tmp_path) as start:
        yield start


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind(request):
    """At the end of the session, every process the suite started is gone.

    The shared servers and the background checks start when the collection ends, before
    any test: they are stopped here, even when no test that uses them ran (Ctrl+C, -x).
    A background check still running then belongs to a test that never ran: its
    processes are killed, not reported.
    """
    yield
    config = request.config
    if hasattr(config, "sockets_pool"):
        config.sockets_pool.stop_all()
    together = getattr(config, "sockets_background", None)
    if together is not None and together.running():
        harness.kill_all()
        together.join(10)
    left = harness.leftovers()
    harness.kill_all()
    assert left == [], f"processes left running: {left}"


def need_tool(name):
    """The path of nc or socat; skip without it, but fail in CI, which installs them."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (.ci/run installs it)")
        pytest.skip(f"{name} is not installed (apt-get install netcat-openbsd socat)")
    return path


class Together:
    """Run one test body for every parameter of its test function at once, in threads, the
    first time any of those tests asks; each test then gets its own parameter's outcome.

    Most of the slow tests wait (an idle timeout, a pause, a process start-up): run one
    after the other, the waits add up; run together, they overlap. The body is the test's
    own code, assertions included: an assertion that fails in the body is raised again by
    the test of that parameter, and by that test only. A body gets `start`, which starts a
    server as `fresh` does (those servers are stopped when the body ends), and whose
    `directory` is an empty folder of the body's own, as `tmp_path` is a test's.
    """

    def __init__(self, mktemp):
        self.mktemp = mktemp  # mktemp(name): a new empty folder
        self.runs = {}
        self.lock = threading.Lock()

    def start(self, body, params):
        """Start body(start, *p) for every p of `params` in threads, unless they were
        started already. A parameter is a tuple of the test's arguments, or the one
        argument itself."""
        key = getattr(body, "func", body)  # a functools.partial of the same body
        params = [p if isinstance(p, tuple) else (p,) for p in params]
        with self.lock:
            if key in self.runs:
                return key
            outcomes = [(RuntimeError("the body did not end"), None)] * len(params)
            # mktemp (tmp_path_factory's) is not safe in threads: one folder per body,
            # made here, and a folder per parameter in it.
            folder = self.mktemp(key.__name__.strip("_")[:40])

            def call(i):
                try:
                    with servers_in(tempfile.mkdtemp(prefix="case-", dir=folder)) as start:
                        outcomes[i] = (None, body(start, *params[i]))
                except BaseException as error:  # noqa: B036 (re-raised by its test)
                    outcomes[i] = (error, None)

            threads = [threading.Thread(target=call, args=(i,), daemon=True)
                       for i in range(len(params))]
            for thread in threads:
                thread.start()
            self.runs[key] = (params, outcomes, threads)
        return key

    def running(self):
        """True while a body started here has not ended."""
        return any(t.is_alive() for _, _, threads in self.runs.values() for t in threads)

    def join(self, timeout):
        """Wait up to `timeout` seconds for every body started here to end."""
        deadline = time.monotonic() + timeout
        for _, _, threads in list(self.runs.values()):
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))

    def __call__(self, body, params, param):
        """Run body(start, *p) for every p of `params` (once), then return what
        body(start, *param) returned, or re-raise what it raised."""
        params, outcomes, threads = self.runs[self.start(body, params)]
        for thread in threads:
            thread.join()
        param = param if isinstance(param, tuple) else (param,)
        error, result = outcomes[params.index(param)]  # by equality: parameters may be lists
        if error is not None:
            raise error
        return result


@pytest.fixture(scope="module")
def together(tmp_path_factory):
    """A module's `Together`: see there."""
    return Together(tmp_path_factory.mktemp)


@pytest.fixture(scope="session")
def background(request):
    """The session's `Together`, whose bodies a test module may start as soon as the
    collection ends (see pytest_collection_finish): slow checks that need nothing from
    the other tests then run beside them, and their tests wait for their outcome."""
    return _background(request.config)


def _background(config):
    if not hasattr(config, "sockets_background"):
        folder = _session_folder(config)
        config.sockets_background = Together(
            lambda name: Path(tempfile.mkdtemp(prefix=name + "-", dir=folder)))
    return config.sockets_background


def pytest_unconfigure(config):
    """Remove the session's folder (every test has ended; after an interrupted run, a
    background body may still be running: then the folder is left)."""
    together = getattr(config, "sockets_background", None)
    running = together is not None and together.running()
    if hasattr(config, "sockets_folder") and not running:
        shutil.rmtree(config.sockets_folder, ignore_errors=True)
