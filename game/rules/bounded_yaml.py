"""Composing a rules document from YAML someone else wrote, within bounds.

PyYAML's composer recurses once per nesting level (``[[[[...`` 100,000 deep is a `RecursionError`), and
aliases let a few lines stand for billions of values (each ``*alias`` repeats a whole subtree, and a
chain of them multiplies: the "billion laughs"), which every walk over the document, and the
validation after it, would expand. A rules file needs neither, so both are refused as malformed YAML
(`yaml.MarkedYAMLError`, with the line), before anything walks the document.
"""

from __future__ import annotations

import yaml
from yaml.composer import ComposerError

MAX_DEPTH = 64
"""The deepest nesting of mappings and sequences (the document itself is depth 1)."""
MAX_NODES = 100_000
"""The most values (scalars, mappings, sequences, keys included) the document may expand to, aliases
counted as the copies they stand for. The default rules have about 1,500."""


class BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` whose composer refuses nesting deeper than `MAX_DEPTH`."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self._depth >= MAX_DEPTH:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # untyped in the stubs
            raise ComposerError(problem=f"nested deeper than {MAX_DEPTH} levels", problem_mark=mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_size(root: yaml.Node) -> None:
    """Refuse a document that expands to more than `MAX_NODES` values, or that contains itself (an
    anchor used inside its own value): each distinct node is visited once, without recursion."""
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    while pending:
        node, finished = pending.pop()
        key = id(node)
        if finished:
            entered.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_NODES:
                problem = f"expands to more than {MAX_NODES:,} values (aliases repeat what they name)"
                raise ComposerError(problem=problem, problem_mark=node.start_mark)
            continue
        if key in sizes:
            continue
        if key in entered:  # an ancestor of itself
            raise ComposerError(
                problem="an alias refers to a value that contains it", problem_mark=node.start_mark
            )
        entered.add(key)
        pending.append((node, True))
        pending.extend((child, False) for child in _children(node) if id(child) not in sizes)
