"""A client's copy of one topic's state (PROTOCOL.md, "Streams" and "Recovery").

The mirror holds the document at some ``(epoch, offset)`` and applies a delta only if it is the
next one: same epoch, ``offset == last + 1``. Anything else is reported, never applied:

- ``duplicate``: ``offset <= last`` (same epoch): already in the document; ignore it;
- ``gap``: a later offset, another epoch, or no snapshot yet: send ``subscribe`` with ``since()``
  (unless one is outstanding for the topic) and apply the reply;
- ``diverged``: the next delta does not apply to this document (a bug somewhere): send ``subscribe``
  *without* ``since`` for a fresh snapshot.

So the document is always exactly the server's state at ``offset``: it can lag, never diverge.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from protocol.messages import Batch, Delta, Since, Subscribed
from protocol.ops import Document, OpError, apply_ops

__all__ = ["Outcome", "TopicMirror"]


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    GAP = "gap"
    DIVERGED = "diverged"


class TopicMirror:
    """The state of one topic as the server streams it. Treat `document` as read-only."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.epoch: str | None = None
        self.offset: int | None = None
        self.document: Document | None = None
        self.diverged = False
        """The last delta did not apply: resubscribe without ``since``."""

    @property
    def synced(self) -> bool:
        """Whether the mirror holds a state (it may still lag behind the server)."""
        return self.document is not None

    def since(self) -> Since | None:
        """What to resubscribe with: where the mirror stands, or None for a fresh snapshot (nothing
        yet, or diverged)."""
        if self.epoch is None or self.offset is None or self.diverged:
            return None
        return Since(epoch=self.epoch, offset=self.offset)

    def reset(self) -> None:
        """Forget the state (after ``unsubscribed``)."""
        self.epoch = self.offset = self.document = None
        self.diverged = False

    def apply_snapshot(self, epoch: str, offset: int, snapshot: dict[str, Any]) -> None:
        self.epoch, self.offset, self.document = epoch, offset, snapshot
        self.diverged = False

    def apply_delta(self, delta: Delta) -> Outcome:
        if delta.topic != self.topic:
            raise ValueError(f"a delta of {delta.topic} given to the mirror of {self.topic}")
        if self.document is None or self.offset is None or delta.epoch != self.epoch:
            return Outcome.GAP
        if delta.offset <= self.offset:
            return Outcome.DUPLICATE
        if delta.offset > self.offset + 1:
            return Outcome.GAP
        try:
            self.document = apply_ops(self.document, delta.ops)
        except OpError:
            self.diverged = True
            return Outcome.DIVERGED
        self.offset = delta.offset
        return Outcome.APPLIED

    def apply_subscribed(self, message: Subscribed) -> Outcome:
        """A ``subscribed`` for this topic (a reply, or the server resetting the stream)."""
        if message.topic != self.topic:
            raise ValueError(f"a subscription to {message.topic} given to the mirror of {self.topic}")
        if not message.recovered:
            assert message.snapshot is not None  # the model guarantees it
            self.apply_snapshot(message.epoch, message.offset, message.snapshot)
            return Outcome.APPLIED
        assert message.deltas is not None
        for delta in message.deltas:
            outcome = self.apply_delta(delta)
            if outcome in (Outcome.GAP, Outcome.DIVERGED):
                return outcome
        if self.epoch != message.epoch or self.offset is None or self.offset < message.offset:
            return Outcome.GAP  # the recovery did not start where this mirror stands
        return Outcome.APPLIED

    def apply_batch(self, batch: Batch) -> list[Outcome]:
        """This topic's deltas of a batch (the others are left to their mirrors), in order."""
        return [self.apply_delta(delta) for delta in batch.deltas if delta.topic == self.topic]
