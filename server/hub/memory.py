"""In-process topic streams and bus: embedded mode (one hub process, no Redis).

Same semantics as the Redis implementation (see `server.hub.streams`), bounds and epochs included:

- each topic keeps its deltas in a deque: at most ``max_len`` (exactly), and those older than
  ``max_age_seconds`` are dropped when a delta is appended;
- a topic that has received nothing for ``max_age_seconds`` loses its deltas (the Redis log key
  expires) but keeps its position; one untouched by ``publish`` and ``head`` for ``idle_ttl_seconds``
  is forgotten (the Redis meta key expires), and its next use starts a new epoch;
- all times come from the injectable clock, so tests drive trimming and expiry without sleeping.

Every `MemoryBus` attached to a `MemoryStreams` (one per process in practice; several in tests, standing
in for processes) gets each delta of the topics it is subscribed to once, from the event loop right after
``publish`` (never inside it, as with Redis).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice

from .streams import (
    DEFAULT_IDLE_TTL_SECONDS,
    DEFAULT_MAX_AGE_SECONDS,
    DEFAULT_MAX_LEN,
    Bus,
    BusListener,
    Clock,
    Delta,
    Missing,
    Position,
    Seen,
    Streams,
    Versioned,
    new_epoch,
)


@dataclass
class _Topic:
    epoch: str
    touched_ms: int
    """Last ``publish`` or ``head``: the topic is forgotten ``idle_ttl`` after it."""
    seq: int = 0
    at_ms: int = 0
    """``at_ms`` of the latest delta (never decreases): all the deltas are too old ``max_age`` after it."""
    log: deque[Delta] = field(default_factory=deque)
    version: int | None = None
    """The last version published (versioned topics), or None if there is no baseline yet."""
    versions: deque[tuple[int, int]] = field(default_factory=deque)
    """``(offset, version)`` of the versioned deltas still in ``log``."""


class MemoryStreams(Streams):
    def __init__(
        self,
        *,
        max_len: int = DEFAULT_MAX_LEN,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        idle_ttl_seconds: float = DEFAULT_IDLE_TTL_SECONDS,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(
            max_len=max_len, max_age_seconds=max_age_seconds, idle_ttl_seconds=idle_ttl_seconds, clock=clock
        )
        # Least recently touched first, so that forgetting idle topics looks at the front only.
        self._topics: OrderedDict[str, _Topic] = OrderedDict()
        self._buses: list[MemoryBus] = []

    def _current(self, topic: str, now: int) -> _Topic | None:
        """The topic's state as of `now` (lazily applying the expiries), without touching it."""
        state = self._topics.get(topic)
        if state is None:
            return None
        if now - state.touched_ms > self.idle_ttl_ms:
            del self._topics[topic]
            return None
        if state.log and now - state.at_ms > self.max_age_ms:
            state.log.clear()  # as trimming would at the next publish (and Redis expires the log)
            state.versions.clear()
        return state

    def _touch(self, topic: str, now: int) -> _Topic:
        self._forget_idle(now)
        state = self._current(topic, now)
        if state is None:
            state = self._topics[topic] = _Topic(new_epoch(), now)
        else:
            self._topics.move_to_end(topic)
            state.touched_ms = now
        return state

    def _forget_idle(self, now: int) -> None:
        # Bounded memory without a timer: a little sweeping on every touch (amortised O(1)).
        while self._topics:
            topic, state = next(iter(self._topics.items()))
            if now - state.touched_ms <= self.idle_ttl_ms:
                return
            del self._topics[topic]

    async def publish(self, topic: str, payload: bytes) -> Delta:
        return self._append(topic, payload, None)

    def _append(self, topic: str, payload: bytes, version: int | None) -> Delta:
        # Atomic: nothing here awaits, so no other task runs in between.
        now = self.now_ms()
        state = self._touch(topic, now)
        state.seq += 1
        state.at_ms = max(now, state.at_ms)
        delta = Delta(topic, state.epoch, state.seq, bytes(payload), state.at_ms)
        entries = state.log
        entries.append(delta)
        if version is not None:
            state.version = version
            state.versions.append((delta.offset, version))
        cutoff = state.at_ms - self.max_age_ms
        while len(entries) > self.max_len or entries[0].at_ms < cutoff:
            entries.popleft()
        while state.versions and state.versions[0][0] < entries[0].offset:
            state.versions.popleft()
        for bus in self._buses:
            bus._offer(delta)
        return delta

    async def publish_versions(self, items: Sequence[Versioned]) -> list[Delta | Seen | Missing]:
        outcomes: list[Delta | Seen | Missing] = []
        for item in items:
            state = self._current(item.topic, self.now_ms())
            last = None if state is None else state.version
            if last is not None and item.version <= last:
                outcomes.append(Seen(last))
            elif last is not None and item.version > last + 1:
                outcomes.append(Missing(last))
            else:
                outcomes.append(self._append(item.topic, item.payload, item.version))
        return outcomes

    async def position_at(self, topic: str, version: int) -> Position | Missing | None:
        state = self._touch(topic, self.now_ms())
        if state.version is None:
            state.version = version  # a new history: this snapshot is its baseline
        if state.version == version:
            return Position(state.epoch, state.seq)
        if state.version < version:
            return Missing(state.version)
        after = None
        for offset, seen in reversed(state.versions):
            if seen == version:
                return Position(state.epoch, offset)
            if seen == version + 1:
                after = offset - 1
        return None if after is None else Position(state.epoch, after)

    async def head(self, topic: str) -> Position:
        state = self._touch(topic, self.now_ms())
        return Position(state.epoch, state.seq)

    async def since(self, topic: str, epoch: str, offset: int) -> list[Delta] | None:
        state = self._current(topic, self.now_ms())
        if state is None or state.epoch != epoch or not 0 <= offset <= state.seq:
            return None
        if offset == state.seq:
            return []
        entries = state.log
        if not entries or entries[0].offset > offset + 1:
            return None  # trimmed (or expired) past the position
        return list(islice(entries, offset + 1 - entries[0].offset, None))

    async def drop(self, topic: str) -> None:
        self._topics.pop(topic, None)


class MemoryBus(Bus):
    """The bus of embedded mode: deltas come straight from the `MemoryStreams` of the process.

    Nothing can be missed, so ``on_reset`` is never called."""

    def __init__(self, streams: MemoryStreams, listener: BusListener) -> None:
        super().__init__(listener)
        self.streams = streams

    async def start(self) -> None:
        if self not in self.streams._buses:
            self.streams._buses.append(self)

    async def aclose(self) -> None:
        if self in self.streams._buses:
            self.streams._buses.remove(self)

    async def _attach(self, topic: str, *, first: bool) -> None:
        pass  # the streams offer every delta; `_deliver` filters by subscription

    async def _detach(self, topic: str) -> None:
        pass

    def _offer(self, delta: Delta) -> None:
        if delta.topic in self._refs:
            # Deferred, like a delivery over Redis: the listener never runs inside `publish`.
            asyncio.get_running_loop().call_soon(self._deliver, delta)
