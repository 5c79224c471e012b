"""frugalml.selection has no import circle: every module imports on its own, and the graph of
imports between its modules (function-local imports included) is acyclic."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import frugalml.selection

PACKAGE = Path(frugalml.selection.__file__).parent
MODULES = sorted(f"frugalml.selection.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def _imports(path: Path) -> set[str]:
    """The frugalml.selection modules that ``path`` imports, anywhere in the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out |= {n for n in names if n in MODULES}
    return out


def _cycle(graph: dict[str, set[str]]):
    """One cycle of ``graph`` as a list of nodes, or None."""
    state, stack = {}, []

    def visit(u):
        state[u] = "open"
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == "open":
                return stack[stack.index(v):] + [v]
            if v not in state and (found := visit(v)):
                return found
        state[u] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_selection_import_graph_is_acyclic():
    graph = {m: _imports(PACKAGE / f"{m.rsplit('.', 1)[1]}.py") - {m} for m in MODULES}
    assert "frugalml.selection._weiszfeld" in graph["frugalml.selection.out_of_core"]
    assert "frugalml.selection.geometric_median" not in graph["frugalml.selection.out_of_core"]
    assert _cycle(graph) is None, f"import circle: {' -> '.join(_cycle(graph))}"


def test_cycle_finder_sees_a_circle():  # the check above can fail
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", ["geometric_median", "out_of_core", "_weiszfeld"])
def test_each_module_imports_first_in_a_fresh_interpreter(module):  # the modules that formed the circle
    module = f"frugalml.selection.{module}"
    code = f"import {module} as m; import frugalml.selection as s; assert s.geometric_median"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
