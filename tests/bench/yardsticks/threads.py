"""Yardstick: the smallest thread-per-client ex2 server (no limits, no timeout).

The floor of the blocking style, for tests/bench/run.py: a project server in that style
is compared with it. Same first line and per-connection line as the project servers, so
the comparison is like for like; `--timeout` is accepted and ignored.
"""
import argparse, socket, threading

def serve(conn, addr):
    print("Got connection from", addr, flush=True)
    with conn, conn.makefile("rb") as lines:
        try:
            for line in lines:
                a, b = line.split()
                conn.sendall(b"%d\n" % (int(a) + int(b)))
        except OSError:
            pass  # the load generator resets connections when it leaves

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8091)
parser.add_argument("--timeout", type=float)
args = parser.parse_args()
with socket.create_server((args.host, args.port), backlog=1024) as server:
    print(f"TCP server listening on {args.host} port {server.getsockname()[1]}, Ctrl+C to stop", flush=True)
    try:
        while True:
            threading.Thread(target=serve, args=server.accept(), daemon=True).start()
    except KeyboardInterrupt:
        pass
