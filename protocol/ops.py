"""Delta operations on a topic's document (PROTOCOL.md, "Delta operations").

A document is JSON-like: maps with string keys, lists, and scalars; its root is a map. A delta's
``ops`` are applied in order, and each op *assigns* (it never adds to what is there), so that
applying a delta twice gives the same document as applying it once:

    ["set", path, value]             path := value (a keyed row: replaced, or appended if missing)
    ["merge", path, {k: v, ...}]     shallow merge into the map at path (created if missing)
    ["remove", path]                 delete path; nothing to do if it is already gone
    ["move", path, selector, index]  move the row `selector` of the list at path to `index`

A path is an array of segments: a string (a map key) or a selector ``{field: value}`` (the one row
of a list of maps whose ``field`` equals ``value``, a string or an integer). Lists are never
addressed by position: a position names whatever happens to be there, so "remove item 0" applied
twice removes two rows. Positions only appear as the target of ``move``, and every ``move`` must
still hold once the whole delta is applied (the row is at that index), which makes the delta as a
whole idempotent.

There is no ``increment``: "add 10" applied twice adds 20, so a re-sent or replayed delta would
silently corrupt the mirror; ``set`` the new total instead.

`apply_ops` never modifies the document or the ops it is given: it copies the maps and lists on the
paths it writes (the rest is shared with the input) and returns the new document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from protocol.limits import MAX_SAFE_INTEGER

__all__ = [
    "OP_NAMES",
    "Document",
    "MergeOp",
    "MoveOp",
    "Op",
    "OpError",
    "OpFormatError",
    "Path",
    "PathSegment",
    "RemoveOp",
    "Selector",
    "SetOp",
    "apply_ops",
    "check_ops",
    "diff_ops",
    "parse_op",
    "row_ops",
]

Document: TypeAlias = dict[str, Any]


class OpFormatError(ValueError):
    """An op that is not well formed; ``field`` is the position in the op (``"1.2"``: the path's third
    segment), empty for the op itself."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class OpError(Exception):
    """A delta that cannot be applied to this document: a missing parent, a wrong container type, an
    ambiguous selector, a row that changes its key, a ``move`` that does not hold. The document is left
    as it was; a mirror that meets this has diverged and must take a fresh snapshot."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message if index is None else f"op {index}: {message}")
        self.index = index


def _is_key_value(value: object) -> bool:
    if isinstance(value, str):
        return True
    return type(value) is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER


@dataclass(frozen=True, slots=True)
class Selector:
    """The row of a list of maps whose ``field`` equals ``value`` (``{"member": "u1"}`` on the wire)."""

    field: str
    value: str | int

    def __post_init__(self) -> None:
        if not isinstance(self.field, str):
            raise OpFormatError("", "a selector's field must be a string")
        if not _is_key_value(self.value):
            raise OpFormatError("", "a selector's value must be a string or an integer")

    def matches(self, item: object) -> bool:
        if not isinstance(item, dict) or self.field not in item:
            return False
        found = item[self.field]
        return type(found) is type(self.value) and found == self.value

    def to_wire(self) -> dict[str, str | int]:
        return {self.field: self.value}


PathSegment: TypeAlias = str | Selector
Path: TypeAlias = tuple[PathSegment, ...]


def _path(segments: Iterable[PathSegment]) -> Path:
    path = tuple(segments)
    for i, segment in enumerate(path):
        if not isinstance(segment, str | Selector):
            raise OpFormatError(str(i), "a path segment is a map key (string) or a selector")
    return path


def _path_wire(path: Path) -> list[str | dict[str, str | int]]:
    return [segment if isinstance(segment, str) else segment.to_wire() for segment in path]


def _show(path: Path) -> str:
    return "/" + "/".join(s if isinstance(s, str) else f"{{{s.field}={s.value!r}}}" for s in path)


@dataclass(frozen=True, slots=True)
class SetOp:
    """``path := value``. The parent must exist. On a selector, an existing row is replaced, a missing
    one appended; the row must carry the selector's key. ``[]`` replaces the whole document."""

    name: ClassVar[str] = "set"
    path: Path
    value: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", _path(self.path))
        if not self.path and not isinstance(self.value, dict):
            raise OpFormatError("2", "set: the document (path []) must be a map")

    def to_wire(self) -> list[Any]:
        return ["set", _path_wire(self.path), self.value]


@dataclass(frozen=True, slots=True)
class MergeOp:
    """Shallow merge: each entry of ``values`` is set in the map at ``path``. A missing map is created
    (its parent must exist); a missing row is appended with its selector key."""

    name: ClassVar[str] = "merge"
    path: Path
    values: Mapping[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", _path(self.path))
        if not isinstance(self.values, Mapping):
            raise OpFormatError("2", "merge: the values must be a map")

    def to_wire(self) -> list[Any]:
        return ["merge", _path_wire(self.path), self.values]


@dataclass(frozen=True, slots=True)
class RemoveOp:
    """Delete the map key or row at ``path``; nothing happens if it (or a parent) is already gone."""

    name: ClassVar[str] = "remove"
    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", _path(self.path))
        if not self.path:
            raise OpFormatError("1", "remove: the path must not be empty")

    def to_wire(self) -> list[Any]:
        return ["remove", _path_wire(self.path)]


@dataclass(frozen=True, slots=True)
class MoveOp:
    """Move the row ``row`` of the list at ``path`` to ``index`` (0 is the head; the other rows keep
    their order). The list and the row must exist, the index be within the list, and the row must still
    be at that index once the whole delta is applied."""

    name: ClassVar[str] = "move"
    path: Path
    row: Selector
    index: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", _path(self.path))
        if not self.path:
            raise OpFormatError("1", "move: the path must not be empty (the document is a map)")
        if not isinstance(self.row, Selector):
            raise OpFormatError("2", "move: the row is a selector")
        if type(self.index) is not int or not 0 <= self.index <= MAX_SAFE_INTEGER:
            raise OpFormatError("3", "move: the index must be a non-negative integer")

    def to_wire(self) -> list[Any]:
        return ["move", _path_wire(self.path), self.row.to_wire(), self.index]


Op: TypeAlias = SetOp | MergeOp | RemoveOp | MoveOp
OP_NAMES = ("set", "merge", "remove", "move")
_ARITY = {"set": 3, "merge": 3, "remove": 2, "move": 4}


# ---------------------------------------------------------------------------------------- wire form


def _parse_selector(raw: object, field: str) -> Selector:
    if not isinstance(raw, dict):
        raise OpFormatError(
            field, "a path segment is a map key (string) or a selector (map); lists are not indexed"
        )
    if len(raw) != 1:
        raise OpFormatError(field, "a selector is a map with exactly one entry")
    ((key, value),) = raw.items()
    if not _is_key_value(value):
        raise OpFormatError(f"{field}.{key}", "a selector's value must be a string or an integer")
    return Selector(key, value)


def _parse_path(raw: object) -> Path:
    if not isinstance(raw, list):
        raise OpFormatError("1", "the path must be an array")
    return tuple(
        segment if isinstance(segment, str) else _parse_selector(segment, f"1.{i}")
        for i, segment in enumerate(raw)
    )


def parse_op(raw: object) -> Op:
    """An op from its wire form (``["set", ["xp"], 120]``); OpFormatError if it is not well formed."""
    if not isinstance(raw, list) or not raw:
        raise OpFormatError("", "an op is a non-empty array")
    name = raw[0]
    if not isinstance(name, str) or name not in _ARITY:
        raise OpFormatError("0", f"unknown op (expected one of {', '.join(OP_NAMES)})")
    if len(raw) != _ARITY[name]:
        raise OpFormatError("", f"{name} takes {_ARITY[name] - 1} arguments")
    path = _parse_path(raw[1])
    if name == "set":
        return SetOp(path, raw[2])
    if name == "merge":
        if not isinstance(raw[2], dict):
            raise OpFormatError("2", "merge: the values must be a map")
        return MergeOp(path, raw[2])
    if name == "remove":
        return RemoveOp(path)
    return MoveOp(path, _parse_selector(raw[2], "2"), raw[3])


# ---------------------------------------------------------------------------------------- discipline


def _prefixes(path: Path) -> Iterable[Path]:
    return (path[:i] for i in range(len(path) + 1))


def _writes(op: Op) -> tuple[Path, ...]:
    """The locations an op assigns: a merge its map (which it may create) and the map's keys; a move
    none (it reorders)."""
    if isinstance(op, SetOp | RemoveOp):
        return (op.path,)
    if isinstance(op, MergeOp):
        return (op.path, *((*op.path, key) for key in op.values))
    return ()


def check_ops(ops: Sequence[Op]) -> None:
    """The two rules that make any delta idempotent, checked without the document (OpFormatError, with
    the op's index as ``field``):

    1. outside-in: no op assigns a location that an earlier op of the delta touched: its path, an
       ancestor of its path, or a location it assigned (``set`` a map, then its keys: fine; ``set`` a
       key, then its map: refused, as is assigning the same location twice, or removing a row and
       creating it again). A ``merge`` assigns its map as well as the keys it merges, a ``move``
       assigns nothing but touches its list and row: so merges and sets of rows come before moves;
    2. one key per list: within a delta, every selector into the same list uses the same field (so two
       selectors name the same row only if they are equal).
    """
    touched: set[Path] = set()
    fields: dict[Path, str] = {}
    for index, op in enumerate(ops):
        if not isinstance(op, SetOp | MergeOp | RemoveOp | MoveOp):
            raise OpFormatError(str(index), f"not an op: {op!r}")
        path = (*op.path, op.row) if isinstance(op, MoveOp) else op.path
        for depth, segment in enumerate(path):
            if isinstance(segment, Selector):
                field = fields.setdefault(path[:depth], segment.field)
                if field != segment.field:
                    raise OpFormatError(
                        str(index),
                        f"rows of {_show(path[:depth])} are selected by {field!r} earlier in the delta, "
                        f"not {segment.field!r}",
                    )
        writes = _writes(op)
        for write in writes:
            if write in touched:
                raise OpFormatError(
                    str(index),
                    f"{_show(write)} was touched by an earlier op of the delta: write outside-in, "
                    "each location once",
                )
        touched.update(_prefixes(path))
        for write in writes:
            touched.add(write)


# ---------------------------------------------------------------------------------------- applying


def _locate(node: object, segment: PathSegment, path: Path) -> str | int | None:
    """Where ``segment`` is in ``node`` (a key or an index), or None if it is missing."""
    if isinstance(segment, str):
        if not isinstance(node, dict):
            raise OpError(f"{_show(path)}: a map key on a {_kind(node)}")
        return segment if segment in node else None
    if not isinstance(node, list):
        raise OpError(f"{_show(path)}: a selector on a {_kind(node)}")
    found = [i for i, item in enumerate(node) if segment.matches(item)]
    if len(found) > 1:
        raise OpError(f"{_show(path)}: the selector matches {len(found)} rows")
    return found[0] if found else None


def _kind(node: object) -> str:
    if isinstance(node, dict):
        return "map"
    if isinstance(node, list):
        return "list"
    return "scalar"


class _Writer:
    """Copy-on-write over the input: a map or list is copied the first time it is written, then owned."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._owned: dict[int, object] = {}  # id → the object (kept alive so that ids stay unique)
        self.root: Any = document

    def _own(self, node: Any) -> Any:
        if id(node) in self._owned:
            return node
        copy = dict(node) if isinstance(node, dict) else list(node)
        self._owned[id(copy)] = copy
        return copy

    def container(self, path: Path) -> Any:
        """The (owned) container at ``path``, or None if a step is missing."""
        self.root = node = self._own(self.root)
        for depth, segment in enumerate(path):
            where = _locate(node, segment, path[: depth + 1])
            if where is None:
                return None
            child = node[where]
            if not isinstance(child, dict | list):
                raise OpError(f"{_show(path[: depth + 1])}: a scalar where a map or list is needed")
            owned = self._own(child)
            if owned is not child:
                node[where] = owned
            node = owned
        return node

    def set(self, op: SetOp) -> None:
        if not op.path:
            self.root = op.value
            return
        parent = self._parent(op.path)
        last = op.path[-1]
        where = _locate(parent, last, op.path)
        if isinstance(last, Selector):
            if not last.matches(op.value):
                raise OpError(f"{_show(op.path)}: the row must carry {last.field}={last.value!r}")
            if where is None:
                parent.append(op.value)
                return
        parent[last if where is None else where] = op.value

    def merge(self, op: MergeOp) -> None:
        if not op.path:
            self.root = self._own(self.root)
            self.root.update(op.values)
            return
        parent = self._parent(op.path)
        last = op.path[-1]
        where = _locate(parent, last, op.path)
        if isinstance(last, Selector) and last.field in op.values and not last.matches(op.values):
            raise OpError(f"{_show(op.path)}: merge would change the row's {last.field}")
        if where is None:
            if isinstance(last, Selector):
                parent.append({last.field: last.value, **op.values})
            else:
                parent[last] = dict(op.values)
            return
        target = parent[where]
        if not isinstance(target, dict):
            raise OpError(f"{_show(op.path)}: merge into a {_kind(target)}")
        target = self._own(target)
        parent[where] = target
        target.update(op.values)

    def remove(self, op: RemoveOp) -> None:
        parent = self.container(op.path[:-1])
        if parent is None:
            return
        where = _locate(parent, op.path[-1], op.path)
        if where is not None:
            del parent[where]

    def move(self, op: MoveOp) -> None:
        rows = self.container(op.path)
        if rows is None:
            raise OpError(f"{_show(op.path)}: no such list")
        if not isinstance(rows, list):
            raise OpError(f"{_show(op.path)}: move in a {_kind(rows)}")
        where = _locate(rows, op.row, (*op.path, op.row))
        if where is None:
            raise OpError(f"{_show((*op.path, op.row))}: no such row")
        if op.index >= len(rows):
            raise OpError(f"{_show(op.path)}: index {op.index} is past the end of {len(rows)} rows")
        assert isinstance(where, int)
        rows.insert(op.index, rows.pop(where))

    def _parent(self, path: Path) -> Any:
        parent = self.container(path[:-1])
        if parent is None:
            raise OpError(f"{_show(path[:-1])}: no such map or list")
        return parent


def _read(document: Any, path: Path) -> Any:
    """What is at ``path``, or None. (After a well-formed delta a moved row's list is still there: the
    outside-in rule forbids replacing it or anything above it; these checks are a safety net.)"""
    node: Any = document
    for depth, segment in enumerate(path):
        if not isinstance(node, dict | list):  # pragma: no cover - see above
            return None
        where: Any = _locate(node, segment, path[: depth + 1])
        if where is None:  # pragma: no cover - see above
            return None
        node = node[where]
    return node


def apply_ops(document: Mapping[str, Any], ops: Sequence[Op]) -> Document:
    """The document after ``ops`` (one delta's), as a new document; OpError if they do not apply, in
    which case nothing changed. Deterministic, and idempotent: ``apply_ops(apply_ops(d, ops), ops)``
    equals ``apply_ops(d, ops)``."""
    if not isinstance(document, dict):
        raise OpError("the document must be a map")
    try:
        check_ops(ops)
    except OpFormatError as exc:
        raise OpError(exc.message, int(exc.field)) from None
    writer = _Writer(document)
    for index, op in enumerate(ops):
        try:
            if isinstance(op, SetOp):
                writer.set(op)
            elif isinstance(op, MergeOp):
                writer.merge(op)
            elif isinstance(op, RemoveOp):
                writer.remove(op)
            else:
                writer.move(op)
        except OpError as exc:
            raise OpError(str(exc), index) from None
    root = writer.root
    if not isinstance(root, dict):  # pragma: no cover - SetOp refuses a non-map document
        raise OpError("the document must be a map")
    for index, op in enumerate(ops):
        if isinstance(op, MoveOp):
            try:
                rows = _read(root, op.path)
            except OpError:  # pragma: no cover - see _read
                rows = None
            if not (isinstance(rows, list) and op.index < len(rows) and op.row.matches(rows[op.index])):
                raise OpError(
                    f"{_show((*op.path, op.row))} is no longer at index {op.index} after the delta "
                    "(order the moves by ascending index, after the removals and insertions)",
                    index,
                )
    return root


# ---------------------------------------------------------------------------------------- producing


def row_ops(
    path: Path, field: str, before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> list[Op]:
    """The ops that turn the keyed rows ``before`` (the list at ``path``, each row identified by its
    ``field``) into ``after``, in the order that keeps a delta idempotent: removals, then new rows
    (``set``, appended) and changed ones (``merge`` of the changed entries, or ``set`` if one was
    dropped), then the moves, by ascending index."""
    old = {row[field]: row for row in before}
    new_keys = [row[field] for row in after]
    if len(set(new_keys)) != len(new_keys) or len(old) != len(before):
        raise ValueError(f"rows must have distinct {field} values")
    kept = set(new_keys)
    ops: list[Op] = [RemoveOp((*path, Selector(field, key))) for key in old if key not in kept]
    for row in after:
        key = row[field]
        previous = old.get(key)
        target = (*path, Selector(field, key))
        if previous is None or not set(previous) <= set(row):
            ops.append(SetOp(target, dict(row)))
        elif previous != row:
            ops.append(
                MergeOp(target, {k: v for k, v in row.items() if k not in previous or previous[k] != v})
            )
    order = [key for key in old if key in kept] + [key for key in new_keys if key not in old]
    for index, key in enumerate(new_keys):
        if order[index] != key:
            order.remove(key)
            order.insert(index, key)
            ops.append(MoveOp(path, Selector(field, key), index))
    return ops


def _same(a: object, b: object) -> bool:
    """Equal as wire values: ``1``, ``1.0`` and ``True`` differ on the wire though Python finds them equal."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _plain(value: Any) -> Any:
    """A deep copy in wire form (maps as dicts, sequences as lists), so that ops never share the
    caller's containers."""
    if isinstance(value, Mapping):
        return {_key(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"document keys are strings, not {key!r}")
    return key


def _diff_map(
    path: list[str], before: Mapping[str, Any], after: Mapping[str, Any], ops: list[list[Any]]
) -> None:
    """Append the ops that turn the map ``before`` (at ``path``) into ``after``, outside-in: a nested
    map's merge (which assigns the map itself) comes before every op inside it."""
    merged: dict[str, Any] = {}
    later: list[list[Any]] = []
    nested: list[tuple[str, Mapping[str, Any], Mapping[str, Any]]] = []
    for key in before:
        if _key(key) not in after:
            later.append(["remove", [*path, key]])
    for key, new in after.items():
        _key(key)
        if key not in before:
            later.append(["set", [*path, key], _plain(new)])
            continue
        old = before[key]
        if _same(old, new):
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            nested.append((key, old, new))
        elif path and not isinstance(old, Mapping) and not isinstance(new, list | tuple | Mapping):
            merged[key] = new  # a changed scalar of a nested map: one merge for all of them
        else:
            later.append(["set", [*path, key], _plain(new)])
    if merged:
        ops.append(["merge", list(path), merged])
    ops.extend(later)
    for key, old, new in nested:
        _diff_map([*path, key], old, new, ops)


def diff_ops(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[list[Any]]:
    """The delta (wire-form ops) that turns the document ``before`` into ``after``: ``apply_ops(before,
    [parse_op(op) for op in diff_ops(before, after)]) == after``, and the ops pass `check_ops`.

    Maps are diffed key by key, recursively: a key that is gone is removed, a new key is set, a changed
    scalar of a nested map joins that map's one ``merge`` (at the root: a ``set`` per key, as in
    PROTOCOL.md §11.7), and any other changed value is set whole. Lists are set whole when they differ
    (for keyed rows, diff them with `row_ops` instead). Equal documents give ``[]``."""
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        raise TypeError("documents are maps")
    ops: list[list[Any]] = []
    _diff_map([], before, after, ops)
    return ops
