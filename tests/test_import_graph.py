"""No import cycles in JLCE, lazy ones included.

The graph is built from the source (nothing is imported): jlce/, backends/ (installed as
jlce.backends) and plugins/ (jlce.plugins). An edge A -> B is any of

- an `import` / `from ... import` of B anywhere in A: at module level, inside a function (a lazy
  import) or under `try`; only `if TYPE_CHECKING:` blocks are left out (they never run);
- a string that is exactly a module name, `"jlce.x.y"`: how a module imports others by name
  (`importlib.import_module`, the built-in plugin list, lazy `__getattr__` export tables).
  Strings that name A itself or a package above it (a resource anchor, a `kind` literal) and
  logger names are not imports.

A `"module:attribute"` reference in a registered spec (a backend factory, an alias's builder) is
not an edge of the module that writes it: the code that uses the spec imports it
(`jlce.specs.resolve`, e.g. the evaluator creating the backend), and registering it imports nothing.

A package's `__init__` running before its submodules is how Python imports, not an edge.

Run `python tests/test_import_graph.py` to print every cycle.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE_ROOTS = {"jlce": "jlce", "backends": "jlce.backends", "plugins": "jlce.plugins"}


def find_modules(repo: Path = REPO, roots: dict[str, str] = SOURCE_ROOTS) -> dict[str, Path]:
    """Installed module name -> source file."""
    modules: dict[str, Path] = {}
    for folder, package in roots.items():
        for path in sorted((repo / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(repo / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _is_logger_call(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name == "getLogger"


class _Imports(ast.NodeVisitor):
    def __init__(self, module: str, modules: dict[str, Path]):
        self.module, self.modules = module, modules
        self.package = module if modules[module].name == "__init__.py" else module.rpartition(".")[0]
        self.edges: dict[str, int] = {}  # target -> first line

    def _known(self, name: str) -> str | None:
        while name and name not in self.modules:
            name = name.rpartition(".")[0]
        return name or None

    def _add(self, target: str | None, line: int) -> None:
        if target and target != self.module:
            self.edges.setdefault(target, line)

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] == "jlce":
                self._add(self._known(alias.name), node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            base = f"{base}.{node.module}" if node.module else base
        else:
            base = node.module or ""
        if base.split(".")[0] != "jlce":
            return
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(submodule if submodule in self.modules else self._known(base), node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        if _is_logger_call(node):
            return
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str) or not node.value.startswith("jlce."):
            return
        name = node.value
        if name not in self.modules or self.module == name or self.module.startswith(name + "."):
            return
        self._add(name, node.lineno)


def import_graph(modules: dict[str, Path] | None = None) -> dict[str, dict[str, int]]:
    """module -> {imported module: line of the first import}."""
    modules = find_modules() if modules is None else modules
    graph = {}
    for module, path in modules.items():
        visitor = _Imports(module, modules)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        graph[module] = visitor.edges
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def one_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """A shortest cycle through the component's first module, as a path that returns to it."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node]):
            if child == start:
                return paths[node] + [start]
            if child in members and child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    raise AssertionError("not a cycle")


def describe(graph: dict[str, dict[str, int]], cycle: list[str], modules: dict[str, Path]) -> str:
    steps = [f"{a} ({modules[a].relative_to(REPO) if modules[a].is_relative_to(REPO) else modules[a]}:{graph[a][b]}) -> {b}"
             for a, b in zip(cycle, cycle[1:])]
    return "\n    ".join(steps)


def cycles_report(modules: dict[str, Path] | None = None) -> list[str]:
    modules = find_modules() if modules is None else modules
    graph = import_graph(modules)
    return [describe(graph, one_cycle(graph, component), modules) for component in strongly_connected(graph)]


# ---- tests ------------------------------------------------------------------------------------


def test_no_import_cycles():
    found = cycles_report()
    assert not found, "import cycles (lazy imports and modules imported by name count):\n  " + "\n  ".join(found)


def test_graph_sees_lazy_and_by_name_imports():
    """The check is not vacuous: function-level imports and by-name imports are edges."""
    graph = import_graph()
    assert len(graph) > 150
    assert "jlce.lmeval_bridge" in graph["jlce.task"]  # `from jlce.lmeval_bridge import ...` inside load_tasks
    assert "jlce.plugins.timing" in graph["jlce.plugin_manager"]  # the built-in plugin list
    assert "jlce.leaderboard.build" in graph["jlce.leaderboard"]  # a lazy export table
    assert "jlce.plugins" not in graph["jlce.hookcall"]  # a logger name is no import


def test_a_lazy_cycle_is_found_and_printed(tmp_path):
    package = tmp_path / "jlce"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from jlce import b\n")
    (package / "b.py").write_text("def f():\n    from jlce.c import g\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from jlce import b\n"
                                  "LAZY = {'x': 'jlce.a'}\n")
    modules = find_modules(tmp_path, {"jlce": "jlce"})
    (report,) = cycles_report(modules)
    assert "jlce.a" in report and "jlce.b" in report and "jlce.c" in report
    assert "a.py:1" in report and "b.py:2" in report and "c.py:4" in report


if __name__ == "__main__":
    reports = cycles_report()
    print("\n".join(reports) if reports else "no import cycles")
    sys.exit(1 if reports else 0)
