"""Fixtures shared by the conformance suite: a pool of running servers, and the checks
that no process outlives the session.

Starting a Twisted program costs about 0.3 s, so one server per (implementation,
exercise, transport) is started on first use and shared by every test that does not
need a fresh one; a twistd service serves TCP and UDP from one process, so it is shared
by both transports. Tests that change a server's state (Ctrl+C, --timeout, memory
measurements) start their own with `harness.start` and stop it themselves.
"""

import contextlib
import os
import shutil
import signal
import tempfile
import threading
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


def pytest_collection_finish(session):
    """Start making the venvs of the Twisted version tests at once, in the background."""
    if session.config.option.collectonly:
        return
    if any(item.nodeid.startswith("tests/test_versions.py::test_twisted_on_python")
           for item in session.items):
        from tests import test_versions
        test_versions.start_making_venvs()


class ServerPool:
    """Servers started on first use, stopped at the end of the session."""

    def __init__(self, directory):
        self.directory = directory
        self.servers = {}
        self.lock = threading.Lock()

    def get(self, impl, exercise, transport):
        """The shared server for (impl, exercise, transport), started if needed."""
        key = (impl, exercise, "both" if impl == "twistd" else transport)
        with self.lock:
            server = self.servers.get(key)
            if server is None or not server.alive():
                if server is not None:
                    server.stop()
                server = harness.start(impl, exercise, transport, directory=self.directory)
                self.servers[key] = server
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
def pool(tmp_path_factory):
    """The session's shared servers."""
    servers = ServerPool(tmp_path_factory.mktemp("servers"))
    try:
        yield servers
    finally:
        servers.stop_all()


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
def no_process_left_behind():
    """At the end of the session, every process the suite started is gone."""
    yield
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

    def __init__(self, tmp_path_factory):
        self.tmp_path_factory = tmp_path_factory
        self.outcomes = {}
        self.lock = threading.Lock()

    def _run_one(self, body, param, folder):
        # tmp_path_factory.mktemp is not safe in threads: one folder per body, made
        # beforehand, and a folder per parameter in it.
        with servers_in(tempfile.mkdtemp(prefix="case-", dir=folder)) as start:
            body(start, *param)  # start.directory: a folder of its own, like tmp_path

    def __call__(self, body, params, param):
        """Run body(start, *p) for every p of `params` (once), then re-raise what
        body(start, *param) raised, if anything. A parameter is a tuple of the test's
        arguments, or the one argument itself."""
        key = getattr(body, "func", body)  # a functools.partial of the same body
        params = [p if isinstance(p, tuple) else (p,) for p in params]
        param = param if isinstance(param, tuple) else (param,)
        with self.lock:
            if key not in self.outcomes:
                outcomes = [RuntimeError("the body did not end")] * len(params)
                folder = self.tmp_path_factory.mktemp(key.__name__.strip("_")[:40])

                def call(i):
                    try:
                        self._run_one(body, params[i], folder)
                        outcomes[i] = None
                    except BaseException as error:  # noqa: B036 (re-raised by its test)
                        outcomes[i] = error

                threads = [threading.Thread(target=call, args=(i,)) for i in range(len(params))]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                self.outcomes[key] = (params, outcomes)
        params, outcomes = self.outcomes[key]
        outcome = outcomes[params.index(param)]  # by equality: parameters may be lists
        if outcome is not None:
            raise outcome


@pytest.fixture(scope="module")
def together(tmp_path_factory):
    """A module's `Together`: see there."""
    return Together(tmp_path_factory)
