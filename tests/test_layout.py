"""The package's shape: no import circles, and no module imports from a layer above its own.

Every import statement of ``src/supernas`` is read with ``ast`` (those inside functions too), so
the test needs nothing imported. A new module belongs to the layer of its package; a new
package or top-level module must be placed in ``LAYERS`` first.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "supernas"

LAYERS = (
    ("supernas.errors", "supernas.streams"),
    ("supernas.utils", "supernas.config"),
    ("supernas.data", "supernas.nn"),
    ("supernas.spaces",),
    ("supernas.runs",),
    ("supernas.train",),
    ("supernas.evaluate",),
    ("supernas.groundtruth",),
    ("supernas.rank", "supernas.search"),
    ("supernas.subnet",),
    ("supernas.report",),
    ("supernas.study",),
    ("supernas.cli", "supernas"),
)
"""Lowest first: a module may import its own layer's modules and those of lower layers only.
From the bottom: errors and random-stream ids; helpers and the typed config; data and network
building blocks; search spaces; a run (its files, checkpoints, process group, and what it is
built from); supernet training; scores; ground truth (tables, comparison, the builder); the
rank and search commands; the chosen subnet (export, retrain); reports; studies; the command
line and the public API."""


def module_name(path: Path) -> str:
    """The dotted module name of a file under ``src/``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The package's modules that the file at ``path`` imports (``from P import M`` counts as
    importing module ``P.M`` when that is a module, else ``P``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                         for alias in node.names)
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    files = modules()
    return {name: imported_modules(path, set(files)) - {name} for name, path in files.items()}


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of the longest prefix naming ``module`` or a package above it."""
    matches = [(len(prefix), index) for index, prefixes in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is in no layer; add it (or its package) to LAYERS in {__file__}"
    return max(matches)[1]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_there_are_no_import_circles():
    assert circles(import_graph()) == []


def test_nothing_imports_from_a_higher_layer():
    upward = [f"{source} -> {target}" for source, targets in import_graph().items() for target in sorted(targets)
              if layer_of(target) > layer_of(source)]
    assert upward == []


def test_the_checks_catch_what_they_guard_against():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("supernas.evaluate.scoring") > layer_of("supernas.train.trainer")
    assert layer_of("supernas.subnet.export") > layer_of("supernas.search.runner")
    assert "supernas.spaces.registry" in import_graph()["supernas.spaces.nasbench201"]
