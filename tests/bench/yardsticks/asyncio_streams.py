"""Yardstick: the smallest asyncio ex2 server, with streams (no limits, no timeout).

Plain asyncio, the standard library's event loop, for tests/bench/run.py: a second
event-driven reference next to Twisted.
"""
import argparse, asyncio

async def serve(reader, writer):
    print("Got connection from", writer.get_extra_info("peername")[:2], flush=True)
    try:
        while line := await reader.readline():
            a, b = line.split()
            writer.write(b"%d\n" % (int(a) + int(b)))
            await writer.drain()
    except OSError:
        pass  # the load generator resets connections when it leaves
    writer.close()

async def main(args):
    server = await asyncio.start_server(serve, args.host, args.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"TCP server listening on {args.host} port {port}, Ctrl+C to stop", flush=True)
    await server.serve_forever()

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8091)
parser.add_argument("--timeout", type=float)
try:
    asyncio.run(main(parser.parse_args()))
except KeyboardInterrupt:
    pass
