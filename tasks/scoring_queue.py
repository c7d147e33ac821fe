"""Where validated metric batches go to be scored.

Embedded (no Redis): each batch is first kept in the database (`persistence.queued_batches`, before the
202), then scored in this process, in the background, by taskiq's in-memory broker; it is deleted once
its scoring committed, or kept as a dead letter when it cannot be scored (`gamif queue`). A crash loses
nothing: the next start scores again what was kept (idempotent per event id), and a batch an admin
replays meanwhile is picked up within `EMBEDDED_PICK_UP_SECONDS`.
With Redis: the Redis stream that `gamif worker` processes read (`tasks.broker`), shared by every API
process. Either way the request that enqueued has already answered (202): a screen learns of the
result from its live deltas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, InMemoryBroker
from taskiq.serializers import MSGPackSerializer

from persistence.queued_batches import QueuedBatches
from persistence.scoring import Submission
from server.config import Settings
from tasks.broker import ReliableStreamBroker
from tasks.scoring import ScorePayload, Unscorable, register_scoring
from tasks.scoring_batcher import ScoringBatcher
from tasks.scoring_step import ScoringStep, from_payload, received_at_of, to_payload

EMBEDDED_PICK_UP_SECONDS = 5.0
"""How often an embedded server looks for kept batches it is not scoring: one an admin replayed (`gamif
queue replay`), or one whose bookkeeping failed after its scoring (scored again: nothing counts twice)."""

_KEPT_AS = "embedded_batch"
"""The payload key naming the batch's row in the embedded queue's store (never sent to Redis)."""

log = logging.getLogger("gamif.scoring")


def queue_name(settings: Settings) -> str:
    return f"{settings.redis_prefix}tasks:score"


def dead_letter_name(settings: Settings) -> str:
    """Where batches that cannot be scored are kept (`tasks.broker.ReliableStreamBroker.dead_letter`)."""
    return f"{queue_name(settings)}:dead"


def stream_broker(settings: Settings) -> ReliableStreamBroker:
    assert settings.redis_url is not None
    broker = ReliableStreamBroker(
        settings.redis_url,
        queue_name=queue_name(settings),
        claim_idle_ms=settings.worker_claim_idle_ms,
        socket_timeout=4.0,  # under redis-py's 5 s default, above the 1 s blocking reads
    )
    # msgpack rather than taskiq's default JSON: a queued batch holds up to a thousand events.
    return broker.with_serializer(MSGPackSerializer())


def score_payload(batcher: ScoringBatcher) -> ScorePayload:
    """The scoring task's implementation: a payload in, counts out, through the process's batcher
    (`tasks.scoring_batcher`: groups what is waiting into one transaction; retries while a
    store is down; raises `tasks.scoring.Unscorable` for a batch to dead-letter)."""

    async def score(payload: dict[str, Any]) -> dict[str, int]:
        result = await batcher.score(from_payload(payload), received_at_of(payload))
        duplicates = sum(1 for s in result.statuses if s.status == "duplicate")
        return {"accepted": result.accepted, "duplicates": duplicates}

    return score


def embedded_score_payload(score: ScorePayload, store: QueuedBatches, held: set[int]) -> ScorePayload:
    """The embedded scoring task: scores a kept batch, then deletes it, or keeps it as a dead letter when
    it cannot be scored (never dropped). A stop in between leaves it kept, to be scored at the next start."""

    async def run(payload: dict[str, Any]) -> dict[str, int]:
        batch_id: int = payload.pop(_KEPT_AS)
        try:
            try:
                counts = await score(payload)
            except Exception as error:
                reason, attempts = (
                    (error.reason, error.attempts)
                    if isinstance(error, Unscorable)
                    else (f"{type(error).__name__}: {error}".splitlines()[0], 1)
                )
                await store.dead(batch_id, reason, attempts)
                events = len(payload.get("events") or ())
                log.error(
                    "scoring: a batch of %d events cannot be scored (%s, %d attempts): kept as dead letter "
                    "%d; see `gamif queue list`",
                    events,
                    reason,
                    attempts,
                    batch_id,
                )
                return {"accepted": 0, "duplicates": 0, "dead_lettered": events}
            await store.scored(batch_id)
            return counts
        finally:
            held.discard(batch_id)

    return run


class ScoringQueue:
    """``store``: the embedded queue's (the batches kept until scored); None on Redis."""

    def __init__(
        self,
        broker: AsyncBroker,
        task: AsyncTaskiqDecoratedTask[[dict[str, Any]], dict[str, int]],
        store: QueuedBatches | None = None,
        held: set[int] | None = None,
    ):
        self.broker = broker
        self.task = task
        self.store = store
        self.held: set[int] = held if held is not None else set()
        """Kept batches handed to the in-memory broker and not finished yet."""
        self._handing = asyncio.Lock()  # a pick-up never sends a batch that enqueue is handing over

    @property
    def embedded(self) -> bool:
        return isinstance(self.broker, InMemoryBroker)

    async def enqueue(self, submissions: Sequence[Submission], received_at: datetime) -> None:
        payload = to_payload(submissions, received_at)
        if self.store is None:
            await self.task.kiq(payload)
            return
        async with self._handing:
            batch_id = await self.store.add(orjson.dumps(payload), len(submissions))
            await self._hand(batch_id, payload)

    async def pick_up(self) -> int:
        """Embedded: hand over the kept batches that nothing is scoring (at start: what a stop left; later:
        what an admin replayed); how many."""
        if self.store is None:
            return 0
        async with self._handing:
            kept = await self.store.waiting(exclude=sorted(self.held))
            for row in kept:
                await self._hand(row.id, orjson.loads(row.payload))
        return len(kept)

    async def _hand(self, batch_id: int, payload: dict[str, Any]) -> None:
        self.held.add(batch_id)
        try:
            await self.task.kiq({**payload, _KEPT_AS: batch_id})
        except BaseException:
            self.held.discard(batch_id)
            raise

    async def drain(self) -> None:
        """Wait until what this process queued in embedded mode has been scored (tests, shutdown)."""
        if isinstance(self.broker, InMemoryBroker):
            await self.broker.wait_all()


async def _picking_up(queue: ScoringQueue) -> None:
    while True:
        try:
            found = await queue.pick_up()
        except Exception as error:  # the database is busy or away: the next round tries again
            log.warning("embedded queue: kept batches could not be read (%r)", error)
        else:
            if found:
                log.info("embedded queue: %d kept batch(es) handed over to be scored", found)
        await asyncio.sleep(EMBEDDED_PICK_UP_SECONDS)


@contextlib.asynccontextmanager
async def open_queue(
    settings: Settings, step: ScoringStep, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[ScoringQueue]:
    broker: AsyncBroker
    store: QueuedBatches | None = None
    held: set[int] = set()
    if settings.redis_url is None:
        broker = InMemoryBroker()
        # Scored on the loop that serves the sockets: in bounded slices (`tasks.scoring_batcher`).
        batcher = ScoringBatcher(
            step,
            settings.embedded_max_group_events,
            max_attempts=settings.worker_max_attempts,
            split_batches=True,
        )
        store = QueuedBatches(sessions)
        broker.state.score_payload = embedded_score_payload(score_payload(batcher), store, held)
    else:
        broker = stream_broker(settings)  # this process only enqueues: `gamif worker` scores
    task = register_scoring(broker)
    await broker.startup()
    queue = ScoringQueue(broker, task, store, held)
    picking_up = asyncio.create_task(_picking_up(queue)) if store is not None else None
    try:
        yield queue
    finally:
        if picking_up is not None:
            picking_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await picking_up
        await queue.drain()  # embedded: finish what was accepted before stopping (what is not stays kept)
        await broker.shutdown()
