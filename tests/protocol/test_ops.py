"""Delta ops: the semantics of each op, and that deltas are deterministic and idempotent."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    MergeOp,
    MoveOp,
    Op,
    OpError,
    OpFormatError,
    RemoveOp,
    Selector,
    SetOp,
    apply_ops,
    check_ops,
    parse_op,
    row_ops,
)
from tests.protocol.strategies import MEMBERS, board_ops, boards, sel


def rows(*members: str) -> list[dict[str, Any]]:
    return [{"member": m, "score": 10 * (len(members) - i)} for i, m in enumerate(members)]


BOARD: dict[str, Any] = {"rows": rows("a", "b", "c"), "meta": {"x": 1, "nested": {"y": 2}}, "n": 3}


# --------------------------------------------------------------------------------------- semantics


def test_set() -> None:
    out = apply_ops(BOARD, [SetOp(("n",), 4), SetOp(("meta", "nested", "y"), [1]), SetOp(("new",), None)])
    assert (out["n"], out["meta"]["nested"], out["new"]) == (4, {"y": [1]}, None)
    assert apply_ops(BOARD, [SetOp((), {"fresh": True})]) == {"fresh": True}


def test_set_a_row_replaces_or_appends() -> None:
    out = apply_ops(BOARD, [SetOp(("rows", sel("b")), {"member": "b", "score": 99})])
    assert out["rows"][1] == {"member": "b", "score": 99}
    out = apply_ops(BOARD, [SetOp(("rows", sel("z")), {"member": "z", "score": 0})])
    assert [r["member"] for r in out["rows"]] == ["a", "b", "c", "z"]


def test_merge() -> None:
    out = apply_ops(BOARD, [MergeOp(("meta",), {"x": 2, "z": 3}), MergeOp(("rows", sel("c")), {"rank": 3})])
    assert out["meta"] == {"x": 2, "nested": {"y": 2}, "z": 3}
    assert out["rows"][2] == {"member": "c", "score": 10, "rank": 3}
    # a missing map (or row) is created; the root can be merged into
    out = apply_ops(
        BOARD,
        [MergeOp((), {"n": 0}), MergeOp(("totals",), {"xp": 1}), MergeOp(("rows", sel("d")), {"score": 1})],
    )
    assert out["totals"] == {"xp": 1}
    assert out["rows"][3] == {"member": "d", "score": 1}
    assert out["n"] == 0


def test_remove_is_a_no_op_when_already_gone() -> None:
    out = apply_ops(
        BOARD, [RemoveOp(("meta", "x")), RemoveOp(("rows", sel("a"))), RemoveOp(("nope", "deeper"))]
    )
    assert out["meta"] == {"nested": {"y": 2}}
    assert [r["member"] for r in out["rows"]] == ["b", "c"]
    assert apply_ops(out, [RemoveOp(("meta", "x")), RemoveOp(("rows", sel("a")))]) == out


def test_move() -> None:
    out = apply_ops(BOARD, [MoveOp(("rows",), sel("c"), 0)])
    assert [r["member"] for r in out["rows"]] == ["c", "a", "b"]
    out = apply_ops(BOARD, [MoveOp(("rows",), sel("a"), 2)])
    assert [r["member"] for r in out["rows"]] == ["b", "c", "a"]


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([SetOp(("missing", "x"), 1)], "no such map or list"),
        ([MergeOp(("missing", "x"), {})], "no such map or list"),
        ([SetOp(("n", "x"), 1)], "a scalar where a map or list is needed"),
        ([SetOp(("rows", "x"), 1)], "a map key on a list"),
        ([SetOp(("meta", sel("a")), {"member": "a"})], "a selector on a map"),
        ([SetOp(("rows", sel("a")), {"member": "b"})], "must carry member='a'"),
        ([MergeOp(("rows", sel("a")), {"member": "b"})], "would change the row's member"),
        ([MergeOp(("n",), {"a": 1})], "merge into a scalar"),
        ([MoveOp(("rows",), sel("z"), 0)], "no such row"),
        ([MoveOp(("meta",), sel("a"), 0)], "move in a map"),
        ([MoveOp(("nope",), sel("a"), 0)], "no such list"),
        ([MoveOp(("rows",), sel("a"), 3)], "past the end"),
        ([MoveOp(("rows",), sel("c"), 0), MoveOp(("rows",), sel("b"), 0)], "no longer at index 0"),
        ([MoveOp(("rows",), sel("c"), 1), RemoveOp(("rows", sel("a")))], "no longer at index 1"),
        ([MoveOp(("rows",), sel("c"), 0), SetOp(("rows",), {})], "touched by an earlier op"),
        ([RemoveOp(("n", "x"))], "a scalar where a map or list is needed"),
    ],
)
def test_ops_that_do_not_apply(ops: list[Op], message: str) -> None:
    before = copy.deepcopy(BOARD)
    with pytest.raises(OpError, match=message):
        apply_ops(BOARD, ops)
    assert before == BOARD


@pytest.mark.parametrize(
    ("ops", "index"),
    [
        ([SetOp(("meta", "x"), 1), SetOp(("meta",), {})], 1),  # inside-out
        ([SetOp(("n",), 1), SetOp(("n",), 2)], 1),  # the same location twice
        ([MergeOp(("meta",), {}), SetOp(("meta",), 0)], 1),  # the merge needed a map there
        ([SetOp(("meta", "x"), 1), MergeOp(("meta",), {"y": 1})], 1),
        ([MergeOp(("meta",), {"x": 1}), MergeOp(("meta",), {"y": 1})], 1),  # merge once per map
        ([RemoveOp(("rows", sel("a"))), MergeOp(("rows", sel("a")), {"score": 1})], 1),  # gone, then back
        ([MoveOp(("rows",), sel("a"), 0), SetOp(("rows", sel("a")), {"member": "a"})], 1),  # move last
        ([SetOp(("n",), 1), SetOp((), {})], 1),  # the document after anything else
        ([MergeOp(("rows", sel("a")), {}), RemoveOp(("rows", Selector("id", 1)))], 1),  # one key per list
    ],
)
def test_deltas_are_written_outside_in(ops: list[Op], index: int) -> None:
    with pytest.raises(OpFormatError) as caught:
        check_ops(ops)
    assert caught.value.field == str(index)
    with pytest.raises(OpError) as raised:
        apply_ops(BOARD, ops)
    assert raised.value.index == index


def test_outside_in_allows_the_usual_deltas() -> None:
    check_ops(
        [
            SetOp((), {"rows": [], "meta": {}}),
            SetOp(("meta", "x"), 1),
            MergeOp(("totals",), {"xp": 1, "members": 2}),
            SetOp(("meta", "y"), 2),
            RemoveOp(("rows", sel("b"))),
            SetOp(("rows", sel("z")), {"member": "z"}),
            MergeOp(("rows", sel("a")), {"rank": 2}),
            SetOp(("rows", sel("c"), "rank"), 3),
            MoveOp(("rows",), sel("z"), 0),
            MoveOp(("rows",), sel("a"), 1),
        ]
    )


def test_an_ambiguous_selector_is_an_error() -> None:
    doc = {"rows": [{"member": "a"}, {"member": "a"}]}
    with pytest.raises(OpError, match="matches 2 rows"):
        apply_ops(doc, [MergeOp(("rows", sel("a")), {"x": 1})])


def test_selectors_compare_types_strictly() -> None:
    doc = {"rows": [{"id": 1}, {"id": "1"}, {"id": True}, 1, {"other": 1}]}
    out = apply_ops(doc, [MergeOp(("rows", Selector("id", 1)), {"hit": 1})])
    assert out["rows"] == [{"id": 1, "hit": 1}, {"id": "1"}, {"id": True}, 1, {"other": 1}]


def test_the_document_must_be_a_map() -> None:
    with pytest.raises(OpError):
        apply_ops([], [])  # type: ignore[arg-type]
    with pytest.raises(OpFormatError):
        SetOp((), [1])
    with pytest.raises(OpError, match="not an op"):
        apply_ops({}, ["set"])  # type: ignore[list-item]


def test_apply_never_modifies_its_input() -> None:
    doc = copy.deepcopy(BOARD)
    value = {"member": "z", "score": 1}
    ops: list[Op] = [
        SetOp(("rows", sel("z")), value),
        SetOp(("rows", sel("z"), "score"), 2),
        MergeOp(("meta", "nested"), {"y": 3}),
        MoveOp(("rows",), sel("z"), 0),
        RemoveOp(("meta", "x")),
    ]
    out = apply_ops(doc, ops)
    assert doc == BOARD
    assert value == {"member": "z", "score": 1}
    assert out["rows"][0] == {"member": "z", "score": 2}
    assert out["meta"] == {"nested": {"y": 3}}
    assert out["rows"][1] is doc["rows"][0]  # untouched parts are shared


def test_wire_form() -> None:
    ops: list[Op] = [
        SetOp(("a", sel("m")), {"member": "m"}),
        MergeOp((), {"k": 1}),
        RemoveOp(("a",)),
        MoveOp(("rows",), Selector("id", 7), 2),
    ]
    wire = [op.to_wire() for op in ops]
    assert wire == [
        ["set", ["a", {"member": "m"}], {"member": "m"}],
        ["merge", [], {"k": 1}],
        ["remove", ["a"]],
        ["move", ["rows"], {"id": 7}, 2],
    ]
    assert [parse_op(w) for w in wire] == ops


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("set", ""),
        ([], ""),
        (["add", ["x"], 1], "0"),
        ([1, ["x"], 1], "0"),
        (["remove", ["x"], 1], ""),
        (["set", {"x": 1}, 1], "1"),
        (["set", ["x", 0], 1], "1.1"),
        (["set", ["x", {}], 1], "1.1"),
        (["set", ["x", {"a": 1.5}], 1], "1.1.a"),
        (["set", ["x", {"a": None}], 1], "1.1.a"),
        (["merge", ["x"], [1]], "2"),
        (["remove", []], "1"),
        (["move", [], {"a": 1}, 0], "1"),
        (["move", ["x"], "a", 0], "2"),
        (["move", ["x"], {"a": 1}, -1], "3"),
        (["move", ["x"], {"a": 1}, 1.0], "3"),
        (["move", ["x"], {"a": 1}, True], "3"),
    ],
)
def test_malformed_ops(raw: Any, field: str) -> None:
    with pytest.raises(OpFormatError) as caught:
        parse_op(raw)
    assert caught.value.field == field


def test_ops_check_their_arguments() -> None:
    with pytest.raises(OpFormatError):
        Selector("a", True)
    with pytest.raises(OpFormatError):
        Selector(1, "a")  # type: ignore[arg-type]
    with pytest.raises(OpFormatError):
        SetOp((1,), 1)  # type: ignore[arg-type]
    with pytest.raises(OpFormatError):
        MergeOp(("a",), [1])  # type: ignore[arg-type]
    with pytest.raises(OpFormatError):
        MoveOp(("a",), "b", 0)  # type: ignore[arg-type]
    assert SetOp(["a", "b"], 1).path == ("a", "b")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- idempotency, randomly


@settings(max_examples=500, deadline=None)
@given(boards(), board_ops())
def test_every_op_is_idempotent(doc: dict[str, Any], op: Op) -> None:
    try:
        once = apply_ops(doc, [op])
    except OpError:
        return
    assert apply_ops(once, [op]) == once


@settings(max_examples=1000, deadline=None)
@given(boards(), st.lists(board_ops(), min_size=1, max_size=8))
def test_every_delta_is_deterministic_and_idempotent(doc: dict[str, Any], ops: list[Op]) -> None:
    before = copy.deepcopy(doc)
    try:
        once = apply_ops(doc, ops)
    except OpError:
        assert doc == before  # a failed delta changes nothing
        return
    assert doc == before
    assert apply_ops(before, ops) == once  # deterministic
    assert apply_ops(once, ops) == once  # idempotent


@st.composite
def reorderings(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    before = draw(st.lists(MEMBERS, unique=True, max_size=5))
    after = draw(st.lists(MEMBERS, unique=True, max_size=5))
    row = st.fixed_dictionaries({"score": st.integers(0, 2)}, optional={"rank": st.integers(1, 3)})
    return (
        [{"member": m, **draw(row)} for m in before],
        [{"member": m, **draw(row)} for m in after],
    )


@settings(max_examples=500, deadline=None)
@given(reorderings())
def test_row_ops_turn_any_rows_into_any_rows_idempotently(
    pair: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    before, after = pair
    ops = row_ops(("rows",), "member", before, after)
    doc = {"rows": before}
    out = apply_ops(doc, ops)
    assert out == {"rows": after}
    assert apply_ops(out, ops) == out
    assert not row_ops(("rows",), "member", after, after)


def test_row_ops_are_small_for_a_small_change() -> None:
    before = [{"member": m, "score": s, "rank": r} for m, s, r in [("a", 30, 1), ("b", 20, 2), ("c", 10, 3)]]
    after = [{"member": m, "score": s, "rank": r} for m, s, r in [("c", 40, 1), ("a", 30, 2), ("b", 20, 3)]]
    assert row_ops(("rows",), "member", before, after) == [
        MergeOp(("rows", sel("c")), {"score": 40, "rank": 1}),
        MergeOp(("rows", sel("a")), {"rank": 2}),
        MergeOp(("rows", sel("b")), {"rank": 3}),
        MoveOp(("rows",), sel("c"), 0),
    ]
    with pytest.raises(ValueError, match="distinct"):
        row_ops(("rows",), "member", before, before + before)
