"""The load generator in pure Python: the fallback for machines without a C compiler.

Same command line, same modes and same output lines as loadgen.c (read its header). It is
a closed loop on one `selectors` event loop, and it burns about as much CPU as the Python
server it measures: its figures are a floor for the server, not the server's limit. The
runner labels every result made with it and warns when it saturated.
"""

import argparse
import json
import math
import resource
import selectors
import socket
import sys
import time

CONNECT_WINDOW = 100  # connections being set up at once (a small accept queue drops SYNs)
MAX_REPLY = 256
MASK = (1 << 64) - 1


def mix(x):
    """splitmix64: varying, reproducible operands."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def cpu_self():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Conn:
    def __init__(self):
        self.sock = None
        self.state = "free"  # connecting, waiting (no reply yet), running, idle
        self.rbuf = b""
        self.wbuf = b""
        self.pending = []  # (expected reply bytes, time sent), oldest first
        self.t_connect = 0.0


class LoadGen:
    def __init__(self, args):
        self.args = args
        self.sel = selectors.DefaultSelector()
        self.conns = [Conn() for _ in range(args.conns)]
        self.seq = 0
        self.phase = "setup"
        self.lat = []
        self.wrong = self.closed = self.connect_errors = 0
        self.started = self.ready = 0
        self.next = 0
        self.t_start = 0.0

    # requests and replies
    def request(self, conn, t):
        r = mix(self.seq)
        self.seq += 1
        a = r % 2000000001 - 1000000000
        b = (r >> 32) % 2000001 - 1000000
        conn.wbuf += b"%d %d\n" % (a, b)
        conn.pending.append((b"%d" % (a + b), t))

    def record(self, t_sent, t_now):
        if self.phase == "measure" and t_now >= self.t_start:
            self.lat.append((t_now - t_sent) * 1e6)

    # connections
    def open_conn(self, conn):
        conn.rbuf = conn.wbuf = b""
        conn.pending = []
        conn.t_connect = time.monotonic()
        self.started += 1
        try:
            sock = socket.socket(self.family, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            self.connect_errors += 1
            return False
        err = sock.connect_ex(self.addr)
        if err not in (0, 115, 36, 10035):  # EINPROGRESS on Linux, macOS, Windows
            sock.close()
            self.connect_errors += 1
            return False
        conn.sock = sock
        conn.state = "connecting"
        self.sel.register(sock, selectors.EVENT_WRITE, conn)
        return True

    def open_more(self):
        while (self.next < len(self.conns)
               and self.started - self.ready - self.connect_errors - self.closed < CONNECT_WINDOW):
            self.open_conn(self.conns[self.next])
            self.next += 1

    def drop(self, conn):
        if conn.sock is not None:
            self.sel.unregister(conn.sock)
            conn.sock.close()
        conn.sock = None
        conn.state = "free"
        conn.pending = []

    def flush(self, conn):
        try:
            sent = conn.sock.send(conn.wbuf)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.closed += 1
            self.drop(conn)
            return
        conn.wbuf = conn.wbuf[sent:]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.wbuf else 0)
        self.sel.modify(conn.sock, events, conn)

    def on_connected(self, conn, t):
        if conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.connect_errors += 1
            self.drop(conn)
            if self.args.mode != "perreq":
                self.open_more()
            return
        conn.state = "waiting"
        if self.args.mode == "perreq":
            self.request(conn, conn.t_connect)
        else:
            for _ in range(self.args.inflight if self.args.mode == "persistent" else 1):
                self.request(conn, t)
        self.flush(conn)

    def on_readable(self, conn, t):
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if self.args.mode != "perreq" or conn.pending:
                self.closed += 1
            self.drop(conn)
            return
        *lines, conn.rbuf = (conn.rbuf + data).split(b"\n")
        mode = self.args.mode
        for line in lines:
            if not conn.pending:
                self.wrong += 1
                continue
            want, t_sent = conn.pending.pop(0)
            if line.rstrip(b"\r") != want:
                self.wrong += 1
            self.record(t_sent, t)
            if conn.state == "waiting":
                conn.state = "idle" if mode == "idle" else "running"
                if mode != "perreq":
                    self.ready += 1
                    self.open_more()
            # While connections are still being set up, the ready ones wait: a busy
            # server would accept the newcomers late, and the setup would take long.
            if mode == "persistent" and self.phase not in ("setup", "done"):
                self.request(conn, t)
        if len(conn.rbuf) >= MAX_REPLY:
            self.wrong += 1
            self.drop(conn)
        elif mode == "persistent" and conn.wbuf:
            self.flush(conn)
        elif mode == "perreq" and not conn.pending:
            self.drop(conn)
            if self.phase != "done":
                self.open_conn(conn)

    def handle(self, conn, events, t):
        if conn.state == "free":
            return
        if conn.state == "connecting":
            self.on_connected(conn, t)
            return
        if events & selectors.EVENT_READ:
            self.on_readable(conn, t)
        if conn.state != "free" and events & selectors.EVENT_WRITE and conn.wbuf:
            self.flush(conn)

    # results
    def report(self, wall, cpu, open_now, late):
        lat = sorted(self.lat)

        def pct(q):
            return lat[max(0, math.ceil(q * len(lat)) - 1)] if lat else None

        errors = self.wrong + self.closed + self.connect_errors + late
        out = {
            "generator": "python", "mode": self.args.mode, "conns": self.args.conns,
            "inflight": self.args.inflight, "requests": len(lat), "wall_s": wall,
            "rps": len(lat) / wall if wall > 0 else 0, "p50_us": pct(0.5),
            "p99_us": pct(0.99), "max_us": lat[-1] if lat else None, "errors": errors,
            "wrong": self.wrong, "closed": self.closed,
            "connect_errors": self.connect_errors, "late": late, "open": open_now,
            "cpu_s": cpu, "cpu_frac": cpu / wall if wall > 0 else 0,
        }
        print(json.dumps(out), flush=True)

    def probes(self):
        """New clients, one after the other, while the idle connections sit there."""
        t0, c0 = time.monotonic(), cpu_self()
        self.phase, self.t_start = "measure", t0
        for _ in range(self.args.probes):
            if time.monotonic() - t0 >= self.args.duration:
                break
            r = mix(self.seq)
            self.seq += 1
            a, b = r % 2000001 - 1000000, r >> 40
            ts = time.monotonic()
            try:
                with socket.create_connection(self.addr[:2], timeout=5) as sock:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sock.sendall(b"%d %d\n" % (a, b))
                    got = b""
                    while b"\n" not in got and len(got) < MAX_REPLY:
                        chunk = sock.recv(MAX_REPLY)
                        if not chunk:
                            break
                        got += chunk
            except OSError:
                self.connect_errors += 1
                continue
            te = time.monotonic()
            if b"\n" not in got:
                self.closed += 1
                continue
            if got != b"%d\n" % (a + b):
                self.wrong += 1
            self.record(ts, te)
        for key, _ in self.sel.select(0):  # did the server drop an idle connection?
            conn = key.data
            try:
                data = conn.sock.recv(MAX_REPLY)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                self.wrong += 1
            else:
                self.closed += 1
            self.drop(conn)
        open_now = sum(c.state == "idle" for c in self.conns)
        self.report(time.monotonic() - t0, cpu_self() - c0, open_now, 0)

    def run(self):
        args = self.args
        info = socket.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM)[0]
        self.family, self.addr = info[0], info[4]
        t0 = time.monotonic()
        c0 = 0.0
        if args.mode == "perreq":
            for conn in self.conns:
                self.open_conn(conn)
            self.phase, phase_at = "warmup", t0
        else:
            self.open_more()
            phase_at = t0
        while True:
            events = self.sel.select(0.005)
            t = time.monotonic()
            for key, mask in events:
                self.handle(key.data, mask, t)
            if args.mode == "perreq" and self.phase != "done":
                for conn in self.conns:
                    if conn.state == "free":
                        self.open_conn(conn)
            if self.phase == "setup" and (
                    self.ready + self.connect_errors + self.closed >= args.conns
                    or t - t0 > args.setup_limit):
                if args.mode == "idle":
                    print("ready %d" % self.ready, flush=True)
                    sys.stdin.readline()
                    self.probes()
                    break
                self.phase, phase_at = "warmup", t
                for conn in self.conns:  # everybody ready: the load starts
                    if conn.state == "running":
                        while len(conn.pending) < args.inflight:
                            self.request(conn, t)
                        self.flush(conn)
            elif self.phase == "warmup" and t - phase_at >= args.warmup:
                self.phase, self.t_start, c0 = "measure", t, cpu_self()
                print("start", flush=True)
            # A window without one reply measures nothing: on a loaded machine the first
            # ones can come late (a dead server: --setup-limit more seconds).
            elif self.phase == "measure" and t - self.t_start >= args.duration and (
                    self.lat or t - self.t_start >= args.duration + args.setup_limit):
                c1 = cpu_self()
                self.phase = "done"
                live = [c for c in self.conns if c.state != "free"]
                late = sum(t - sent > 2.0 for c in live for _, sent in c.pending)
                self.report(t - self.t_start, c1 - c0, len(live), late)
                break
        sys.stdin.readline()  # hold the connections open until the runner has looked


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("persistent", "perreq", "idle"), default="persistent")
    parser.add_argument("--conns", type=int, default=1)
    parser.add_argument("--inflight", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--setup-limit", type=float, default=30.0)
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    LoadGen(args).run()


if __name__ == "__main__":
    main()
