"""Where validated metric batches go to be scored.

Embedded (no Redis): taskiq's in-memory broker, which scores in this process, in the background.
With Redis: the Redis stream that `gamif worker` processes read (`tasks.broker`), shared by every API
process. Either way the request that enqueued has already answered (202): a screen learns of the
result from its live deltas.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, InMemoryBroker
from taskiq.serializers import MSGPackSerializer

from persistence.scoring import Submission
from server.config import Settings
from tasks.broker import ReliableStreamBroker
from tasks.scoring import ScorePayload, register_scoring

from .scoring_batcher import ScoringBatcher
from .scoring_step import ScoringStep, from_payload, received_at_of, to_payload


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
    (`server.services.scoring_batcher`: groups what is waiting into one transaction; retries while a
    store is down; raises `tasks.scoring.Unscorable` for a batch to dead-letter)."""

    async def score(payload: dict[str, Any]) -> dict[str, int]:
        result = await batcher.score(from_payload(payload), received_at_of(payload))
        duplicates = sum(1 for s in result.statuses if s.status == "duplicate")
        return {"accepted": result.accepted, "duplicates": duplicates}

    return score


class ScoringQueue:
    def __init__(self, broker: AsyncBroker, task: AsyncTaskiqDecoratedTask[[dict[str, Any]], dict[str, int]]):
        self.broker = broker
        self.task = task

    @property
    def embedded(self) -> bool:
        return isinstance(self.broker, InMemoryBroker)

    async def enqueue(self, submissions: Sequence[Submission], received_at: datetime) -> None:
        await self.task.kiq(to_payload(submissions, received_at))

    async def drain(self) -> None:
        """Wait until what this process queued in embedded mode has been scored (tests, shutdown)."""
        if isinstance(self.broker, InMemoryBroker):
            await self.broker.wait_all()


@contextlib.asynccontextmanager
async def open_queue(settings: Settings, step: ScoringStep) -> AsyncIterator[ScoringQueue]:
    broker: AsyncBroker
    if settings.redis_url is None:
        broker = InMemoryBroker()
        batcher = ScoringBatcher(
            step, settings.worker_max_group_events, max_attempts=settings.worker_max_attempts
        )
        broker.state.score_payload = score_payload(batcher)
    else:
        broker = stream_broker(settings)  # this process only enqueues: `gamif worker` scores
    task = register_scoring(broker)
    await broker.startup()
    queue = ScoringQueue(broker, task)
    try:
        yield queue
    finally:
        await queue.drain()  # embedded: finish what was accepted before stopping
        await broker.shutdown()
