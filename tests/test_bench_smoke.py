"""The benchmark runs: `python3 -m tests.bench.run --quick` ends well with sane figures.

Never a speed assertion: a shared or slow machine must not fail the suite. What must hold
anywhere is that every reply was correct, nothing failed, and the report was written.
"""

import json
import sys
from pathlib import Path

import pytest

from tests import harness

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the benchmark reads /proc and pins CPUs: Linux only")


def _quick_run(start):
    """One --quick run of the whole benchmark, shorter still (300 idle connections,
    0.02 s of warm-up and 0.05 s per run: the suite checks the runs, not the speed):
    its JSON report, its stdout and its output folder."""
    out = start.directory
    run = harness.run([sys.executable, "-m", "tests.bench.run", "--quick", "--idle", "300",
                       "--warmup", "0.02", "--duration", "0.05", "--out", str(out)],
                      timeout=240)
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-3000:]
    [report] = out.glob("bench-*.json")
    return json.loads(report.read_text()), run.stdout.decode(), out


def start_in_background(background, names):
    """Start the run when the collection ends (conftest.py calls this), to run beside the
    rest of the suite: it is a process of its own, seconds long, that needs nothing else."""
    if sys.platform.startswith("linux"):
        background.start(_quick_run, [()])


@pytest.fixture(scope="module")
def quick_run(background):
    return background(_quick_run, [()], ())


def test_every_run_answered_correctly(quick_run):
    """Every run of every server got only correct replies: no errors, no failure."""
    raw, _, _ = quick_run
    assert raw["runs"]
    for run in raw["runs"]:
        where = f"{run['workload']} on {run['server']}"
        assert not run.get("failed"), where + ": " + str(run.get("failed"))
        assert run["errors"] == 0, where + ": " + json.dumps(run)
        assert run["wrong"] == 0, where


def test_figures_are_sane(quick_run):
    """Rates, latencies and server figures are positive and in order (p50 <= p99)."""
    raw, _, _ = quick_run
    for run in raw["runs"]:
        where = f"{run['workload']} on {run['server']}"
        assert run["requests"] > 0 and run["rps"] > 0, where
        assert 0 < run["p50_us"] <= run["p99_us"] <= run["max_us"], where
        assert run["cpu_s"] >= 0, where
        if run["mode"] == "idle":
            assert run["idle_open"] == run["conns"] == run["open"], where
            assert run["rss_kb"] > 0 and run["threads"] >= 1, where
        else:
            assert run["open"] == run["conns"] or run["mode"] == "perreq", where
            assert run["server_cpu_s"] >= 0 and run["rss_kb"] > 0, where
            assert run["threads"] >= 1, where


def test_every_server_and_workload_ran(quick_run):
    """Each server that exists in the checkout ran each workload once."""
    raw, _, _ = quick_run
    pairs = {(run["server"], run["workload"]) for run in raw["runs"]}
    servers = {server for server, _ in pairs}
    workloads = {workload for _, workload in pairs}
    assert {"min-threads", "min-twisted", "min-asyncio"} <= servers
    for project, source in (("basic", "basic/ex2_sum/tcpserver.py"),
                            ("twisted", "twisted_impl/ex2_sum/tcpserver.py")):
        assert (project in servers) == (ROOT / source).exists()
    assert len(workloads) == 7
    assert len(pairs) == len(servers) * len(workloads) == len(raw["runs"])


def test_report_printed_and_written(quick_run):
    """The Markdown tables and the environment lines are printed and written to --out."""
    raw, stdout, out = quick_run
    [written] = out.glob("bench-*.md")
    assert written.read_text(encoding="utf-8") == stdout
    for needle in ("| workload | server | req/s", "| idle 300 | min-twisted | 300 |",
                   "- machine: ", "- Python: ", "- Twisted: ", "- load generator: ",
                   "- placement: ", "## Targets"):
        assert needle in stdout
