"""The client-side mirror: a delta applies only in sequence; duplicates are ignored, gaps reported."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    Batch,
    Delta,
    MergeOp,
    Op,
    OpError,
    Outcome,
    SetOp,
    Since,
    Subscribed,
    TopicMirror,
    apply_ops,
)
from tests.protocol.strategies import board_ops, boards

TOPIC = "leaderboard:xp:weekly"


def delta(offset: int, *ops: Op, epoch: str = "e1", topic: str = TOPIC) -> Delta:
    return Delta(topic=topic, epoch=epoch, offset=offset, ops=ops, at_ms=offset)


def synced(offset: int = 5, document: dict[str, Any] | None = None) -> TopicMirror:
    mirror = TopicMirror(TOPIC)
    mirror.apply_snapshot("e1", offset, {"n": offset} if document is None else document)
    return mirror


def test_the_rules() -> None:
    mirror = synced(5)
    assert mirror.since() == Since(epoch="e1", offset=5)
    assert mirror.apply_delta(delta(6, SetOp(("n",), 6))) is Outcome.APPLIED
    assert (mirror.offset, mirror.document) == (6, {"n": 6})
    assert mirror.apply_delta(delta(6, SetOp(("n",), 6))) is Outcome.DUPLICATE
    assert mirror.apply_delta(delta(3, SetOp(("n",), 3))) is Outcome.DUPLICATE
    assert mirror.apply_delta(delta(8, SetOp(("n",), 8))) is Outcome.GAP
    assert mirror.apply_delta(delta(7, SetOp(("n",), 7), epoch="e2")) is Outcome.GAP  # another epoch
    assert (mirror.offset, mirror.document) == (6, {"n": 6})
    assert mirror.since() == Since(epoch="e1", offset=6)


def test_nothing_applies_before_the_first_snapshot() -> None:
    mirror = TopicMirror(TOPIC)
    assert not mirror.synced
    assert mirror.since() is None
    assert mirror.apply_delta(delta(1, SetOp(("n",), 1))) is Outcome.GAP
    recovered = Subscribed(topic=TOPIC, epoch="e1", offset=0, recovered=True, deltas=())
    assert mirror.apply_subscribed(recovered) is Outcome.GAP


def test_a_delta_that_does_not_apply_means_a_fresh_snapshot() -> None:
    mirror = synced(5)
    assert mirror.apply_delta(delta(6, SetOp(("missing", "x"), 1))) is Outcome.DIVERGED
    assert (mirror.offset, mirror.document) == (5, {"n": 5})  # unchanged
    assert mirror.diverged
    assert mirror.since() is None  # resubscribe without since
    mirror.apply_subscribed(Subscribed(topic=TOPIC, epoch="e1", offset=9, recovered=False, snapshot={"n": 9}))
    assert not mirror.diverged
    assert mirror.since() == Since(epoch="e1", offset=9)


def test_subscribed_snapshot_and_recovery() -> None:
    mirror = TopicMirror(TOPIC)
    snapshot = Subscribed(topic=TOPIC, epoch="e1", offset=2, recovered=False, snapshot={"n": 2})
    assert mirror.apply_subscribed(snapshot) is Outcome.APPLIED
    # a live delta arrived before the recovery reply: the reply's copy of it is a duplicate
    assert mirror.apply_delta(delta(3, SetOp(("n",), 3))) is Outcome.APPLIED
    recovered = Subscribed(
        topic=TOPIC,
        epoch="e1",
        offset=5,
        recovered=True,
        deltas=(delta(3, SetOp(("n",), 3)), delta(4, SetOp(("n",), 4)), delta(5, SetOp(("n",), 5))),
    )
    assert mirror.apply_subscribed(recovered) is Outcome.APPLIED
    assert (mirror.offset, mirror.document) == (5, {"n": 5})
    # a recovery that starts after where the mirror stands
    behind = synced(1)
    assert behind.apply_subscribed(recovered) is Outcome.GAP
    assert behind.offset == 1
    # a recovery of another epoch
    other = Subscribed(topic=TOPIC, epoch="e9", offset=5, recovered=True, deltas=())
    assert synced(5).apply_subscribed(other) is Outcome.GAP
    # a recovered delta that does not apply
    broken = Subscribed(
        topic=TOPIC, epoch="e1", offset=6, recovered=True, deltas=(delta(6, SetOp(("x", "y"), 1)),)
    )
    assert synced(5).apply_subscribed(broken) is Outcome.DIVERGED


def test_an_unsolicited_subscribed_resets_the_stream() -> None:
    mirror = synced(40)
    reset = Subscribed(topic=TOPIC, epoch="e2", offset=0, recovered=False, snapshot={"rows": []})
    assert mirror.apply_subscribed(reset) is Outcome.APPLIED
    assert (mirror.epoch, mirror.offset, mirror.document) == ("e2", 0, {"rows": []})
    assert mirror.apply_delta(delta(1, SetOp(("n",), 1), epoch="e2")) is Outcome.APPLIED


def test_batch_and_reset() -> None:
    mirror = synced(1)
    batch = Batch(
        deltas=(
            delta(2, SetOp(("n",), 2)),
            delta(7, SetOp(("x",), 1), topic="team:platform"),
            delta(3, MergeOp((), {"m": 3})),
        )
    )
    assert mirror.apply_batch(batch) == [Outcome.APPLIED, Outcome.APPLIED]
    assert mirror.document == {"n": 2, "m": 3}
    mirror.reset()
    assert (mirror.epoch, mirror.offset, mirror.document, mirror.synced) == (None, None, None, False)


def test_messages_of_another_topic_are_a_bug() -> None:
    mirror = synced(1)
    with pytest.raises(ValueError, match="team:platform"):
        mirror.apply_delta(delta(2, topic="team:platform"))
    with pytest.raises(ValueError, match="team:platform"):
        mirror.apply_subscribed(
            Subscribed(topic="team:platform", epoch="e", offset=0, recovered=False, snapshot={})
        )


# --------------------------------------------------------------------------------------- at random


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[Delta]]:
    """A server's stream: states[k] is the state at offset k, deltas[k - 1] turns states[k - 1] into it."""
    states = [draw(boards())]
    stream: list[Delta] = []
    for offset in range(1, draw(st.integers(1, 12)) + 1):
        ops = tuple(draw(st.lists(board_ops(), max_size=4)))
        try:
            state = apply_ops(states[-1], ops)
        except OpError:  # the server only sends deltas that apply
            ops, state = (), states[-1]
        stream.append(delta(offset, *ops))
        states.append(state)
    return states, stream


@settings(max_examples=300, deadline=None)
@given(histories(), st.data())
def test_a_mirror_lags_but_never_diverges(
    history: tuple[list[dict[str, Any]], list[Delta]], data: st.DataObject
) -> None:
    """Deliver the stream with duplicates, reorderings, losses and foreign epochs, resyncing (with
    ``since``) on some gaps: the mirror's document is always the server's state at the mirror's offset."""
    states, stream = history
    last = len(stream)
    start = data.draw(st.integers(0, last), label="snapshot offset")
    mirror = TopicMirror(TOPIC)
    mirror.apply_snapshot("e1", start, states[start])
    deliveries = data.draw(st.lists(st.integers(1, last), max_size=3 * last), label="deliveries")
    for offset in deliveries:
        before = mirror.offset
        assert before is not None
        foreign = data.draw(st.integers(0, 9), label="foreign") == 0
        item = stream[offset - 1]
        if foreign:
            item = item.model_copy(update={"epoch": "e0"})
        outcome = mirror.apply_delta(item)
        if foreign:
            expected = Outcome.GAP
        elif offset <= before:
            expected = Outcome.DUPLICATE
        elif offset == before + 1:
            expected = Outcome.APPLIED
        else:
            expected = Outcome.GAP
        assert outcome is expected
        assert mirror.document == states[mirror.offset]
        if outcome is Outcome.GAP and data.draw(st.booleans(), label="resync"):
            since = mirror.since()
            assert since is not None
            upto = max(offset, since.offset)
            reply = Subscribed(
                topic=TOPIC,
                epoch="e1",
                offset=upto,
                recovered=True,
                deltas=tuple(stream[since.offset : upto]),
            )
            assert mirror.apply_subscribed(reply) is Outcome.APPLIED
            assert mirror.offset == upto
            assert mirror.document == states[upto]
