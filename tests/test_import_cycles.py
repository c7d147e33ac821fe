"""No import cycles among our modules: every module → imported-module edge of our packages, as grimp reads
them (top-level, function-level and ``TYPE_CHECKING`` imports alike), forms no cycle.

A cycle is a layering mistake even when Python tolerates it (a lazy import, an annotation-only import):
the modules in it cannot be understood, tested or moved one without the other, and the next top-level
import between them turns it into an ImportError at start-up. The fix is the module both sides need,
split out. import-linter's contracts (``pyproject.toml``) keep the layers apart; this keeps every
module within a layer acyclic too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Set
from pathlib import Path

import grimp
import pytest

PACKAGES = ("game", "protocol", "persistence", "tasks", "server", "load_tests")


def import_edges(packages: Iterable[str]) -> dict[str, set[str]]:
    """Each of our modules → the modules of ours it imports directly (TYPE_CHECKING imports included)."""
    graph = grimp.build_graph(
        *packages, include_external_packages=False, exclude_type_checking_imports=False, cache_dir=None
    )
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


def strongly_connected_components(edges: Mapping[str, Set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``edges``, iteratively (no recursion limit on a deep
    chain of imports); each component as its modules in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        # The depth-first path, each frame a node and its successors still to visit.
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            successor = next(successors, None)
            if successor is not None:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, ())))))
                elif successor in on_stack:
                    low[node] = min(low[node], index[successor])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def cycles(edges: Mapping[str, Set[str]]) -> list[list[str]]:
    """The modules of each import cycle: the strongly connected components with more than one module, and
    a module importing itself."""
    return [
        component
        for component in strongly_connected_components(edges)
        if len(component) > 1 or component[0] in edges.get(component[0], ())
    ]


def chain(component: list[str], edges: Mapping[str, Set[str]]) -> list[str]:
    """A closed walk through every module of ``component`` along import edges (``a -> b -> ... -> a``), to
    show how the cycle closes: from the first module, the shortest path to each next one not yet reached,
    then back to the first."""
    members = set(component)

    def path(start: str, goal: str) -> list[str]:
        previous: dict[str, str] = {}
        frontier = [start]
        seen = {start}
        while frontier:
            following: list[str] = []
            for node in frontier:
                for successor in sorted(edges.get(node, set()) & members):
                    if successor in seen:
                        if successor == goal:
                            previous.setdefault(successor, node)
                        continue
                    seen.add(successor)
                    previous[successor] = node
                    following.append(successor)
            if goal in previous:
                break
            frontier = following
        steps = [goal]
        while steps[-1] != start or len(steps) == 1:
            steps.append(previous[steps[-1]])
        return steps[::-1]

    walk = [component[0]]
    for module in [*component[1:], component[0]]:
        if module in walk and module != component[0]:
            continue
        walk += path(walk[-1], module)[1:]
    return walk


def test_chain_walks_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert cycles(edges) == [["a", "b", "c"]]
    assert chain(["a", "b", "c"], edges) == ["a", "b", "c", "a"]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    two = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"c", "e"}, "e": set()}
    assert sorted(cycles(two)) == [["a", "b"], ["c", "d"]]
    deep = {str(n): {str(n + 1)} for n in range(5000)} | {"5000": {"0"}}  # deeper than recursion allows
    assert [len(component) for component in cycles(deep)] == [5001]


def test_lazy_and_type_checking_imports_are_edges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The graph counts what only dodges a cycle at run time: a function-level import, a TYPE_CHECKING one."""
    package = tmp_path / "cyclesprobe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from cyclesprobe import b\n"
        "def f() -> None:\n    from cyclesprobe import c\n"
    )
    (package / "b.py").write_text("")
    (package / "c.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_edges(["cyclesprobe"])["cyclesprobe.a"] == {"cyclesprobe.b", "cyclesprobe.c"}


def test_no_import_cycles() -> None:
    edges = import_edges(PACKAGES)
    found = cycles(edges)
    assert not found, "import cycles (each: how the imports close the loop):\n" + "\n".join(
        "  " + " -> ".join(chain(component, edges)) for component in found
    )
