"""How far behind the scoring queue is, for the metrics: batches waiting for a worker and held by one,
the age of the oldest of them, and the dead letters. Read when a scrape asks, from the queue itself
(the Redis stream and its consumer group, or the embedded server's table), so that every process that
can reach the queue reports the same numbers, whether or not any worker runs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from persistence.models import utcnow
from persistence.queued_batches import QueuedBatches

from .broker import CONSUMER_GROUP


@dataclass(frozen=True, slots=True)
class QueueState:
    waiting: int
    """Batches no worker has taken yet."""
    being_scored: int
    """Batches a worker took and has not acknowledged (scoring, or held by one that died: reclaimed)."""
    oldest_age_seconds: float
    """How long the oldest batch of those has been in the queue (0 when there is none)."""
    dead_letters: int


def _entry_ms(entry_id: object) -> int:
    """The milliseconds timestamp a stream entry id starts with (``1733561234567-0``)."""
    return int(_text(entry_id).split("-", 1)[0])


async def stream_queue_state(
    redis: Redis, name: str, dead_letters: str, group: str = CONSUMER_GROUP, now_ms: int | None = None
) -> QueueState:
    """The state of the queue stream ``name`` read by the consumer group ``group``."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    dead = int(await redis.xlen(dead_letters))
    try:
        groups = await redis.xinfo_groups(name)
    except ResponseError:  # no stream yet: nothing was ever queued
        return QueueState(0, 0, 0.0, dead)
    info = next((g for g in groups if _text(g.get("name")) == group), None)
    if info is None:  # queued before any worker started: everything waits
        waiting = int(await redis.xlen(name))
        first = await redis.xrange(name, count=1)
        oldest = _entry_ms(first[0][0]) if first else None
        return QueueState(waiting, 0, _age(oldest, now_ms), dead)
    pending = int(info.get("pending") or 0)
    last = _text(info.get("last-delivered-id")) or "0-0"
    lag = info.get("lag")
    if lag is None:  # Redis cannot tell (entries deleted in between): count them, up to a bound
        lag = len(await redis.xrange(name, min=f"({last}", max="+", count=10_000) or ())
    oldest = None
    if pending:
        summary = await redis.xpending(name, group)
        oldest = _entry_ms(summary["min"]) if summary.get("min") else None
    elif lag:
        after = await redis.xrange(name, min=f"({last}", max="+", count=1)
        oldest = _entry_ms(after[0][0]) if after else None
    return QueueState(int(lag), pending, _age(oldest, now_ms), dead)


async def embedded_queue_state(store: QueuedBatches) -> QueueState:
    """The embedded server's queue: the batches its database keeps until they are scored."""
    waiting, dead = await store.counts()
    oldest = await store.oldest_waiting()
    if oldest is not None and oldest.tzinfo is None:  # an aggregate SQLite returns without its zone
        oldest = oldest.replace(tzinfo=UTC)
    age = 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())
    return QueueState(waiting, 0, age, dead)


def _age(oldest_ms: int | None, now_ms: int) -> float:
    return 0.0 if oldest_ms is None else max(0.0, (now_ms - oldest_ms) / 1000)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value) if value is not None else ""
