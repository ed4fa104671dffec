"""The worker package's modules import each other one way: no circle.

Every import of a package module is an edge, wherever it is written: at the
top, inside a function, under `if TYPE_CHECKING:`, or as an
importlib.import_module / __import__ of a literal name (so moving an import
into a function does not hide a circle). `from . import name` is an edge to
the submodule name when there is one, else to the package's __init__ (name
is one of its attributes). That a submodule's import first runs the
package's __init__ is not an edge: it is how every package works.
"""

from __future__ import annotations

import ast
import os
import tempfile
import unittest
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "pyharness_worker"

Edges = Dict[str, Dict[str, int]]  # module -> imported module -> first line


def _resolve(package: str, current: str, level: int, module: Optional[str]) -> str:
    """The absolute module name of a relative import in module current."""
    if level == 0:
        return module or ""
    base = current.split(".")
    if current != package:  # a submodule: its package is one level up
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([module] if module else []))


def import_graph(package_dir: Path) -> Edges:
    """The package's import edges between its own modules."""
    package = package_dir.name
    modules = {package: package_dir / "__init__.py"}
    for path in sorted(package_dir.glob("*.py")):
        if path.name != "__init__.py":
            modules[f"{package}.{path.stem}"] = path
    edges: Edges = {name: {} for name in modules}

    def add(src: str, target: str, line: int) -> None:
        while target and target not in modules:  # pyharness_worker.x.y -> pyharness_worker.x
            target = target.rpartition(".")[0]
        if target and target != src:
            edges[src].setdefault(target, line)

    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(name, alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(package, name, node.level, node.module)
                if not (target == package or target.startswith(package + ".")):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    add(name, sub if sub in modules else target, node.lineno)
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                fn = node.func
                called = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
                if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                    target = node.args[0].value
                    if target.startswith("."):
                        dots = len(target) - len(target.lstrip("."))
                        target = _resolve(package, name, dots, target.lstrip(".") or None)
                    add(name, target, node.lineno)
    return edges


def find_cycle(edges: Edges) -> Optional[List[str]]:
    """One circle of imports, as the modules along it (the first repeated
    at the end), or None."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, {})):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def describe(cycle: List[str], edges: Edges) -> str:
    steps = [f"{a} (line {edges[a][b]}) -> {b}" for a, b in zip(cycle, cycle[1:])]
    return "import circle: " + "; ".join(steps)


class ImportCycleTest(unittest.TestCase):
    def test_the_worker_package_has_no_import_circle(self) -> None:
        edges = import_graph(PACKAGE_DIR)
        cycle = find_cycle(edges)
        self.assertIsNone(cycle, cycle and describe(cycle, edges))

    def test_the_graph_sees_the_imports_the_worker_makes(self) -> None:
        """The check looks at real edges: top-level, relative and
        function-level imports of the package's own modules."""
        edges = import_graph(PACKAGE_DIR)
        self.assertIn("pyharness_worker.core", edges["pyharness_worker.server"])
        self.assertIn("pyharness_worker.framing", edges["pyharness_worker.server"])
        self.assertIn("pyharness_worker.core", edges["pyharness_worker.bridge"])
        self.assertIn("pyharness_worker.startfail", edges["pyharness_worker.server"], "a function-level import")
        self.assertEqual(edges["pyharness_worker.core"], {}, "core depends on no other module of the package")

    def test_the_core_is_imported_by_the_modules_that_build_on_it(self) -> None:
        edges = import_graph(PACKAGE_DIR)
        for module in ("server", "bridge", "context", "builtin_methods", "fault_methods"):
            self.assertIn("pyharness_worker.core", edges[f"pyharness_worker.{module}"], module)


class CycleFinderTest(unittest.TestCase):
    """The finder itself, on packages written for it: it names circles
    however they are hidden."""

    def graph_of(self, files: Dict[str, str]) -> Tuple[Edges, Optional[List[str]]]:
        with tempfile.TemporaryDirectory() as tmp:
            pkg = Path(tmp) / "pkg"
            pkg.mkdir()
            for name, text in files.items():
                (pkg / name).write_text(text, encoding="utf-8")
            edges = import_graph(pkg)
        return edges, find_cycle(edges)

    def test_a_circle_through_a_function_level_import_is_found(self) -> None:
        edges, cycle = self.graph_of({
            "__init__.py": "",
            "a.py": "from .b import thing\n",
            "b.py": "def thing():\n    from . import a\n    return a\n",
        })
        self.assertEqual(cycle, ["pkg.a", "pkg.b", "pkg.a"])
        self.assertIn("pkg.a (line 1) -> pkg.b; pkg.b (line 2) -> pkg.a", describe(cycle or [], edges))

    def test_a_circle_through_the_package_init_is_found(self) -> None:
        _, cycle = self.graph_of({
            "__init__.py": "LIMIT = 1\ndef load():\n    import pkg.server\n",
            "server.py": "from . import LIMIT\n",
        })
        self.assertEqual(cycle, ["pkg", "pkg.server", "pkg"])

    def test_type_checking_and_import_module_circles_are_found(self) -> None:
        _, cycle = self.graph_of({
            "__init__.py": "",
            "ctx.py": "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from .srv import Worker\n",
            "srv.py": "import importlib\nctx = importlib.import_module('pkg.ctx')\n",
        })
        self.assertEqual(cycle, ["pkg.ctx", "pkg.srv", "pkg.ctx"])

    def test_one_way_imports_are_no_circle(self) -> None:
        edges, cycle = self.graph_of({
            "__init__.py": "from .core import LIMIT\n",
            "core.py": "LIMIT = 1\nimport os\n",
            "server.py": "from . import core, LIMIT\nfrom .core import LIMIT as L\n",
        })
        self.assertIsNone(cycle)
        self.assertEqual(edges["pkg.server"], {"pkg.core": 1, "pkg": 1})


if __name__ == "__main__":
    unittest.main()
