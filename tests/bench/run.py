"""Benchmark: the blocking ex2 server against the event-driven one, with yardsticks.

    python3 -m tests.bench.run [--quick] [--rounds N] [--out DIR]

Measures the two project servers (basic/ex2_sum/tcpserver.py, a thread per client, and
twisted_impl/ex2_sum/tcpserver.py, one event loop) and three minimal servers of a dozen
lines each (tests/bench/yardsticks/: threads, Twisted LineOnlyReceiver, asyncio streams)
under the same workloads, alternating the servers in rounds, and prints a Markdown
report (also written to --out, with the raw figures as JSON and, when matplotlib is
importable, a PNG chart).

The load generator is tests/bench/loadgen.c, compiled here with `cc -O2` (one thread,
epoll: it costs far less CPU than the servers it measures); without a C compiler the
pure-Python tests/bench/loadgen.py runs instead, and the report says so. Server and
generator are pinned to different cores when the OS allows: on two cores, where the
scheduler puts them changes the figures several times over (tests' PERFORMANCE notes).
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent.parent
PY = sys.executable
SERVER_TIMEOUT = "3600"  # generous: idle connections must outlive the whole run
LISTENING = re.compile(rb"listening on \S+ port (\d+)")


# --- what is measured --------------------------------------------------------------

class Server:
    def __init__(self, name, style, command, source, yardstick=None, optional=False):
        self.name, self.style, self.command, self.source = name, style, command, source
        self.yardstick = yardstick  # for a project server: the name of its style's floor
        self.optional = optional  # measured only when --servers names it

    def available(self):
        return (ROOT / self.source).exists()


SERVERS = [
    Server("basic", "threads", [PY, "basic/ex2_sum/tcpserver.py"],
           "basic/ex2_sum/tcpserver.py", yardstick="min-threads"),
    Server("twisted", "event loop", [PY, "-m", "twisted_impl.ex2_sum.tcpserver"],
           "twisted_impl/ex2_sum/tcpserver.py", yardstick="min-twisted"),
    Server("min-threads", "threads", [PY, "tests/bench/yardsticks/threads.py"],
           "tests/bench/yardsticks/threads.py"),
    Server("min-twisted", "event loop", [PY, "tests/bench/yardsticks/twisted_lines.py"],
           "tests/bench/yardsticks/twisted_lines.py"),
    Server("min-asyncio", "event loop", [PY, "tests/bench/yardsticks/asyncio_streams.py"],
           "tests/bench/yardsticks/asyncio_streams.py"),
    # The project's servers under basic/sockettrace.py, its trace written to /dev/null: the
    # tracer's cost (a line formatted per call, a readiness check before a blocking one).
    Server("basic-traced", "threads", [PY, "basic/sockettrace.py", "-o", os.devnull,
                                       "basic/ex2_sum/tcpserver.py"],
           "basic/sockettrace.py", optional=True),
    Server("twisted-traced", "event loop", [PY, "basic/sockettrace.py", "-o", os.devnull,
                                            "-m", "twisted_impl.ex2_sum.tcpserver"],
           "basic/sockettrace.py", optional=True),
]


class Workload:
    def __init__(self, name, mode, conns, inflight=1):
        self.name, self.mode, self.conns, self.inflight = name, mode, conns, inflight


def workloads(quick, idle):
    busy = 200 if quick else 1000
    return [
        Workload(f"idle {idle}", "idle", idle),
        Workload("1 conn", "persistent", 1),
        Workload("10 conns", "persistent", 10),
        Workload("100 conns", "persistent", 100),
        Workload(f"{busy} conns", "persistent", busy),
        Workload("100 conns x16", "persistent", 100, 16),
        Workload("conn per request", "perreq", 10),
    ]


# --- the machine -------------------------------------------------------------------

def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def twisted_version():
    try:
        import twisted
        return twisted.__version__
    except ImportError:
        return "not installed"


def load_average():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def raise_nofile():
    """Take every file descriptor the hard limit allows; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    return soft, target


def placement(pin):
    """(server cpus, generator cpus, description): apart when there are two cores."""
    if not pin or not hasattr(os, "sched_setaffinity"):
        return None, None, "not pinned (the scheduler places server and generator)"
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None, f"not pinned (only CPU {cpus} available)"
    return ({cpus[0]}, {cpus[1]},
            f"server on CPU {cpus[0]}, load generator on CPU {cpus[1]} (os.sched_setaffinity)")


def pinner(cpus):
    """What a child does before exec: Ctrl+C back to default (a shell that started
    us in the background made us ignore it, and the servers are stopped with it),
    and its CPUs."""
    def before_exec():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
    return before_exec


# --- the load generator --------------------------------------------------------------

def build_loadgen(choice):
    """The generator's command line and its label: C when a compiler exists."""
    python = ([PY, str(BENCH / "loadgen.py")],
              "Python fallback (selectors, one thread): it burns as much CPU as the "
              "servers, so its figures are lower bounds")
    if choice == "python":
        return python
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None or not sys.platform.startswith("linux"):
        if choice == "c":
            sys.exit("error: no C compiler (or not Linux: loadgen.c needs epoll)")
        return python
    source = (BENCH / "loadgen.c").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lecture-sockets-bench"
    binary = cache / f"loadgen-{hashlib.sha256(source).hexdigest()[:16]}"
    if not binary.exists():
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError:
            cache = Path(tempfile.mkdtemp(prefix="loadgen-"))
            binary = cache / "loadgen"
        partial = cache / f".{binary.name}.{os.getpid()}"
        build = subprocess.run([cc, "-O2", "-o", str(partial), str(BENCH / "loadgen.c"), "-lm"],
                               capture_output=True, text=True)
        if build.returncode != 0:
            if choice == "c":
                sys.exit(f"error: cannot compile loadgen.c:\n{build.stderr}")
            print(f"warning: cannot compile loadgen.c, using the Python generator:\n"
                  f"{build.stderr}", file=sys.stderr)
            return python
        os.replace(partial, binary)  # atomic: a concurrent run never sees half a file
    return [str(binary)], f"C (cc -O2, epoll, one thread), {binary}"


class Lines:
    """Read lines from a pipe with a deadline, without a thread."""

    def __init__(self, stream):
        self.fd = stream.fileno()
        self.buf = b""
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.fd, selectors.EVENT_READ)

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sel.select(left):
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


# --- a server process ----------------------------------------------------------------

def proc_sample(pid):
    """Server CPU seconds (all threads, dead ones included), RSS in kB, thread count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        status = Path(f"/proc/{pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
        return {"cpu": cpu, "rss_kb": rss, "threads": threads}
    except (OSError, AttributeError, IndexError, ValueError):
        pass
    try:
        import psutil
        p = psutil.Process(pid)
        times = p.cpu_times()
        return {"cpu": times.user + times.system, "rss_kb": p.memory_info().rss // 1024,
                "threads": p.num_threads()}
    except Exception:
        return None


class Running:
    """One server process: stdout to a file (an undrained pipe would block it)."""

    def __init__(self, server, cpus, tmp):
        self.server = server
        self.log = tmp / f"{server.name}.out"
        self.err = tmp / f"{server.name}.err"
        with open(self.log, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                server.command + ["--host", "127.0.0.1", "--port", "0",
                                  "--timeout", SERVER_TIMEOUT],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                preexec_fn=pinner(cpus))
        self.port = None
        self.baseline_threads = 1

    def wait_listening(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = LISTENING.search(self.log.read_bytes().split(b"\n", 1)[0]) \
                if b"\n" in self.log.read_bytes() else None
            if found:
                self.port = int(found.group(1))
                time.sleep(0.1)
                sample = proc_sample(self.proc.pid)
                self.baseline_threads = sample["threads"] if sample else 1
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        return False

    def problem(self):
        tail = self.err.read_text(errors="replace").strip().splitlines()[-3:]
        return f"exit status {self.proc.poll()}; stderr: {' / '.join(tail) or '(empty)'}"

    def settle(self, timeout=10.0):
        """After a workload: let a threaded server's threads finish before the next."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sample = proc_sample(self.proc.pid)
            if sample is None or sample["threads"] <= self.baseline_threads:
                break
            time.sleep(0.02)
        time.sleep(0.02)

    def stop(self):
        """Ctrl+C, as a user would; then the hard way if it does not go.

        A yardstick gets one second: asyncio, for one, takes long to cancel 10,000
        tasks, and how a yardstick stops is not what we measure.
        """
        grace = 10 if self.server.yardstick else 1
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return f"killed (no exit within {grace} s of SIGINT)"
        return self.proc.returncode


# --- one measurement -------------------------------------------------------------------

def machine_busy():
    """(seconds all processes ran, seconds stolen by the hypervisor), from /proc/stat.

    Interrupt and softirq time is left out: on loopback it is mostly the network stack
    working for the server and the generator, not a third party.
    """
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system) / tick, steal / tick


def measure(gen, running, wl, timing, gen_cpus):
    """Run the generator against one server: its figures and the server's.

    For the idle workload the server is stopped while the idle connections are still
    open: 10,000 threads woken at once by their clients leaving take seconds to go.
    """
    warmup, duration = timing
    args = gen + ["--host", "127.0.0.1", "--port", str(running.port), "--mode", wl.mode,
                  "--conns", str(wl.conns), "--inflight", str(wl.inflight),
                  "--warmup", str(warmup), "--duration", str(duration),
                  "--setup-limit", "60"]
    pid = running.proc.pid
    before = proc_sample(pid)
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=pinner(gen_cpus))
    lines = Lines(proc.stdout)
    result = {"failed": None}
    try:
        first = lines.readline(90)
        if first is None:
            result["failed"] = "the load generator gave no result"
            return result
        s0 = proc_sample(pid)
        m0 = machine_busy()
        if wl.mode == "idle":
            result["idle_open"] = int(first.split()[1])
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
        report = lines.readline(60)
        s1 = proc_sample(pid)
        m1 = machine_busy()
        if wl.mode == "idle":
            result["stop_status"] = running.stop()
        if report is None:
            result["failed"] = "the load generator gave no result"
            return result
        result.update(json.loads(report))
        if wl.mode == "idle":
            if before and s0:
                open_conns = max(result["idle_open"], 1)
                result["rss_before_kb"] = before["rss_kb"]
                result["rss_kb"] = s0["rss_kb"]
                result["kb_per_conn"] = (s0["rss_kb"] - before["rss_kb"]) / open_conns
                result["threads"] = s0["threads"]
        elif s0 and s1:
            result["server_cpu_s"] = s1["cpu"] - s0["cpu"]
            result["server_cpu_frac"] = result["server_cpu_s"] / result["wall_s"]
            result["cpu_us_per_req"] = (1e6 * result["server_cpu_s"] / result["requests"]
                                        if result["requests"] else None)
            result["rss_kb"] = s1["rss_kb"]
            result["threads"] = s1["threads"]
            if m0 is not None and m1 is not None:
                # Everyone else on the machine (other programs, the hypervisor's steal):
                # the busy time that was neither the server's nor the generator's.
                other = (m1[0] - m0[0]) - result["server_cpu_s"] - result["cpu_s"]
                result["other_cpu_frac"] = max(other, 0) / result["wall_s"]
                result["steal_frac"] = (m1[1] - m0[1]) / result["wall_s"]
        return result
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stdout.close()
        proc.stderr.close()
        if err and result.get("failed"):
            result["failed"] += f" ({err.splitlines()[-1]})"


# --- the report --------------------------------------------------------------------------

def med(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def si(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.1f}k"
    if x >= 1e3:
        return f"{x / 1e3:.2f}k"
    return f"{x:.0f}"


def ms(us):
    if us is None:
        return "-"
    v = us / 1000
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def spread(runs, key, fmt):
    m, lo, hi = med(runs, key)
    if m is None:
        return "-"
    if len([r for r in runs if r.get(key) is not None]) == 1 or fmt(lo) == fmt(hi):
        return fmt(m)
    return f"{fmt(m)} ({fmt(lo)}–{fmt(hi)})"


def median(runs, key, fmt):
    return fmt(med(runs, key)[0])


def percent(x):
    return "-" if x is None else f"{100 * x:.0f}"


def num(fmt):
    return lambda x: "-" if x is None else fmt.format(x)


def total_errors(runs):
    return sum(r.get("errors", 0) for r in runs) + sum(1 for r in runs if r.get("failed"))


def table_busy(results, servers, wls):
    rows = ["| workload | server | req/s (min–max) | p50 ms | p99 ms (min–max) "
            "| server CPU µs/req | server CPU % | server RSS MB | threads | errors "
            "| generator CPU % | others' CPU % | steal % |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for wl in wls:
        if wl.mode == "idle":
            continue
        for s in servers:
            runs = results.get((wl.name, s.name), [])
            ok = [r for r in runs if not r.get("failed")]
            if not runs:
                continue
            rows.append("| " + " | ".join([
                wl.name, s.name, spread(ok, "rps", si), median(ok, "p50_us", ms),
                spread(ok, "p99_us", ms), median(ok, "cpu_us_per_req", num("{:.1f}")),
                median(ok, "server_cpu_frac", percent),
                median(ok, "rss_kb", lambda x: f"{x / 1024:.1f}"),
                median(ok, "threads", num("{:.0f}")),
                str(total_errors(runs)),
                median(ok, "cpu_frac", percent),
                median(ok, "other_cpu_frac", percent),
                median(ok, "steal_frac", percent)]) + " |")
    return "\n".join(rows)


def table_idle(results, servers, wls):
    rows = ["| workload | server | idle conns open | RSS before MB | RSS with idle MB "
            "| kB per idle conn | threads | new client p50 ms | p99 ms | max ms | errors |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for wl in wls:
        if wl.mode != "idle":
            continue
        for s in servers:
            runs = results.get((wl.name, s.name), [])
            ok = [r for r in runs if not r.get("failed")]
            if not runs:
                continue
            rows.append("| " + " | ".join([
                wl.name, s.name, spread(ok, "idle_open", num("{:.0f}")),
                spread(ok, "rss_before_kb", lambda x: f"{x / 1024:.1f}"),
                spread(ok, "rss_kb", lambda x: f"{x / 1024:.1f}"),
                spread(ok, "kb_per_conn", num("{:.2f}")),
                spread(ok, "threads", num("{:.0f}")),
                spread(ok, "p50_us", ms), spread(ok, "p99_us", ms), spread(ok, "max_us", ms),
                str(total_errors(runs))]) + " |")
    return "\n".join(rows)


def targets(results, servers, wls, idle_n):
    """The project's targets, reported, never asserted: (target, met or None, detail)."""
    names = {s.name for s in servers}
    wl_names = {wl.name for wl in wls}
    idle = f"idle {idle_n}"
    out = []

    def runs(wl_name, server):
        return [r for r in results.get((wl_name, server), []) if not r.get("failed")]

    for s in servers:
        if s.yardstick and s.yardstick in names and "100 conns" in wl_names:
            mine = med(runs("100 conns", s.name), "rps")[0]
            floor = med(runs("100 conns", s.yardstick), "rps")[0]
            if mine and floor:
                ratio = mine / floor
                out.append((f"{s.name} within 10% of {s.yardstick} at 100 connections",
                            ratio >= 0.9, f"{si(mine)} vs {si(floor)} req/s: {100 * ratio:.0f}%"))
    name = "twisted holds 10,000 idle connections at < 2 kB each, a new client answered < 10 ms"
    if "twisted" in names and idle in wl_names:
        r = runs(idle, "twisted")
        opened, kb, p99 = (med(r, key)[0] for key in ("idle_open", "kb_per_conn", "p99_us"))
        if idle_n < 10000:
            out.append((name, None, f"only {idle_n} idle connections in this run"))
        elif kb is not None and p99 is not None:
            ok = opened == idle_n and kb < 2 and p99 < 10000 and total_errors(r) == 0
            out.append((name, ok, f"{opened:.0f} open, {kb:.2f} kB each, new client p99 "
                                  f"{ms(p99)} ms, {total_errors(r)} errors"))
    busy = next((wl for wl in wls if wl.mode == "persistent" and wl.conns >= 200), None)
    for s in servers:
        if s.yardstick and busy:
            r = runs(busy.name, s.name)
            p99, rps = med(r, "p99_us")[0], med(r, "rps")[0]
            if busy.conns < 1000:
                out.append((f"{s.name} p99 < 50 ms at 1000 busy connections", None,
                            f"only {busy.conns} connections in this run"))
            elif p99 is not None:
                # Little's law, for a closed loop: mean latency = connections / throughput.
                out.append((f"{s.name} p99 < 50 ms at 1000 busy connections", p99 < 50000,
                            f"p99 {ms(p99)} ms; at {si(rps)} req/s a closed loop of "
                            f"{busy.conns} connections waits {ms(1e6 * busy.conns / rps)} ms "
                            f"on average (Little's law)"))
    if "basic" in names and idle in wl_names:
        r = results.get((idle, "basic"), [])
        opened = min((x.get("idle_open", 0) for x in r if not x.get("failed")), default=0)
        name = "basic holds 2,000 concurrent connections without error"
        if idle_n < 2000:
            out.append((name, None, f"only {idle_n} idle connections in this run"))
        elif r:
            ok = opened >= 2000 and total_errors(r) == 0
            out.append((name, ok, f"{opened} of {idle_n} idle connections open, "
                                  f"{total_errors(r)} errors"))
    return out


def chart(results, servers, wls, path):
    """A PNG when matplotlib is importable; nothing otherwise."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return False
    busy = [wl for wl in wls if wl.mode != "idle"]
    idle = [wl for wl in wls if wl.mode == "idle"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5),
                                   gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / max(len(servers), 1)
    for i, s in enumerate(servers):
        values = [med([r for r in results.get((wl.name, s.name), []) if not r.get("failed")],
                      "rps")[0] or 0 for wl in busy]
        ax1.bar([x + i * width for x in range(len(busy))], values, width, label=s.name)
        kb = med([r for r in results.get((idle[0].name, s.name), []) if not r.get("failed")],
                 "kb_per_conn")[0] if idle else None
        ax2.bar(i, kb or 0, label=s.name, color=f"C{i}")
    ax1.set_xticks([x + 0.4 - width / 2 for x in range(len(busy))])
    ax1.set_xticklabels([wl.name for wl in busy], fontsize=8)
    ax1.set_ylabel("requests/s (median of rounds)")
    ax1.legend(fontsize=8)
    ax2.set_xticks(range(len(servers)))
    ax2.set_xticklabels([s.name for s in servers], rotation=30, fontsize=8)
    ax2.set_ylabel(f"server RSS kB per idle connection ({idle[0].name})" if idle else "")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# --- the run ---------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark the ex2 servers: thread per client against event loops.")
    parser.add_argument("--quick", action="store_true",
                        help="smaller counts, one round: about 30 seconds")
    parser.add_argument("--rounds", type=int, help="rounds, servers alternating (default 3, quick 1)")
    parser.add_argument("--out", type=Path, default=BENCH / "results",
                        help="folder for the report, JSON and chart (default tests/bench/results)")
    parser.add_argument("--generator", choices=("auto", "c", "python"), default="auto")
    parser.add_argument("--no-pin", action="store_true",
                        help="let the scheduler place server and generator")
    parser.add_argument("--idle", type=int, help="idle connections (default 10000, quick 1000)")
    parser.add_argument("--duration", type=float, help="measured seconds per run")
    parser.add_argument("--warmup", type=float,
                        help="seconds of load before each measured run (default 0.2, quick 0.1)")
    parser.add_argument("--servers", help="comma-separated subset of: "
                        + ", ".join(s.name for s in SERVERS) + " (default: all but the "
                        + "traced ones)")
    parser.add_argument("--workloads", help="comma-separated subset of the workload names, "
                        "e.g. '100 conns,idle 10000'")
    args = parser.parse_args(argv)

    rounds = args.rounds or (1 if args.quick else 3)
    timing = (0.1, args.duration or 0.2) if args.quick else (0.2, args.duration or 0.8)
    if args.warmup is not None:
        timing = (args.warmup, timing[1])
    idle_n = args.idle or (1000 if args.quick else 10000)
    notes = []

    soft, nofile = raise_nofile()
    fd_line = f"RLIMIT_NOFILE soft limit raised from {soft} to {nofile} (the hard limit)" \
        if nofile != soft else f"RLIMIT_NOFILE {nofile} (already the hard limit)"
    if idle_n + 64 > nofile:
        capped = max(nofile - 64, 1)
        notes.append(f"{idle_n} idle connections asked, but the generator and each server "
                     f"may open only {nofile} files: capped at {capped}")
        idle_n = capped
    else:
        fd_line += (f"; {idle_n} idle connections need {idle_n} descriptors in the generator "
                    f"and as many in the server: both fit")

    gen, gen_label = build_loadgen(args.generator)
    server_cpus, gen_cpus, place = placement(not args.no_pin)
    servers = [s for s in SERVERS if (s.name in args.servers.split(",") if args.servers
                                      else not s.optional)]
    missing = [s for s in servers if not s.available()]
    for s in missing:
        notes.append(f"{s.name}: {s.source} is not in the checkout yet: not measured")
    servers = [s for s in servers if s.available()]
    if not servers:
        sys.exit("error: no server to measure")
    wls = workloads(args.quick, idle_n)
    if args.workloads:
        wls = [wl for wl in wls if wl.name in args.workloads.split(",")]
        if not wls:
            sys.exit("error: no such workload; the names are: "
                     + ", ".join(wl.name for wl in workloads(args.quick, idle_n)))

    env = [
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine: {cpu_model()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 2**20} MiB RAM",
        f"OS: {platform.platform()}",
        f"Python: {platform.python_implementation()} {platform.python_version()}",
        f"Twisted: {twisted_version()}",
        f"load generator: {gen_label}",
        f"placement: {place}",
        f"file descriptors: {fd_line}",
        f"rounds: {rounds}, servers alternating; {timing[0]} s warm-up then {timing[1]} s "
        f"measured per run; the idle workload in the first round only (threads take "
        f"seconds to come and go by the thousand); servers run with --timeout {SERVER_TIMEOUT}",
        f"load average at start: {load_average()}",
    ]
    commit = subprocess.run(["git", "log", "-1", "--format=%h %cs"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    if commit:
        env.append(f"checkout: {commit}")
    for line in env:
        print(line, file=sys.stderr)

    results = {}
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        for rnd in range(rounds):
            order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
            # Fresh servers for the idle workload, so that "RSS before" is a clean
            # baseline; fresh again for the busy ones.
            for group in ([wl for wl in wls if wl.mode == "idle" and rnd == 0],
                          [wl for wl in wls if wl.mode != "idle"]):
                if not group:
                    continue
                t_up = time.monotonic()
                running = {s.name: Running(s, server_cpus, tmp) for s in order}
                try:
                    print(f"round {rnd + 1}/{rounds}  starting {len(order)} servers", end="",
                          file=sys.stderr, flush=True)
                    for s in order:
                        if not running[s.name].wait_listening():
                            notes.append(f"round {rnd + 1}: {s.name} did not start: "
                                         f"{running[s.name].problem()}")
                    print(f"  ({time.monotonic() - t_up:.1f} s)", file=sys.stderr)
                    for wl in group:
                        for s in order:
                            r = running[s.name]
                            if r.port is None or r.proc.poll() is not None:
                                continue
                            print(f"round {rnd + 1}/{rounds}  {wl.name:>17}  {s.name:<12}",
                                  end="", file=sys.stderr, flush=True)
                            t_run = time.monotonic()
                            result = measure(gen, r, wl, timing, gen_cpus)
                            result["round"] = rnd + 1
                            if wl.mode != "idle" and r.proc.poll() is not None:
                                result["failed"] = (result.get("failed") or "") + \
                                    f" server exited: {r.problem()}"
                            results.setdefault((wl.name, s.name), []).append(result)
                            status = result.get("stop_status")
                            if s.yardstick and status not in (0, None):
                                notes.append(f"round {rnd + 1}: {s.name} ended with {status} "
                                             f"after Ctrl+C (expected status 0)")
                            if result.get("failed"):
                                notes.append(f"round {rnd + 1}, {wl.name}, {s.name}: "
                                             f"{result['failed']}")
                                print("  FAILED", end="", file=sys.stderr)
                            else:
                                print(f"  {si(result.get('rps')):>7} req/s  p99 "
                                      f"{ms(result.get('p99_us')):>6} ms  errors "
                                      f"{result.get('errors')}", end="", file=sys.stderr)
                            r.settle()
                            print(f"  ({time.monotonic() - t_run:.1f} s)", file=sys.stderr)
                finally:
                    t_down = time.monotonic()
                    for s in order:
                        status = running[s.name].stop()
                        if s.yardstick and status not in (0, None):
                            notes.append(f"round {rnd + 1}: {s.name} ended with {status} "
                                         f"after Ctrl+C (expected status 0)")
                    print(f"round {rnd + 1}/{rounds}  stopped the servers "
                          f"({time.monotonic() - t_down:.1f} s)", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started

    for (wl_name, s_name), runs in results.items():
        for r in runs:
            if r.get("cpu_frac", 0) > 0.9:
                notes.append(f"{wl_name}, {s_name}, round {r['round']}: the load generator "
                             f"used {100 * r['cpu_frac']:.0f}% of its core: it, not the "
                             f"server, may have been the bottleneck")
            if r.get("requests") == 0 and not r.get("failed"):
                notes.append(f"{wl_name}, {s_name}, round {r['round']}: not one reply "
                             f"during the measured window: the server stalled")
            if r.get("errors"):
                notes.append(f"{wl_name}, {s_name}, round {r['round']}: {r['errors']} errors "
                             f"(wrong replies {r.get('wrong')}, connections closed "
                             f"{r.get('closed')}, connect errors {r.get('connect_errors')}, "
                             f"no reply within 2 s {r.get('late')})")

    disturbed = [f"{w}/{s} round {r['round']}" for (w, s), runs in results.items()
                 for r in runs if r.get("other_cpu_frac", 0) + r.get("steal_frac", 0) > 0.25]
    if disturbed:
        notes.append(f"{len(disturbed)} runs shared the machine with other work (others' "
                     f"CPU + steal above 25% of a core): {', '.join(disturbed[:8])}"
                     + (", ..." if len(disturbed) > 8 else "") + ". Medians over rounds "
                     "soften this; a quiet machine gives steadier figures.")
    goals = targets(results, servers, wls, idle_n)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    report = ["# ex2 servers: thread per client against event loops", ""]
    report += [f"- {line}" for line in env]
    report += [f"- load average at the end: {load_average()}; run time: {elapsed:.0f} s", "",
               "## Busy connections (closed loop)", "",
               table_busy(results, servers, wls), "",
               "## Idle connections, and a new client meanwhile", "",
               table_idle(results, servers, wls), "",
               "## Targets (reported, not asserted)", ""]
    for name, ok, detail in goals:
        verdict = "not measured" if ok is None else "met" if ok else "not met"
        report.append(f"- {name}: **{verdict}** ({detail})")
    report += ["", "## How to read this", "",
               "- Figures are medians of the rounds, the spread (min–max) in brackets. "
               "Each round starts the servers afresh and alternates them.",
               "- Closed loop: every connection waits for a reply before it sends again "
               "(K requests in flight for `x16`). A stalled server also delays the requests "
               "that would have been sent meanwhile, so the latency percentiles "
               "under-count stalls (coordinated omission).",
               "- Latency runs from the write of a request to the read of its reply; for "
               "`conn per request` (10 clients, each connecting, sending one request, "
               "reading the reply and closing, like the lecture's client) and for the new "
               "client of the idle workload it runs from `connect()`.",
               "- Server CPU is utime+stime of all its threads from /proc/PID/stat "
               f"({os.sysconf('SC_CLK_TCK')} ticks a second) over the measured window; "
               "RSS and threads from /proc/PID/status at the end of it (with the "
               "connections still open). kB per idle connection is (RSS with the idle "
               "connections − RSS before) / connections open. RSS is the server's own "
               "memory; the kernel's socket buffers are not in it. "
               "Interrupt and softirq time (much of the loopback network stack) is in "
               "neither the server's CPU nor the others' column.",
               "- generator CPU % is the load generator's share of its own core: near 100 "
               "it, not the server, set the pace. others' CPU % is what every other "
               "process on the machine ran meanwhile (/proc/stat user+system minus the "
               "server and the generator), steal % what the hypervisor took: when either "
               "is large, the run was disturbed and its figures are low.",
               "- At many busy connections a closed loop obeys Little's law: mean latency "
               "= connections / throughput (1000 connections at 20k req/s wait 50 ms on "
               "average), whatever the server.",
               "- `min-*` servers are the yardsticks in tests/bench/yardsticks/: the "
               "floor of each style, without the project servers' limits and timeouts."]
    if notes:
        report += ["", "## Notes", ""] + [f"- {n}" for n in dict.fromkeys(notes)]
    text = "\n".join(report) + "\n"
    print(text, end="")

    try:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"bench-{stamp}.md").write_text(text, encoding="utf-8")
        raw = {"env": env, "notes": notes, "elapsed_s": elapsed,
               "targets": [{"target": n, "met": ok, "detail": d} for n, ok, d in goals],
               "runs": [{"workload": w, "server": s, **r}
                        for (w, s), runs in results.items() for r in runs]}
        (args.out / f"bench-{stamp}.json").write_text(json.dumps(raw, indent=1) + "\n")
        png = args.out / f"bench-{stamp}.png"
        drawn = chart(results, servers, wls, png)
        print(f"written: {args.out / f'bench-{stamp}.md'}, .json"
              + (", .png" if drawn else " (no chart: matplotlib is not importable)"),
              file=sys.stderr)
    except OSError as exc:
        print(f"warning: cannot write to {args.out}: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
