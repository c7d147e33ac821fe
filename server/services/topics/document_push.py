"""Publishing a live document's next state: the one compare-and-set loop of every topic whose document is
kept beside its stream (the leaderboards, on Redis or embedded, and the challenge scoreboards).

A push computes the document as it is now and publishes the delta from the stored one to it, by a
compare-and-set on the topic's position (`server.hub.documents`; `MemoryDocuments` embedded). The
document is computed *after* the position is learnt: a document published by anyone since makes the
compare-and-set fail, so a document never replaces a newer one.

Retry policy: a try that does not publish either lost the race (``Conflict``: another publisher moved
the topic; diff again against the document it published) or came within the topic's interval (``Wait``:
sleep what the store says, then try again). Each such try is someone else's success or a bounded wait,
never a failure of this process, so the loop tries up to `MAX_ATTEMPTS` times (the few processes of a
deployment cannot win twenty races in a row against it); past that it raises `PushFailed`, and whoever
called it decides what then (the coalescer retries with a growing delay). Errors of the store itself
(Redis down) are not retried here: they propagate at once, to the same caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from server.hub.documents import Conflict, Published, Stored, Wait
from server.hub.publish import TopicChange, encode_change
from server.hub.streams import Position

MAX_ATTEMPTS = 20
"""Tries of one push (races lost, intervals waited) before it gives up with `PushFailed`."""

Document = dict[str, Any]
Compute = Callable[[Document | None], Awaitable[Document]]
"""Computes a topic's document as it is now, given the stored one it will be diffed against (None: the
topic has none yet): most recompute it whole and ignore it; a team's brings only its changed members
up to date (`server.services.topics.live_documents`)."""


class Documents(Protocol):
    """Where a topic's document is kept beside its stream (`server.hub.documents.DocumentStore`)."""

    async def read(self, topic: str) -> Stored: ...

    async def publish_if(
        self,
        topic: str,
        expected: Position,
        payload: bytes,
        document: dict[str, Any],
        *,
        min_interval_ms: int = 0,
    ) -> Published | Conflict | Wait: ...


class PushFailed(RuntimeError):
    """A push lost `MAX_ATTEMPTS` tries in a row."""


async def push_document(
    store: Documents,
    topic: str,
    stored: Stored,
    compute: Compute,
    change: Callable[[Document | None, Document], TopicChange],
    *,
    min_interval_ms: int = 0,
) -> Stored:
    """Publish ``change(before, after)`` from ``stored`` (the document at its position, as the caller last
    knew it) to ``compute(before)`` (the document now), unless they are equal; the document and position
    after it. See the module docstring for the retry policy."""
    for _ in range(MAX_ATTEMPTS):
        after = await compute(stored.document)
        if after == stored.document:
            return stored
        payload = encode_change(change(stored.document, after))
        outcome = await store.publish_if(
            topic, stored.position, payload, after, min_interval_ms=min_interval_ms
        )
        if isinstance(outcome, Published):
            return Stored(outcome.position, after)
        if isinstance(outcome, Conflict):
            stored = outcome.current
        else:
            await asyncio.sleep(outcome.ms / 1000)
    raise PushFailed(f"{topic}: could not publish after {MAX_ATTEMPTS} attempts")


class LastPushed:
    """`push_document` for one process's topics, each push starting from the document this process last
    pushed or read (and its position), so the store is read only when that is unknown; a failed push
    forgets it (the next push reads the store again)."""

    def __init__(self, store: Documents) -> None:
        self.store = store
        self.last: dict[str, Stored] = {}
        """Per topic, the last document this process published or read, and its position."""

    async def push(
        self,
        topic: str,
        compute: Compute,
        change: Callable[[Document | None, Document], TopicChange],
        *,
        min_interval_ms: int = 0,
    ) -> Stored:
        """`push_document` from the remembered document; the document and position after it."""
        stored = self.last.get(topic) or await self.store.read(topic)
        try:
            stored = await push_document(
                self.store, topic, stored, compute, change, min_interval_ms=min_interval_ms
            )
        except PushFailed:
            self.last.pop(topic, None)
            raise
        self.last[topic] = stored
        return stored


__all__ = ["MAX_ATTEMPTS", "Compute", "Documents", "LastPushed", "PushFailed", "push_document"]
