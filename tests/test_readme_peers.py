"""The README's slide-style examples ("Talking to the slides' programs") run as shown.

The client example (the Python block after ``<!-- slide-client -->``) is run against the
ex1 server of every implementation and must print exactly the output block that follows
it. The server example (after ``<!-- slide-server -->``) is run as a server, the client
command shown after it (and its Twisted twin) talks to it, and both print exactly what
the README shows. The only change made is the port: a free one instead of 8090.
"""

import re
import time

import pytest

from tests import harness

README = (harness.ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)


def blocks_after(marker):
    """The fenced blocks after `marker`, up to the next section: [(language, text)]."""
    text = README[README.index(marker):]
    text = text[:text.index("\n## ")]
    return BLOCK.findall(text)


def with_port(code, port):
    assert code.count("8090") == 1, code
    return code.replace("8090", str(port))


def test_readme_slide_client_example(pool, tmp_path):
    """The README's slide-style client prints exactly what the README shows, against the
    ex1 server of every implementation."""
    (lang, code), (out_lang, output) = blocks_after("<!-- slide-client -->")[:2]
    assert (lang, out_lang) == ("python", "console")
    jobs = []
    for impl in harness.SERVER_IMPLS:
        path = tmp_path / f"client_{impl}.py"
        path.write_text(with_port(code, pool.port(impl, "ex1_message", "tcp")), encoding="utf-8")
        jobs.append(lambda path=path: harness.run([harness.PYTHON, str(path)]))
    got = dict(zip(harness.SERVER_IMPLS, harness.parallel(jobs)))
    expected = harness.Result(0, output.encode(), b"")
    assert got == {impl: expected for impl in harness.SERVER_IMPLS}


def normalize(lines):
    return [re.sub(r"\('127\.0\.0\.1', \d+\)", "('127.0.0.1', P)", line) for line in lines]


@pytest.mark.parametrize("client", harness.CLIENT_IMPLS)
def test_readme_slide_server_example(client, tmp_path):
    """The README's slide-style server and this project's client print exactly what the
    README shows (the Twisted client as its basic twin)."""
    blocks = blocks_after("<!-- slide-server -->")
    (lang, code), (_, server_output), (_, session) = blocks[:3]
    assert lang == "python"
    [command, *client_output] = session.split("\n")[:-1]
    assert command == "$ python3 basic/ex1_message/tcpclient.py"
    port = harness.free_port()
    path = tmp_path / "server.py"
    path.write_text(with_port(code, port), encoding="utf-8")
    server = harness.start_server([harness.PYTHON, str(path)], tmp_path)
    try:
        deadline = time.monotonic() + harness.START_TIMEOUT
        while not harness.proc_net_listeners("tcp", port):
            assert server.alive(), server.stderr()
            assert time.monotonic() < deadline, "the README's server does not listen"
            time.sleep(0.01)
        result = harness.run_client(client, "ex1_message", "tcp", port=port)
        assert result == harness.Result(0, "\n".join(client_output + [""]).encode(), b"")
        expected = server_output.split("\n")[:-1]
        assert server.wait() == 0  # it serves one client, then ends
        assert normalize(server.output()) == normalize(expected)
        assert server.stderr() == b""
    finally:
        server.stop()
