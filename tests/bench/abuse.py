"""Abuse measurements of the ex2 TCP servers (issue 10, items 3, 4 and 5).

    python3 -m tests.bench.abuse --server basic|twisted [--item 3 --item 4 --item 5]
                                 [--clients 300] [--json FILE]

Item 3: CLIENTS clients, each with a 4 kB receive buffer (SO_RCVBUF set before connect),
    send 64 KB of empty lines and never read. Then a new client sends `3 4`: how long until
    it reads `7` (waited for at most 20 s), and how much the server's memory (VmRSS from
    /proc/PID/status, as the benchmark reads it) grew, at the probe's answer and at most
    (watched until every client has sent all, and for at least 5 s).
Item 4: the server runs with `--timeout 2`; a client sends one byte a second and never a
    newline: after how many seconds is it closed (watched for 12 s)?
Item 5: the server runs under an open-files limit of 256; 400 idle connections; what a
    new client sees (its bytes, EOF or reset, and when), waited for at most 10 s.

Loopback only, bounded in count and time; every server runs in its own process group
and is killed at the end, whatever happens. The figures go to standard output (and as
JSON to --json FILE); nothing is asserted (the suite's tests/test_hostile.py asserts
generous bounds on smaller versions of the same scenarios).
"""

import argparse
import json
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.run import ROOT, proc_sample, raise_nofile

HOST = "127.0.0.1"
LISTENING = re.compile(rb"listening on \S+ port (\d+)")
SERVERS = {
    "basic": [sys.executable, "basic/ex2_sum/tcpserver.py"],
    "twisted": [sys.executable, "-m", "twisted_impl.ex2_sum.tcpserver"],
}
PROBE_WAIT = 20.0  # seconds the new client of item 3 waits for its answer
WATCH_AT_LEAST = 5.0  # seconds item 3 watches the server's memory, answered or not
FLOOD = 64 * 1024  # bytes of empty lines each never-reading client sends
RCVBUF = 4096  # each never-reading client's receive buffer
TRICKLE_WATCH = 12.0  # seconds item 4 watches the trickling client
BUSY_FILES = 256  # item 5's open-files limit for the server
BUSY_IDLE = 400  # item 5's idle connections
BUSY_WAIT = 10.0  # seconds item 5's new client waits


class Server:
    """One ex2 TCP server in its own process group, output to files."""

    def __init__(self, kind, options=(), nofile=None, tmp=None):
        self.dir = Path(tmp or tempfile.mkdtemp(prefix="abuse-"))
        self.out = self.dir / f"{kind}.out"
        self.err = self.dir / f"{kind}.err"

        def before_exec():
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                SERVERS[kind] + ["--host", HOST, "--port", "0"] + list(options),
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True, preexec_fn=before_exec)
        self.port = self._wait_listening()

    def _wait_listening(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = LISTENING.search(self.out.read_bytes())
            if found:
                return int(found.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise SystemExit(f"server did not start: {self.err.read_text(errors='replace')}")

    def rss_kb(self):
        sample = proc_sample(self.proc.pid)
        return sample["rss_kb"] if sample else None

    def lines(self):
        return self.out.read_text(errors="replace").splitlines()

    def stderr_tail(self, count=3):
        return self.err.read_text(errors="replace").strip().splitlines()[-count:]

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def close_all(socks):
    for sock in socks:
        try:
            sock.close()
        except OSError:
            pass


# --- item 3 ------------------------------------------------------------------------

def never_readers(kind, clients):
    """Item 3: the probe's delay and the server's memory growth under never-reading clients."""
    server = Server(kind)
    socks = []
    try:
        time.sleep(0.3)
        base = server.rss_kb()
        peak = base
        for _ in range(clients):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            sock.settimeout(10)
            try:
                sock.connect((HOST, server.port))
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            socks.append(sock)
        sel = selectors.DefaultSelector()
        left = {}
        payload = b"\n" * FLOOD
        for sock in socks:
            left[sock] = FLOOD
            sel.register(sock, selectors.EVENT_WRITE)
        # The probe: a new client with an ordinary buffer, once the flood is under way.
        start_flood = time.monotonic()
        pump(sel, left, payload, time.monotonic() + 1.0)
        probe = socket.create_connection((HOST, server.port), timeout=PROBE_WAIT)
        probe_start = time.monotonic()
        probe.sendall(b"3 4\n")
        probe.setblocking(False)
        sel.register(probe, selectors.EVENT_READ)
        got = b""
        answered = None
        deadline = probe_start + PROBE_WAIT
        rss_at_answer = None
        next_sample = 0.0
        while time.monotonic() < deadline:
            for key, events in sel.select(0.05):
                if key.fileobj is probe:
                    try:
                        data = probe.recv(100)
                    except OSError:
                        data = b""
                    got += data
                    if not data or b"\n" in got:
                        answered = time.monotonic() - probe_start
                        sel.unregister(probe)
                else:
                    send_some(sel, key.fileobj, left, payload)
            now = time.monotonic()
            if now >= next_sample:
                rss = server.rss_kb()
                if rss:
                    peak = max(peak, rss)
                next_sample = now + 0.2
            if answered is not None:
                if rss_at_answer is None:
                    rss_at_answer = server.rss_kb()
                if not left and now - probe_start >= WATCH_AT_LEAST:
                    break
        probe.close()
        rss = server.rss_kb()
        peak = max(peak, rss or 0)
        return {
            "item": 3, "server": kind, "clients": len(socks),
            "probe_reply": got.decode(errors="replace"),
            "probe_seconds": round(answered, 2) if answered is not None else None,
            "probe_wait_cap": PROBE_WAIT,
            "flood_bytes_sent": len(socks) * FLOOD - sum(left.values()),
            "flood_seconds": round(time.monotonic() - start_flood, 1),
            "rss_base_mb": round(base / 1024, 1),
            "rss_growth_at_answer_mb": round(((rss_at_answer or rss) - base) / 1024, 1),
            "rss_growth_peak_mb": round((peak - base) / 1024, 1),
            "server_alive": server.proc.poll() is None,
        }
    finally:
        close_all(socks)
        server.kill()


def send_some(sel, sock, left, payload):
    """Send what one never-reading client still has to send, without blocking."""
    try:
        sent = sock.send(payload[:left[sock]])
    except BlockingIOError:
        return
    except OSError:
        sent = left[sock]  # the server hung up on it
    left[sock] -= sent
    if left[sock] <= 0:
        del left[sock]
        sel.unregister(sock)


def pump(sel, left, payload, until):
    while left and time.monotonic() < until:
        for key, _ in sel.select(0.05):
            if key.fileobj in left:
                send_some(sel, key.fileobj, left, payload)


# --- item 4 ------------------------------------------------------------------------

def trickle(kind):
    """Item 4: one byte a second, never a newline, against --timeout 2."""
    server = Server(kind, ["--timeout", "2"])
    try:
        sock = socket.create_connection((HOST, server.port), timeout=5)
        start = time.monotonic()
        closed = None
        sent = 0
        try:
            while time.monotonic() - start < TRICKLE_WATCH:
                try:
                    sock.send(b"1")
                    sent += 1
                except OSError:
                    closed = time.monotonic() - start
                    break
                readable, _, _ = select_one(sock, 1.0)
                if readable:
                    try:
                        data = sock.recv(100)
                    except OSError:
                        data = b""
                    if not data:
                        closed = time.monotonic() - start
                        break
        finally:
            sock.close()
        return {"item": 4, "server": kind, "timeout": 2, "bytes_sent": sent,
                "closed_after_seconds": round(closed, 1) if closed is not None else None,
                "watched_seconds": TRICKLE_WATCH}
    finally:
        server.kill()


def select_one(sock, timeout):
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    try:
        return bool(sel.select(timeout)), None, None
    finally:
        sel.close()


# --- item 5 ------------------------------------------------------------------------

def out_of_files(kind):
    """Item 5: 400 idle connections to a server limited to 256 open files; a newcomer."""
    server = Server(kind, nofile=BUSY_FILES)
    socks = []
    try:
        refused = 0
        for _ in range(BUSY_IDLE):
            try:
                socks.append(socket.create_connection((HOST, server.port), timeout=5))
            except OSError:
                refused += 1
        time.sleep(1.0)  # let the server accept what it can
        start = time.monotonic()
        got = b""
        outcome = "timeout"
        try:
            probe = socket.create_connection((HOST, server.port), timeout=BUSY_WAIT)
        except OSError as error:
            outcome = f"connect failed: {error}"
            probe = None
        if probe is not None:
            try:
                probe.sendall(b"3 4\n")
                probe.settimeout(BUSY_WAIT)
                while True:
                    data = probe.recv(1024)
                    if not data:
                        outcome = "EOF"
                        break
                    got += data
            except socket.timeout:
                outcome = "timeout"
            except ConnectionResetError:
                outcome = "reset"
            except OSError as error:
                outcome = f"error: {error}"
            finally:
                probe.close()
        elapsed = time.monotonic() - start
        lines = server.lines()
        return {"item": 5, "server": kind, "nofile": BUSY_FILES, "idle": len(socks),
                "idle_refused": refused, "probe_got": got.decode(errors="replace"),
                "probe_outcome": outcome, "probe_seconds": round(elapsed, 2),
                "busy_lines": [x for x in lines if x.startswith("Server busy")],
                "connection_lines": sum(x.startswith("Got connection") for x in lines),
                "server_alive": server.proc.poll() is None,
                "stderr_tail": server.stderr_tail()}
    finally:
        close_all(socks)
        server.kill()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=sorted(SERVERS), required=True)
    parser.add_argument("--item", type=int, choices=(3, 4, 5), action="append")
    parser.add_argument("--clients", type=int, default=300, help="item 3's clients (max 1000)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    raise_nofile()
    results = []
    for item in args.item or (3, 4, 5):
        if item == 3:
            result = never_readers(args.server, min(args.clients, 1000))
        elif item == 4:
            result = trickle(args.server)
        else:
            result = out_of_files(args.server)
        print(json.dumps(result, ensure_ascii=False), flush=True)
        results.append(result)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
