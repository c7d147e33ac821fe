"""diff_ops: the delta between two documents applies, is well formed, idempotent, and minimal enough."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import MAX_SAFE_INTEGER, Encoding, apply_ops, check_ops, diff_ops, encode_value, parse_op

# A few keys, so that random documents share keys (changed entries, not only added and removed ones).
keys = st.sampled_from(["a", "b", "c", "xp", "rows", "é"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
    st.floats(-3, 3, allow_nan=False).map(lambda f: round(f, 1)),
    st.sampled_from(["", "x", "y"]),
)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=4),
    max_leaves=16,
)
documents = st.dictionaries(keys, values, max_size=5)


@st.composite
def document_pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two unrelated documents, or a document and a random edit of it (the usual case: small changes)."""
    before = draw(documents)
    if draw(st.booleans()):
        return before, draw(documents)
    return before, draw(_edit(before))


def _edit(document: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def edited(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in document.items():
            action = draw(st.sampled_from(["keep", "keep", "drop", "replace", "recurse"]))
            if action == "keep":
                out[key] = value
            elif action == "replace":
                out[key] = draw(values)
            elif action == "recurse" and isinstance(value, dict):
                out[key] = draw(_edit(value))
            elif action == "recurse":
                out[key] = value
        out.update(draw(st.dictionaries(keys, values, max_size=2)))
        return out

    return edited()


def typed(value: Any) -> Any:
    """``value`` with every scalar tagged by its type: ``1``, ``1.0`` and ``True`` differ on the wire."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def apply_wire(document: dict[str, Any], ops: list[list[Any]]) -> dict[str, Any]:
    return apply_ops(document, [parse_op(op) for op in ops])


@given(document_pairs())
def test_the_diff_turns_before_into_after(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    before, after = pair
    kept_before, kept_after = copy.deepcopy(before), copy.deepcopy(after)
    ops = diff_ops(before, after)
    check_ops([parse_op(op) for op in ops])  # outside-in, one key per list
    once = apply_wire(before, ops)
    assert typed(once) == typed(after)
    assert typed(apply_wire(once, ops)) == typed(once)  # idempotent
    assert (before, after) == (kept_before, kept_after)  # neither input is modified
    encode_value({"ops": ops}, Encoding.MSGPACK)  # wire values only


@given(documents)
def test_equal_documents_have_an_empty_diff(document: dict[str, Any]) -> None:
    assert diff_ops(document, copy.deepcopy(document)) == []


@given(document_pairs())
def test_the_ops_share_no_container_with_the_inputs(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    before, after = pair
    ops = diff_ops(before, after)
    snapshot = copy.deepcopy(ops)
    for node in (before, after):  # mutate every container of the inputs
        _scramble(node)
    assert ops == snapshot


def _scramble(node: Any) -> None:
    if isinstance(node, dict):
        for value in node.values():
            _scramble(value)
        node["__scrambled__"] = True
    elif isinstance(node, list):
        for value in node:
            _scramble(value)
        node.append("__scrambled__")


def test_the_shapes_of_the_ops() -> None:
    before = {
        "xp": 3092,
        "level": 10,
        "missions": {"daily@1": {"progress": 2, "completed": False, "goal": 3}},
        "badges": {"old": {"name": "Old"}},
        "streaks": {"reviewing": {"current": 4, "best": 7}},
        "rows": [1, 2],
        "flag": 1,
    }
    after = {
        "xp": 3122,
        "level": 10,
        "missions": {"daily@1": {"progress": 3, "completed": True, "goal": 3}},
        "badges": {"new": {"name": "New"}},
        "streaks": {"reviewing": {"current": 5, "best": 7}},
        "rows": [1, 2, 3],
        "flag": True,
    }
    assert diff_ops(before, after) == [
        ["set", ["xp"], 3122],
        ["set", ["rows"], [1, 2, 3]],
        ["set", ["flag"], True],  # 1 and True are different values on the wire
        ["merge", ["missions", "daily@1"], {"progress": 3, "completed": True}],
        ["remove", ["badges", "old"]],
        ["set", ["badges", "new"], {"name": "New"}],
        ["merge", ["streaks", "reviewing"], {"current": 5}],
    ]


def test_a_merge_comes_before_the_ops_inside_its_map() -> None:
    before = {"m": {"n": 1, "gone": 0, "sub": {"x": 1}, "list": [1]}}
    after = {"m": {"n": 2, "new": {"y": 1}, "sub": {"x": 2}, "list": [2]}}
    ops = diff_ops(before, after)
    assert ops == [
        ["merge", ["m"], {"n": 2}],
        ["remove", ["m", "gone"]],
        ["set", ["m", "new"], {"y": 1}],
        ["set", ["m", "list"], [2]],
        ["merge", ["m", "sub"], {"x": 2}],
    ]
    assert apply_wire(before, ops) == after


def test_documents_are_maps_with_string_keys() -> None:
    with pytest.raises(TypeError):
        diff_ops({"a": 1}, [])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        diff_ops({}, {"a": {1: 2}})
