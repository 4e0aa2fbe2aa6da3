#!/usr/bin/env python3
"""Watch a socket program's calls as they happen, one line per call.

    python3 sockettrace.py tcpserver.py --port 8091       # any script, unchanged
    python3 sockettrace.py -m twisted_impl.ex2_sum.tcpserver
    python3 sockettrace.py twistd -n ex2-sum              # a program on the PATH

Each line: seconds since the start, the thread, the socket's file descriptor, the call
with its arguments, and its result. A call that has to wait says "waits..." when it
starts, and "(after X s)" when it returns. Event loops (select, poll, epoll, the
selectors module, Twisted's reactors) show which sockets they wait for and which
become ready; Twisted's protocol callbacks are shown nested under the wait that caused
them. The program runs as without the tracer: same input, output, exit status, Ctrl+C.

Standard library only, Python 3.9+: copy this file beside any script.
"""

import argparse
import atexit
import codecs
import errno
import importlib.util
import os
import runpy
import select
import selectors
import shutil
import socket
import sys
import threading
import time
import types

START = time.monotonic()
BYTES = 80  # bytes of data shown per call (--bytes)
SHOW_ALL = False  # --all: show every repeated timeout too
THREAD_WIDTH = 17  # "Thread-12 (handle)" fits, nearly

# The real functions, kept before they are replaced: the tracer itself uses these.
REAL_SELECT = select.select
REAL_POLL = getattr(select, "poll", None)  # not on Windows
REAL_EPOLL = getattr(select, "epoll", None)  # Linux only
REAL_THREAD_START = threading.Thread.start
POLLIN = getattr(select, "POLLIN", 1)
POLLOUT = getattr(select, "POLLOUT", 4)


def main(argv=None):
    options, command = parse_command_line(sys.argv[1:] if argv is None else argv)
    global BYTES, SHOW_ALL
    BYTES, SHOW_ALL = options.bytes, options.all
    OUTPUT.open(options.o)
    if options.mermaid:
        DIAGRAM.file = options.mermaid
        atexit.register(DIAGRAM.write)
    install()  # before the program runs: Twisted binds select's functions when imported
    sys.excepthook = without_our_frames(sys.excepthook)
    if options.m:
        run_module(options.m, command)
    else:
        run_script(command[0], command[1:])


# ----- The output: one whole line at a time, from any thread -----

class Output:
    """Writes trace lines to standard error or a file, whole, never failing the program."""

    def __init__(self):
        self.fd = 2
        self.lock = threading.RLock()  # reentrant: a Ctrl+C may strike while it is held

    def open(self, path):
        if path is None:
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0))
        except OSError as error:
            sys.exit(f"sockettrace: cannot write {path}: {error.strerror}")
        try:  # a high number, so that the program's own sockets get the numbers they would
            import fcntl
            self.fd = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 200)
            os.close(fd)
        except (ImportError, OSError, AttributeError):
            self.fd = fd

    def write(self, text):
        data = (text + "\n").encode("utf-8", "backslashreplace")
        with self.lock:
            try:
                while data:
                    data = data[os.write(self.fd, data):]
            except OSError:
                pass  # the trace's reader went away: the program goes on


OUTPUT = Output()
STATE = threading.local()  # per thread: nesting depth, the timeout being collapsed


def state():
    """This thread's own: how deep its lines are nested (under an event-loop wait, in
    callbacks), and the timeout being collapsed with how many repeats it had."""
    s = getattr(STATE, "s", None)
    if s is None:
        s = STATE.s = {"base": 0, "callbacks": [], "quiet": None, "quiet_line": None,
                       "repeats": 0}
    return s


def emit(fd, text):
    """One trace line: time, thread, descriptor, text indented under its event-loop wait."""
    s = state()
    if s["repeats"]:  # a run of timeouts is over: say how long it was
        repeats, s["repeats"] = s["repeats"], 0
        fd_then, call_then = s["quiet_line"]
        write_line(fd_then, f"{call_then} timed out {repeats} more times (not shown)", s,
                   nested=fd_then is not None)  # an event loop's wait is never nested
    s["quiet"] = None  # something else happened: the next timeout is news again
    write_line(fd, text, s)


def write_line(fd, text, s, nested=True):
    column = f"fd {fd}" if fd is not None else ""
    indent = "  " * (s["base"] + len(s["callbacks"])) if nested else ""
    name = threading.current_thread().name
    OUTPUT.write(f"{time.monotonic() - START:7.3f} {name:<{THREAD_WIDTH}} {column:<6} {indent}{text}")


# ----- How things are shown -----

def show_bytes(data):
    """Bytes as text where they are printable UTF-8 ("Xin chào\\n"), escaped where they are
    not ("\\xff\\x00"); cut at BYTES, with the number of bytes left out."""
    data = bytes(data)
    cut = data[:BYTES]
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    text = decoder.decode(cut, final=len(cut) == len(data))  # keeps a cut character's start
    left = len(data) - len(cut) + len(decoder.getstate()[0])
    shown = "".join(c if c.isprintable() and c not in '"\\' else escape(c) for c in text)
    return f'"{shown}"' + (f"... (+{left} bytes)" if left else "")


def escape(char):
    if "\udc80" <= char <= "\udcff":  # a byte that is not UTF-8 (see surrogateescape)
        return "\\x%02x" % (ord(char) - 0xDC00)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}.get(
        char, ascii(char)[1:-1])  # "\\x1b", "\\u202e"


def show_address(address):
    if isinstance(address, tuple):
        return repr(address[:2])  # IPv6's flow info and scope id left out
    return repr(address)


def seconds(value):
    return f"{value:.3f} s"


# Errors in words: what a student needs to know, then the name to look up.
WORDS = {
    errno.ECONNREFUSED: "connection refused: nobody listens there",
    errno.EADDRINUSE: "address already in use: another socket has this port",
    errno.ECONNRESET: "connection reset by the peer",
    errno.EPIPE: "broken pipe: the peer has closed the connection",
    errno.ECONNABORTED: "connection aborted",
    errno.ENOTCONN: "not connected",
    errno.EADDRNOTAVAIL: "address not available on this machine",
    errno.EHOSTUNREACH: "no route to the host",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "timed out: the peer never answered",
    errno.EBADF: "bad file descriptor: the socket is closed",
    errno.EMSGSIZE: "message too long for one datagram",
}


def show_error(error, writing=False):
    """An exception raised by a call, in words."""
    if isinstance(error, socket.timeout) and not error.errno:
        return "timed out"
    if isinstance(error, BlockingIOError):
        what = "the send buffer is full" if writing else "nothing there yet"
        return f"would block (EAGAIN): {what}"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted by Ctrl+C (KeyboardInterrupt)"
    if isinstance(error, OSError) and error.errno is not None:
        words = WORDS.get(error.errno, error.strerror or "")
        return f"failed: {words} ({errno.errorcode.get(error.errno, error.errno)})"
    return f"failed: {type(error).__name__}: {error}"


def show_events(mask):
    """An epoll or poll event mask in words."""
    words = []
    for bit, word in ((POLLIN, "readable"), (POLLOUT, "writable"),
                      (getattr(select, "POLLHUP", 16), "hung up"),
                      (getattr(select, "POLLERR", 8), "error")):
        if mask & bit:
            words.append(word)
    return " and ".join(words) or hex(mask)


def show_watched(reading, writing):
    """Which descriptors a wait is for: "fd 3, 5 to read, fd 6 to write"."""
    parts = []
    for fds, verb in ((reading, "read"), (writing, "write")):
        if fds:
            parts.append("fd " + ", ".join(str(fd) for fd in sorted(fds)) + " to " + verb)
    return ", ".join(parts) or "no descriptor"


# ----- Calls that may wait, and the collapsing of repeated timeouts -----

def call(fd, text, function, args, waits, describe, writing=False, key=None, note=""):
    """Run one traced call: "text waits..." first if it has to wait, then its result.

    A call that times out again, with nothing else shown in between (an accept loop
    polling for Ctrl+C, an event loop's timer), is not shown again (unless --all): the
    next line shown says how many timeouts were left out.
    """
    s = state()
    key = (text, fd) if key is None else key
    again = s["quiet"] == key and not SHOW_ALL
    if waits and not again:
        emit(fd, f"{text}{note} waits...")
    began = time.monotonic()
    try:
        result = function(*args)
    except BaseException as error:
        timed_out = isinstance(error, socket.timeout) and not getattr(error, "errno", None)
        if timed_out and again:
            s["repeats"] += 1
            raise
        finish(fd, text, show_error(error, writing), waits, began, key, timed_out)
        raise
    nothing = describe(result)
    if nothing is None:  # an event loop's wait with nothing ready: a timeout, for collapsing
        if again:
            s["repeats"] += 1
            return result
        finish(fd, text, "= nothing ready: timed out", waits, began, key, True)
        return result
    finish(fd, text, nothing, waits, began, None, False)
    return result


def finish(fd, text, result, waited, began, key, timed_out):
    after = f" (after {seconds(time.monotonic() - began)})" if waited else ""
    emit(fd, " ".join(filter(None, [text, result])) + after)
    if timed_out:
        s = state()
        s["quiet"] = key
        s["quiet_line"] = (fd, text.split("(")[0] + "(...)" if fd is None else text)


def ready(fd, events):
    """True if the descriptor can be read (POLLIN) or written (POLLOUT) without waiting."""
    try:
        if REAL_POLL is not None:
            poller = REAL_POLL()
            poller.register(fd, events)
            return bool(poller.poll(0))
        reading = [fd] if events == POLLIN else []
        return any(REAL_SELECT(reading, [fd] if not reading else [], [], 0))
    except (OSError, ValueError):
        return True  # a closed socket: the call itself will say so at once


def may_wait(sock, events):
    """A blocking call waits if its socket is blocking and not ready for it."""
    return sock.gettimeout() != 0.0 and not ready(sock.fileno(), events)


def timeout_of(sock):
    """What a "waits..." line says about how long it may wait."""
    t = sock.gettimeout()
    return "" if t is None else f" (timeout {t:g} s)"


# ----- The socket calls: socket.socket is a Python class, so its methods can be replaced
# on the class, which covers every socket: accepted ones, create_connection's, Twisted's.

S = socket.socket
REAL = {name: getattr(S, name) for name in (
    "__init__", "bind", "listen", "accept", "connect", "connect_ex", "recv", "recv_into",
    "recvfrom", "recvfrom_into", "send", "sendall", "sendto", "shutdown", "close")}
PEERS = {}  # fd -> the peer's address, for the diagram


def traced_init(self, family=-1, type=-1, proto=-1, fileno=None):
    REAL["__init__"](self, family, type, proto, fileno)
    if fileno is None:  # made by socket(), not by accept() or fromfd()
        family, kind = self.family, self.type  # enums, or plain numbers Python has no name for
        emit(self.fileno(), f"socket({getattr(family, 'name', family)}, {getattr(kind, 'name', kind)})")


def traced_bind(self, address):
    def describe(_):
        if isinstance(address, tuple) and address[1] == 0:
            return "= got port %d" % self.getsockname()[1]
        return ""
    return call(self.fileno(), f"bind({show_address(address)})", REAL["bind"],
                (self, address), False, describe)


def traced_listen(self, *backlog):
    return call(self.fileno(), f"listen({', '.join(map(str, backlog))})", REAL["listen"],
                (self,) + backlog, False, lambda _: "")


def traced_accept(self):
    fd = self.fileno()

    def describe(result):
        conn, address = result
        PEERS[conn.fileno()] = DIAGRAM.peer(address)
        DIAGRAM.arrow(address, "connect (accepted)", to_program=True)
        return f"= fd {conn.fileno()} from {show_address(address)}"
    return call(fd, "accept()", REAL["accept"], (self,), may_wait(self, POLLIN), describe,
                note=timeout_of(self))


def traced_connect(self, address):
    fd = self.fileno()

    def connect(*args):
        try:
            return REAL["connect"](*args)
        except OSError:
            DIAGRAM.arrow(address, "connect: refused or failed", to_program=False, failed=True)
            raise

    def describe(_):
        PEERS[fd] = DIAGRAM.peer(address)
        DIAGRAM.arrow(address, "connect", to_program=False)
        try:
            return f"= connected from {show_address(self.getsockname())}"
        except OSError:
            return ""
    return call(fd, f"connect({show_address(address)})", connect, (self, address), False,
                describe)


def traced_connect_ex(self, address):
    return call(self.fileno(), f"connect_ex({show_address(address)})", REAL["connect_ex"],
                (self, address), False,
                lambda code: f"= {code} ({errno.errorcode.get(code, 'connected')})")


def received(fd, data):
    """What a recv() returned, in words; and its arrow in the diagram."""
    if not data:
        DIAGRAM.arrow(PEERS.get(fd), "end of stream", to_program=True, dotted=True)
        return "= b'' end of stream: the peer has closed its side"
    DIAGRAM.arrow(PEERS.get(fd), show_bytes(data), to_program=True)
    return f"= {show_bytes(data)} ({len(data)} bytes)"


def traced_recv(self, size, *flags):
    fd = self.fileno()
    return call(fd, f"recv({size})", REAL["recv"], (self, size) + flags,
                may_wait(self, POLLIN), lambda data: received(fd, data), note=timeout_of(self))


def traced_recv_into(self, buffer, size=0, *flags):
    fd = self.fileno()

    def describe(count):
        return received(fd, memoryview(buffer)[:count])
    return call(fd, f"recv_into({size or len(buffer)})", REAL["recv_into"],
                (self, buffer, size) + flags, may_wait(self, POLLIN), describe,
                note=timeout_of(self))


def datagram_received(data, address):
    DIAGRAM.arrow(address, show_bytes(data), to_program=True)
    return f"= {show_bytes(data)} ({len(data)} bytes) from {show_address(address)}"


def traced_recvfrom(self, size, *flags):
    return call(self.fileno(), f"recvfrom({size})", REAL["recvfrom"],
                (self, size) + flags, may_wait(self, POLLIN),
                lambda result: datagram_received(*result), note=timeout_of(self))


def traced_recvfrom_into(self, buffer, size=0, *flags):
    def describe(result):
        return datagram_received(memoryview(buffer)[:result[0]], result[1])
    return call(self.fileno(), f"recvfrom_into({size or len(buffer)})",
                REAL["recvfrom_into"], (self, buffer, size) + flags, may_wait(self, POLLIN),
                describe, note=timeout_of(self))


def traced_send(self, data, *flags):
    fd = self.fileno()

    def describe(count):
        if count:
            DIAGRAM.arrow(PEERS.get(fd), show_bytes(memoryview(data)[:count]), to_program=False)
        if count < len(data):
            return f"= {count} of {len(data)} bytes sent: the program must send the rest"
        return f"= {count}"
    return call(fd, f"send({show_bytes(data)})", REAL["send"], (self, data) + flags,
                may_wait(self, POLLOUT), describe, writing=True)


def traced_sendall(self, data, *flags):
    fd = self.fileno()

    def describe(_):
        DIAGRAM.arrow(PEERS.get(fd), show_bytes(data), to_program=False)
        return f"= all {len(data)} bytes sent"
    # sendall() is one call into C: the partial sends it makes inside are not seen.
    return call(fd, f"sendall({show_bytes(data)})", REAL["sendall"], (self, data) + flags,
                may_wait(self, POLLOUT), describe, writing=True)


def traced_sendto(self, data, *rest):
    address = rest[-1]  # sendto(data, address) or sendto(data, flags, address)

    def describe(count):
        DIAGRAM.arrow(address, show_bytes(data), to_program=False)
        return f"= {count}"
    return call(self.fileno(), f"sendto({show_bytes(data)}, {show_address(address)})",
                REAL["sendto"], (self, data) + rest, may_wait(self, POLLOUT), describe,
                writing=True)


def traced_shutdown(self, how):
    name = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR", socket.SHUT_RDWR: "SHUT_RDWR"}
    fd = self.fileno()

    def describe(_):
        if how != socket.SHUT_RD:
            DIAGRAM.arrow(PEERS.get(fd), "end of stream (shutdown)", to_program=False, dotted=True)
        return ""
    return call(fd, f"shutdown({name.get(how, how)})", REAL["shutdown"], (self, how), False,
                describe)


def traced_close(self):
    fd = self.fileno()
    if fd != -1 and not getattr(self, "_io_refs", 0):  # a close() that really closes
        DIAGRAM.arrow(PEERS.pop(fd, None), "close", to_program=False, dotted=True)
        emit(fd, "close()")
    REAL["close"](self)


# ----- Event loops: select(), poll(), epoll() and the selectors module

def traced_select(reading, writing, exceptional, timeout=None):
    def fds(objects):
        return [o if isinstance(o, int) else o.fileno() for o in objects]
    text = "select(%s%s)" % (show_watched(fds(reading), fds(writing)),
                             "" if timeout is None else f", up to {timeout:.3g} s")
    first = REAL_SELECT(reading, writing, exceptional, 0)  # ready already?
    waits = not any(first) and timeout != 0

    def select_now(*args):
        return REAL_SELECT(*args) if waits else first

    def describe(result):
        r, w, x = (fds(objects) for objects in result)
        return ready_text([(fd, POLLIN) for fd in r] + [(fd, POLLOUT) for fd in w])
    return wait_call(text, select_now, (reading, writing, exceptional, timeout), waits, describe)


def ready_text(events):
    if not events:
        return None  # nothing ready: the wait timed out
    return "= " + ", ".join(f"fd {fd} {show_events(mask)}" for fd, mask in events)


def wait_call(text, function, args, waits, describe):
    """An event loop's wait: its line at the left edge, what follows nested under it."""
    s = state()
    s["base"] = 0
    try:
        return call(None, text, function, args, waits, describe, key=("wait", text[:6]))
    finally:
        s["base"] = 1


class TracedPoller:
    """select.poll() and select.epoll(), wrapped (epoll cannot be subclassed): it knows
    which descriptors are registered, for which events, to show what a wait is for."""

    def __init__(self, real, name, unit):
        self._real, self._name, self._unit = real, name, unit  # unit: 1 for s, 1000 for ms
        self._events = {}

    def register(self, fd, *mask):
        self._real.register(fd, *mask)
        self._events[fd if isinstance(fd, int) else fd.fileno()] = mask[0] if mask else POLLIN | POLLOUT

    def modify(self, fd, mask):
        self._real.modify(fd, mask)
        self._events[fd if isinstance(fd, int) else fd.fileno()] = mask

    def unregister(self, fd):
        self._real.unregister(fd)
        self._events.pop(fd if isinstance(fd, int) else fd.fileno(), None)

    def poll(self, timeout=None, *rest, **maxevents):
        watched = show_watched([fd for fd, m in self._events.items() if m & POLLIN],
                               [fd for fd, m in self._events.items() if m & POLLOUT])
        forever = timeout is None or timeout < 0
        text = f"{self._name}({watched}" + ("" if forever else f", up to {timeout / self._unit:.3g} s") + ")"
        first = self._real.poll(0, *rest, **maxevents)  # ready already?
        waits = not first and timeout != 0
        return wait_call(text, lambda: self._real.poll(timeout, *rest, **maxevents) if waits else first, (),
                         waits, ready_text)

    def __getattr__(self, name):  # close(), fileno(), closed...
        return getattr(self._real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()


def traced_poll():
    return TracedPoller(REAL_POLL(), "poll", 1000)


def traced_epoll(sizehint=-1, flags=0):
    return TracedPoller(REAL_EPOLL(sizehint, flags), "epoll", 1)


# ----- Threads: who starts which

def traced_thread_start(self):
    emit(None, f"starts thread {self.name}")
    REAL_THREAD_START(self)


# ----- Twisted: its protocols' callbacks and transport.write, once Twisted is imported

CALLBACKS = ("connectionMade", "dataReceived", "lineReceived", "datagramReceived",
             "readConnectionLost", "connectionLost")


def show_argument(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return show_bytes(value)
    if hasattr(value, "getErrorMessage"):  # a Failure: its exception's class says it all
        return value.type.__name__
    if isinstance(value, tuple):
        return show_address(value)
    return repr(value)


def traced_callback(name, method):
    def callback(self, *args):
        s = state()
        innermost = s["callbacks"][-1] if s["callbacks"] else None
        if innermost == (id(self), name):  # super().dataReceived(): shown once
            return method(self, *args)
        emit(None, f"{type(self).__name__}.{name}({', '.join(map(show_argument, args))})")
        s["callbacks"].append((id(self), name))
        try:
            return method(self, *args)
        finally:
            s["callbacks"].pop()
    callback.__wrapped__ = method
    callback.__name__ = name
    return callback


def trace_callbacks(cls):
    """Wrap the callbacks a protocol class defines (not Twisted's private wrappers)."""
    if cls.__name__.startswith("_"):
        return
    for name in CALLBACKS:
        method = cls.__dict__.get(name)
        if callable(method) and not hasattr(method, "__wrapped__"):
            setattr(cls, name, traced_callback(name, method))


def patch_twisted_protocol(module):
    for base in (module.Protocol, module.AbstractDatagramProtocol):
        trace_callbacks(base)
        # Every subclass defined from now on (LineReceiver, the program's) is wrapped too.
        base.__init_subclass__ = classmethod(lambda cls, **kw: trace_callbacks(cls))


def traced_write(write):
    def transport_write(self, data, *address):
        text = ", ".join([show_bytes(data)] + [show_address(a) for a in address])
        emit(self.fileno() if hasattr(self, "fileno") else None, f"transport.write({text})")
        return write(self, data, *address)
    return transport_write


def patch_twisted_abstract(module):
    module.FileDescriptor.write = traced_write(module.FileDescriptor.write)


def patch_twisted_udp(module):
    module.Port.write = traced_write(module.Port.write)


AFTER_IMPORT = {"twisted.internet.protocol": patch_twisted_protocol,
                "twisted.internet.abstract": patch_twisted_abstract,
                "twisted.internet.udp": patch_twisted_udp}


class AfterImport:
    """An import hook: runs AFTER_IMPORT's function on a module once it is loaded, so that
    the tracer imports nothing of Twisted itself (a program without Twisted loads none)."""

    def find_spec(self, name, path, target=None):
        if name not in AFTER_IMPORT:
            return None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
        else:
            return None
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            AFTER_IMPORT[name](module)
        spec.loader.exec_module = exec_module
        return spec


def install():
    """Replace the calls by their traced twins, before the program imports anything."""
    for name in REAL:
        setattr(S, name, globals()["traced_" + name.strip("_")])
    select.select = traced_select
    if selectors.SelectSelector.__dict__.get("_select") is REAL_SELECT:  # not on Windows
        selectors.SelectSelector._select = staticmethod(traced_select)
    if REAL_POLL is not None:
        select.poll = traced_poll
        # selectors bound the real ones when it was loaded (socket imports it)
        selectors.PollSelector._selector_cls = staticmethod(traced_poll)
    if REAL_EPOLL is not None:
        select.epoll = traced_epoll
        selectors.EpollSelector._selector_cls = staticmethod(traced_epoll)
    threading.Thread.start = traced_thread_start
    sys.meta_path.insert(0, AfterImport())


# ----- The Mermaid sequence diagram (--mermaid FILE)

class Diagram:
    """The exchange as a Mermaid sequenceDiagram: the program and one participant per peer."""

    def __init__(self):
        self.file = None
        self.lines = []
        self.peers = {}  # "127.0.0.1 port 54321" -> participant id
        self.lock = threading.Lock()

    def peer(self, address):
        if isinstance(address, tuple):
            return "%s port %s" % address[:2]
        return str(address) if address else None

    def arrow(self, address, text, to_program, dotted=False, failed=False):
        if self.file is None:
            return
        peer = address if isinstance(address, str) else self.peer(address)
        if peer is None:
            return
        with self.lock:
            if peer not in self.peers:
                self.peers[peer] = f"P{len(self.peers) + 1}"
                self.lines.append(f"    participant {self.peers[peer]} as {mermaid_text(peer)}")
            them = self.peers[peer]
            line = ("--" if dotted else "-") + ("x" if failed else ">>")  # x: a failure
            source, target = (them, "program") if to_program else ("program", them)
            self.lines.append(f"    {source}{line}{target}: {mermaid_text(text)}")

    def write(self):
        name = os.path.basename(sys.argv[0]) or "program"
        text = ["sequenceDiagram", f"    participant program as {mermaid_text(name)}"]
        with self.lock:
            text += self.lines
        try:
            with open(self.file, "w", encoding="utf-8") as out:
                out.write("\n".join(text) + "\n")
        except OSError as error:
            OUTPUT.write(f"sockettrace: cannot write {self.file}: {error.strerror}")


def mermaid_text(text):
    """Text that Mermaid shows as is: # ; < > as its entity codes (#35; #59; #60; #62;)."""
    return text.translate({ord(c): f"#{ord(c)};" for c in "#;<>"})


DIAGRAM = Diagram()


# ----- Running the program as Python would

def parse_command_line(argv):
    parser = argparse.ArgumentParser(
        prog="sockettrace.py",
        usage="%(prog)s [-h] [-o FILE] [--bytes N] [--all] [--mermaid FILE] "
              "(SCRIPT | -m MODULE) [ARGS ...]",
        description="Run a Python program unchanged and print each of its socket calls "
        "as it happens: time since the start, thread, file descriptor, arguments, result.",
        epilog="Traced: socket, bind, listen, accept, connect, connect_ex, recv, recv_into, "
        "recvfrom, recvfrom_into, send, sendall, sendto, shutdown, close; select.select, "
        "select.poll, select.epoll and the selectors module; threads started; Twisted's "
        "protocol callbacks and transport.write. sendall() is one call: its partial sends "
        "are not seen. Not traced: SSL sockets, os.read/os.write on a socket, gevent, "
        "kqueue (macOS selectors), Windows' asyncio proactor.")
    parser.add_argument("-o", metavar="FILE", help="write the trace to FILE, not standard error")
    parser.add_argument("--bytes", metavar="N", type=int, default=BYTES,
                        help="show at most N bytes of data per call (default %(default)s)")
    parser.add_argument("--all", action="store_true",
                        help="show every repeated timeout (a polling accept loop's)")
    parser.add_argument("--mermaid", metavar="FILE",
                        help="also write the exchange to FILE as a Mermaid sequenceDiagram")
    parser.add_argument("-m", metavar="MODULE", help="run a module, as python3 -m does")
    # Our options come first; the program's own start at SCRIPT (or after -m MODULE).
    ours, i = [], 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        ours.append(argv[i])
        if argv[i] == "--":
            ours.pop()
            i += 1
            break
        if argv[i] in ("-o", "--bytes", "--mermaid", "-m") and i + 1 < len(argv):
            ours.append(argv[i + 1])
            i += 1
            if argv[i - 1] == "-m":
                i += 1
                break
        i += 1
    options = parser.parse_args(ours)
    command = argv[i:]
    if options.m is None and not command:
        parser.error("a SCRIPT or -m MODULE to run is needed")
    if options.bytes < 1:
        parser.error(f"--bytes must be at least 1: {options.bytes}")
    return options, command


def run_script(script, args):
    path = script
    if not os.path.isfile(path):  # `twistd`: a Python program on the PATH
        path = shutil.which(script)
        if path is None:
            fail(f"no such script or program: {script}")
    sys.argv = [script] + args
    sys.path[0] = os.path.dirname(os.path.abspath(path))  # as python3 SCRIPT sets it
    runpy.run_path(os.path.abspath(path), run_name="__main__")


def run_module(module, args):
    sys.path[0] = os.getcwd()  # as python3 -m sets it
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None:
        fail(f"no module named {module}")
    sys.argv = [module] + args
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def fail(message):
    """A user's error: one line, exit status 2 (as python3 says "can't open file")."""
    print("sockettrace: " + message, file=sys.stderr)
    sys.exit(2)


def without_our_frames(hook):
    """sys.excepthook that shows the program's traceback without the tracer's frames
    (ours and runpy's): a crash looks as it does without the tracer."""
    ours = globals()

    def trimmed(tb):
        kept = []
        while tb is not None:
            scope = tb.tb_frame.f_globals
            if scope is not ours and scope.get("__name__") != "runpy":
                kept.append(tb)
            tb = tb.tb_next
        tb = None
        for entry in reversed(kept):
            tb = types.TracebackType(tb, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
        return tb

    def excepthook(kind, value, tb):
        seen = set()
        error = value
        while error is not None and id(error) not in seen:  # and the exceptions it chains
            seen.add(id(error))
            error.__traceback__ = trimmed(error.__traceback__)
            error = error.__cause__ or error.__context__
        hook(kind, value, value.__traceback__)
    return excepthook


if __name__ == "__main__":
    main()
