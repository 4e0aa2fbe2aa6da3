"""The benchmark runs: `python3 -m tests.bench.run --quick` ends well with sane figures.

Never a speed assertion: a shared or slow machine must not fail the suite. What must hold
anywhere is that every reply was correct, nothing failed, and the report was written.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the benchmark reads /proc and pins CPUs: Linux only")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One --quick run of the whole benchmark, its output folder and its stdout (shorter
    still: 300 idle connections, 0.05 s per run; the suite checks the runs, not the speed)."""
    out = tmp_path_factory.mktemp("bench")
    run = subprocess.run([sys.executable, "-m", "tests.bench.run", "--quick", "--idle", "300",
                          "--duration", "0.05", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    [report] = out.glob("bench-*.json")
    return json.loads(report.read_text()), run.stdout, out


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
