"""Third-party peers: netcat (OpenBSD's nc) and socat talk to every server.

They prove the wire contract alone is enough to talk to the servers. Without nc or
socat these tests are skipped, except in CI (the CI variable is set), where .ci/run
installs them and their absence is a failure.

Over UDP, nc and socat only stop after a fixed wait (`nc -w 1`, `socat -t`), so all
their runs are started together, once, by a module fixture, and the tests read the
results: the waits overlap instead of adding up.
"""

import pytest

from tests import cases, harness
from tests.conftest import need_tool

IMPLS = harness.SERVER_IMPLS


def udp_sample(exercise):
    """A few short rows of an exercise, with awkward ones, for the one-process-per-row tools."""
    if exercise == "ex0_hello":
        # The greeting ends in "\n" exactly when the datagram did.
        return [(b"hello\n", cases.GREETING), (b"\xff garbage", cases.bare(cases.GREETING))]
    rows = [(r, a) for r, a in cases.rows(exercise, "udp") if len(r) < 100]
    # And one row sent bare (printf '3 4' | nc -u): its reply comes back bare.
    request, reply = rows[0]
    return rows[:3] + rows[-3:] + [(cases.without_line_ending(request), cases.bare(reply))]


def peer_command(tool, transport, port):
    """The command line of nc or socat for one exchange."""
    if tool == "nc":
        if transport == "tcp":
            return ["nc", "-N", "127.0.0.1", str(port)]
        return ["nc", "-u", "-w", "1", "127.0.0.1", str(port)]
    if transport == "tcp":
        return ["socat", "-t", "5", "-", f"TCP:127.0.0.1:{port}"]
    return ["socat", "-t", "1", "-", f"UDP:127.0.0.1:{port}"]


def exchange(tool, transport, port, data):
    """Run the peer with data on its standard input; return what it printed."""
    result = harness.run(peer_command(tool, transport, port), data, timeout=20)
    assert (result.returncode, result.stderr) == (0, b""), result
    return result.stdout


@pytest.fixture(scope="module")
def udp_results(pool):
    """{(tool, impl, exercise): [(request, output)]}: every UDP peer run, run at once."""
    tools = [t for t in ("nc", "socat") if harness.tool(t)]
    plan = []
    for impl in IMPLS:
        for exercise in cases.EXERCISES:
            port = pool.port(impl, exercise, "udp")
            for tool in tools:
                for request, _ in udp_sample(exercise):
                    plan.append((tool, impl, exercise, port, request))
    outputs = harness.parallel([
        lambda t=t, p=p, r=r: exchange(t, "udp", p, r) for t, _, _, p, r in plan])
    results = {}
    for (tool, impl, exercise, _, request), output in zip(plan, outputs):
        results.setdefault((tool, impl, exercise), []).append((request, output))
    return results


@pytest.mark.parametrize("tool", ["nc", "socat"])
@pytest.mark.parametrize("exercise", cases.EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_tcp_peer(pool, tool, impl, exercise):
    """nc -N and socat send all rows on one connection and print exactly the replies; a
    last request without "\\n" (printf '3 4' | nc -N) is answered bare at the half-close."""
    need_tool(tool)
    port = pool.port(impl, exercise, "tcp")
    if exercise == "ex0_hello":
        assert exchange(tool, "tcp", port, b"") == cases.GREETING
        return
    rows = cases.rows(exercise, "tcp")
    first, reply = rows[0]
    rows = rows + [(cases.without_line_ending(first), cases.bare(reply))]
    got = exchange(tool, "tcp", port, b"".join(r for r, _ in rows))
    assert got == b"".join(a for _, a in rows)


@pytest.mark.parametrize("tool", ["nc", "socat"])
@pytest.mark.parametrize("exercise", cases.EXERCISES)
@pytest.mark.parametrize("impl", IMPLS)
def test_udp_peer(udp_results, tool, impl, exercise):
    """nc -u and socat UDP send a row as a datagram and print exactly its reply."""
    need_tool(tool)
    assert udp_results[(tool, impl, exercise)] == udp_sample(exercise)
