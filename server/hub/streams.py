"""Topic streams: the hub's sequenced delta history per topic, and the bus that carries new deltas live.

A **topic** is a string naming something clients watch: ``user:<uuid>``, ``leaderboard:xp:weekly``,
``team:core``, ``presence:global``. What changes in it is published as a **delta**: opaque bytes (the
hub stores the msgpack-encoded ops) stamped with the topic's position.

Positions
    Every topic has an **epoch** (12 random url-safe characters) and an integer **offset** that
    increases by exactly one per delta, starting at 1 for the first delta of an epoch; a topic with no
    delta yet is at offset 0. ``(epoch, offset)`` names one delta forever: when a topic's history is
    lost (Redis restarted, keys evicted or expired, ``drop()``), the next ``head()`` or ``publish()``
    starts a NEW epoch at offset 1, so an offset is never reused within an epoch.

``publish(topic, payload)``
    Assigns the next offset and appends, in one atomic step: concurrent publishers (any number of
    processes) never get the same offset, and the history's order is the offsets' order. It also
    hands the delta to every `Bus` subscribed to the topic, in the same atomic step, so a live
    subscriber never sees a delta that is not in the history. ``at_ms`` is the publisher's wall clock,
    kept non-decreasing per topic (a publisher with a slow clock gets its predecessor's time).
    If ``publish`` fails (connection lost), the delta may or may not have been appended; it is never
    sent again behind the caller's back (a delta appended twice could undo the ones in between).

``head(topic)``
    The topic's current position (creating the epoch if there is none).

``since(topic, epoch, offset)``
    Exactly the deltas after ``offset``, in order, when ``epoch`` is the current epoch and the history
    still holds ``offset + 1`` onwards (``[]`` at the head); otherwise ``None``: the position is from
    another epoch, older than what is kept, or ahead of the head. The caller then sends a snapshot.
    Read-only: it neither creates an epoch nor keeps a topic alive.

Bounds
    The history keeps at most about ``max_len`` deltas per topic (default 1,000; the Redis version
    trims approximately, keeping at least that many) and drops deltas older than
    ``max_age_seconds`` (default 900) when it appends; a topic that receives nothing for
    ``max_age_seconds`` loses its whole history (its position stays). A topic untouched by
    ``publish`` and ``head`` for ``idle_ttl_seconds`` (default 3,600) is forgotten entirely: its next
    use starts a new epoch. ``since`` always checks what is actually kept, so trimming never makes it
    return an incomplete list.

Versioned topics
    A topic whose document has a source of truth that numbers its states (a user's ``live_version`` in
    the database, one more per committed change) is published with `publish_versions`: each change says
    the version it leads to, and is appended only if it is the next one (the topic's last published
    version plus one). One already there is `Seen` (sent twice: by the committing worker and a relay, or
    retried after a lost reply) and nothing is appended; one that comes early is `Missing` (a change
    before it is committed but not yet published: the caller publishes those first). So publishers that
    run after their commits, in any order and any number of times, append each change once, in the
    order of the versions. A topic whose history is lost (new epoch) takes the next versioned change (or
    `position_at`) as its new baseline. ``position_at(topic, version)``: the position a snapshot of the
    document at ``version`` stands at (deltas after it lead from that version on), `Missing` if the
    history is behind the version, ``None`` if it is ahead and no longer tells where the version was
    (the caller reads a fresher snapshot). Unversioned ``publish`` on such a topic (events only, with no
    ops) is allowed and leaves the version as it is.

The bus
    One `Bus` per process delivers every delta published (by any process) on the topics it is
    subscribed to, once, to its `BusListener`. Subscriptions are reference-counted: the hub calls
    ``subscribe(topic)`` for each session that watches the topic and ``unsubscribe(topic)`` when the
    session leaves; the bus listens while the count is positive. ``subscribe`` returns once deltas
    published from then on are certain to be delivered, so a session that must not miss anything
    subscribes first, then reads ``head()`` or ``since()``, then applies live deltas whose offset is
    past what it has (deltas may arrive twice that way: the offsets tell). A delta with an epoch other
    than the session's means its history was lost: resynchronise from a snapshot.

    ``on_reset()`` says the bus may have missed deltas (its Redis connection dropped and has been
    re-established, every subscription renewed): each session should catch up with ``since()`` (or a
    snapshot when that answers ``None``). Listener callbacks run on the event loop and must not block.

Implementations: `server.hub.memory` (embedded mode: one process, no Redis, same semantics) and
`server.hub.redis` (Redis Streams and pub/sub, for several hub processes).
"""

from __future__ import annotations

import abc
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

log = logging.getLogger("gamif.hub")

DEFAULT_MAX_LEN = 1_000
DEFAULT_MAX_AGE_SECONDS = 900.0
DEFAULT_IDLE_TTL_SECONDS = 3_600.0

# 9 random bytes: 12 url-safe characters, 72 bits: two epochs of one topic never collide in practice.
_EPOCH_BYTES = 9

Clock = Callable[[], float]
"""Wall-clock seconds since the Unix epoch, like `time.time` (injectable for tests)."""


def new_epoch() -> str:
    return secrets.token_urlsafe(_EPOCH_BYTES)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a topic (or a client following it) stands: ``offset`` 0 is before the epoch's first delta."""

    epoch: str
    offset: int


@dataclass(frozen=True, slots=True)
class Delta:
    """One published change of a topic; ``payload`` is opaque to the streams."""

    topic: str
    epoch: str
    offset: int
    payload: bytes
    at_ms: int

    @property
    def position(self) -> Position:
        return Position(self.epoch, self.offset)


@dataclass(frozen=True, slots=True)
class Versioned:
    """A change of a versioned topic: ``payload`` leads its document to state ``version``."""

    topic: str
    version: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Seen:
    """Not appended: the topic's history already has the version (``last``: its latest version)."""

    last: int


@dataclass(frozen=True, slots=True)
class Missing:
    """The versions after ``last`` up to the one asked for are not published yet."""

    last: int


class Streams(abc.ABC):
    """The history of every topic (see the module docstring for the semantics)."""

    def __init__(
        self,
        *,
        max_len: int = DEFAULT_MAX_LEN,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        idle_ttl_seconds: float = DEFAULT_IDLE_TTL_SECONDS,
        clock: Clock = time.time,
    ) -> None:
        if max_len < 1:
            raise ValueError(f"max_len must be at least 1, got {max_len}")
        if max_age_seconds <= 0:
            raise ValueError(f"max_age_seconds must be positive, got {max_age_seconds}")
        if idle_ttl_seconds < max_age_seconds:
            # The position must outlive the deltas: otherwise a new epoch would discard kept history.
            raise ValueError(
                f"idle_ttl_seconds ({idle_ttl_seconds}) must be at least max_age_seconds ({max_age_seconds})"
            )
        self.max_len = max_len
        self.max_age_ms = max(1, round(max_age_seconds * 1000))
        self.idle_ttl_ms = max(self.max_age_ms, round(idle_ttl_seconds * 1000))
        self.clock = clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    @abc.abstractmethod
    async def publish(self, topic: str, payload: bytes) -> Delta:
        """Append `payload` as the topic's next delta, atomically, and hand it to the subscribed buses."""

    async def publish_many(self, items: Iterable[tuple[str, bytes]]) -> list[Delta]:
        """``publish`` each ``(topic, payload)`` in order (in one round trip where the store allows).

        Each publish is atomic on its own, not the batch: if this raises, some may have been published."""
        return [await self.publish(topic, payload) for topic, payload in items]

    @abc.abstractmethod
    async def publish_versions(self, items: Sequence[Versioned]) -> list[Delta | Seen | Missing]:
        """Append each change that is its topic's next version, in order (see "Versioned topics").

        Safe to repeat: a change already appended answers `Seen`. If this raises, some may be appended."""

    @abc.abstractmethod
    async def position_at(self, topic: str, version: int) -> Position | Missing | None:
        """Where a snapshot of the topic's document at ``version`` stands (see "Versioned topics")."""

    @abc.abstractmethod
    async def head(self, topic: str) -> Position:
        """The topic's current position; creates its epoch (at offset 0) if it has none."""

    @abc.abstractmethod
    async def since(self, topic: str, epoch: str, offset: int) -> list[Delta] | None:
        """The deltas after ``offset`` if the history still has all of them, else ``None``."""

    @abc.abstractmethod
    async def drop(self, topic: str) -> None:
        """Forget the topic's history and epoch: its next use starts a new epoch at offset 1."""


class BusListener(Protocol):
    """What the hub gives a `Bus`: both callbacks run on the event loop and must not block."""

    def on_delta(self, delta: Delta) -> None: ...

    def on_reset(self) -> None: ...


class BusClosed(RuntimeError):
    """The bus was closed while a ``subscribe`` waited."""


class Bus(abc.ABC):
    """A process's live feed of the deltas of the topics its sessions watch (see the module docstring).

    Subscriptions are reference-counted here; implementations act on the first ``subscribe`` and the
    last ``unsubscribe`` of a topic. Use as ``async with bus:`` or call ``start()`` and ``aclose()``."""

    def __init__(self, listener: BusListener) -> None:
        self.listener = listener
        self._refs: dict[str, int] = {}
        self.reconnects = 0
        """Times the bus lost its store and connected again (a Redis restart, a network cut)."""

    async def start(self) -> None:  # noqa: B027 (an optional hook, not an abstract one)
        """Connect (raising if the store cannot be reached); deliveries start."""

    async def aclose(self) -> None:  # noqa: B027
        """Stop delivering and release the connection; waiting ``subscribe`` calls raise `BusClosed`."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    def subscriptions(self) -> dict[str, int]:
        """Topic -> number of ``subscribe`` calls not yet matched by an ``unsubscribe``."""
        return dict(self._refs)

    async def subscribe(self, topic: str) -> None:
        """Count one more watcher of `topic`; returns once its deltas are certain to be delivered.

        Cancelled (or failing), it counts nothing: the caller does not unsubscribe."""
        count = self._refs.get(topic, 0)
        self._refs[topic] = count + 1
        try:
            await self._attach(topic, first=count == 0)
        except BaseException:
            await self._release(topic)
            raise

    async def unsubscribe(self, topic: str) -> None:
        """Count one watcher of `topic` less; at zero, its deltas stop (none is delivered after this)."""
        if topic not in self._refs:
            raise KeyError(f"not subscribed to {topic!r}")
        await self._release(topic)

    async def _release(self, topic: str) -> None:
        count = self._refs[topic] - 1
        if count:
            self._refs[topic] = count
            return
        del self._refs[topic]
        await self._detach(topic)

    @abc.abstractmethod
    async def _attach(self, topic: str, *, first: bool) -> None:
        """Make sure `topic`'s deltas will be delivered (its count is already raised)."""

    @abc.abstractmethod
    async def _detach(self, topic: str) -> None:
        """Stop listening to `topic` (nobody counts it any more)."""

    def _deliver(self, delta: Delta) -> None:
        # Checked on arrival, not only when subscribing: nothing is delivered after the last unsubscribe.
        if delta.topic not in self._refs:
            return
        try:
            self.listener.on_delta(delta)
        except Exception:
            log.exception("hub bus: the listener failed on a delta of %r", delta.topic)

    def _reset(self) -> None:
        try:
            self.listener.on_reset()
        except Exception:
            log.exception("hub bus: the listener failed on a reset")
