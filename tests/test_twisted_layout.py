"""The shape of twisted_impl/: an import graph without a cycle, a Twisted-free bottom
module, and each exercise's rule in the very text of its basic/ twin.
"""

import ast

import pytest

from tests import harness
from tests.test_basic_shared import LINE, source_segment

PACKAGE = harness.ROOT / "twisted_impl"
# Each exercise's rule: the names its basic/ tcpserver.py defines between handle() and
# the framing, which twisted_impl/<exercise>/tcpserver.py holds in the same text.
RULES = {
    "ex1_message": ["answer"],
    "ex2_sum": ["TWO_INTEGERS", "MAX_DIGITS", "ERROR_SHAPE", "ERROR_DIGITS", "add_line"],
    "ex3_password": ["MIN_LENGTH", "MAX_LENGTH", "ALLOWED", "REQUIRED", "valid_passwords"],
}


def module_name(path):
    parts = path.relative_to(harness.ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path):
    """The modules `path` imports, at its top or inside a function (a late import is
    still an edge of the graph)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            # `from twisted_impl import client` imports the module twisted_impl.client
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def graph():
    """{module: the twisted_impl modules it imports} for every module of the package."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: sorted(m for m in imports(path) if m in modules and m != name)
            for name, path in modules.items()}


def test_import_graph_has_no_cycle():
    """No twisted_impl module imports, directly or not, a module that imports it."""
    edges = graph()
    state = {}  # module: "open" while its imports are walked, "done" after

    def walk(module, trail):
        if state.get(module) == "open":
            pytest.fail("import cycle: " + " -> ".join(trail[trail.index(module):] + [module]))
        if state.get(module) != "done":
            state[module] = "open"
            for imported in edges[module]:
                walk(imported, trail + [module])
            state[module] = "done"

    for module in sorted(edges):
        walk(module, [])


def test_the_bottom_module_needs_no_twisted():
    """twisted_impl/common.py imports the standard library only: no Twisted, none of ours."""
    imported = imports(PACKAGE / "common.py")
    assert not [m for m in imported if m.split(".")[0] in ("twisted", "twisted_impl", "zope")]


def test_client_scripts_load_twisted_only_when_they_run():
    """A client script imports twisted_impl.client (and so Twisted) inside main() only."""
    for path in PACKAGE.glob("ex*/*client.py"):
        top = ast.parse(path.read_text(encoding="utf-8")).body
        at_top = {alias.name for node in top if isinstance(node, ast.ImportFrom)
                  for alias in node.names}
        assert "client" not in at_top, path


def definitions(path, names):
    """{name: source text of the statement defining it} for the top-level `names`."""
    source = path.read_text(encoding="utf-8")
    lines = LINE.findall(source)
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            targets = [node.name]
        elif isinstance(node, ast.Assign):
            targets = [n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        else:
            continue
        for name in set(targets) & set(names):
            found[name] = source_segment(lines, node)
    return found


@pytest.mark.parametrize("exercise", sorted(RULES))
def test_rule_reads_the_same_in_both_implementations(exercise):
    """The exercise's rule (its constants and its function) has the same names and the
    same source text in twisted_impl/<exercise>/tcpserver.py as in basic/'s."""
    names = RULES[exercise]
    basic = definitions(harness.ROOT / "basic" / exercise / "tcpserver.py", names)
    twisted = definitions(PACKAGE / exercise / "tcpserver.py", names)
    assert sorted(basic) == sorted(names)
    assert twisted == basic


@pytest.mark.parametrize("exercise", ["ex0_hello"] + sorted(RULES))
def test_tcpserver_reads_in_basics_order(exercise):
    """The Twisted tcpserver.py defines main, the per-client code, the rule, then beyond
    the slides parse_args, in basic/'s order, with its factory and its listen call in
    sight in main's coroutine."""
    path = PACKAGE / exercise / "tcpserver.py"
    order = [n.name for n in ast.parse(path.read_text(encoding="utf-8")).body
             if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    rule = [n for n in RULES.get(exercise, []) if n[0].islower()]
    assert order == ["main", "serve", "Handle"] + rule + ["parse_args"]
    text = path.read_text(encoding="utf-8")
    assert "factory = LineServerFactory(Handle," in text
    assert "listening = await endpoint.listen(factory)" in text
    assert text.index("def main(") < text.index("# ----- Beyond the slides -----")
